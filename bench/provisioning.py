"""Provisioning benchmark: API requests per lab, and the wall time for 50 labs with 20 ms
of latency injected per API request, against the lower bound the concurrency allows.

    DEBUG=1 .venv/bin/python bench/provisioning.py [--labs 50] [--latency 0.02] [--concurrency 8]

Runs against the Kubernetes API stand-in and a throwaway SQLite database (or DATABASE_URL).
The lower bound: each lab needs its requests one after another, and ``concurrency`` labs run
at once, so no run can be faster than ceil(labs / concurrency) × requests per lab × latency.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="lotse-bench-")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        # Several provisioning threads write lab rows at once; let them wait for the lock.
        settings.DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 60
    settings.LAB_PROVISION_CONCURRENCY = args.concurrency
    call_command("migrate", verbosity=0)

    import yaml
    from django.contrib.auth.models import User

    from courseware import cohort_labs
    from courseware.content.sync import sync_course
    from courseware.models import Enrolment
    from labs import manifests, provisioning
    from labs.kube import Kube
    from labs.models import Cluster, Lab
    from simcluster import KubeStandIn
    from tests.factories import make_cohort

    _, report = sync_course(ROOT / "tests" / "fixtures" / "course")
    with KubeStandIn(pace=0).start() as standin:
        cluster = Cluster(name="bench")
        cluster.set_kubeconfig(yaml.safe_dump(standin.kubeconfig()))
        cluster.save()
        cohort = make_cohort(report.course, f"bench-{int(time.time())}")
        cohort.cluster = cluster
        cohort.save()
        for i in range(args.labs):
            name = f"bench-{cohort.pk}-{i}"
            trainee = User.objects.create(username=name, email=f"{name}@example.com")
            Enrolment.objects.create(cohort=cohort, trainee=trainee)

        kube = Kube.for_cluster(cluster)
        for obj in manifests.lab_objects(
            provisioning.lab_spec(provisioning.ensure_lab(cohort.enrolments.first()))
        ):
            kube._resource(obj["apiVersion"], obj["kind"])  # discovery before the clock starts
        discovery = len(standin.requests)
        standin.reset_requests()
        standin.delay(args.latency)

        lab_ids = [lab.pk for lab in cohort_labs.ensure_labs(cohort)]
        started = time.perf_counter()
        run = provisioning.run_each(lab_ids, provisioning.provision, lambda _: kube)
        elapsed = time.perf_counter() - started

        requests = len(standin.requests)
        if os.environ.get("BENCH_SHOW_REQUESTS"):
            from collections import Counter

            shapes = Counter(
                (method, "/".join(path.split("/")[-2:]), status)
                for method, path, status in standin.requests
            )
            for shape, count in shapes.most_common():
                print(f"  {count:5d}  {shape}")
        ready = Lab.objects.filter(enrolment__cohort=cohort, state=Lab.State.READY).count()
    objects = len(manifests.lab_objects(provisioning.lab_spec(Lab.objects.first())))
    per_lab = requests / args.labs
    bound = math.ceil(args.labs / args.concurrency) * per_lab * args.latency

    print(f"labs ready:             {ready}/{args.labs} (failed: {len(run.failed)})")
    print(f"API discovery:          {discovery} requests, once per process")
    print(
        f"API requests per lab:   {per_lab:.1f} for {objects} objects "
        f"(ratio {per_lab / objects:.2f}; +1 readiness check)"
    )
    print(
        f"wall time:              {elapsed:.2f} s with {args.latency * 1000:.0f} ms per "
        f"request, {args.concurrency} labs at once"
    )
    print(f"lower bound:            {bound:.2f} s")
    print(f"wall time / bound:      {elapsed / bound:.2f}")


if __name__ == "__main__":
    main()
