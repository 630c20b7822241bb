"""A real Celery worker on Redis, killed in the middle of provisioning a lab: the task is
redelivered to the next worker, which completes the lab without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from courseware.celery import app
from courseware.models import Cohort
from labs import manifests, provisioning, tasks
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import enrol, make_cluster, redis_url, wait_for

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database only on PostgreSQL")
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own on the real Redis, with the app sending to it."""
    name = f"lotse-test-{uuid.uuid4().hex[:8]}"
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=redis_url(), task_always_eager=False)
    forget_connections()
    yield name
    app.conf.update(saved)
    forget_connections()


def forget_connections() -> None:
    """Celery keeps its producer pool once made, on whatever broker was set then. (Closing
    it is no good: kombu hands the closed pool out again for the same broker.)"""
    app._pool = None
    app.amqp._producer_pool = None


def start_worker(queue: str, db_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url(),
        "CELERY_VISIBILITY_TIMEOUT": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "courseware", "worker", "--queues", queue,
         "--concurrency", "1", "--pool", "solo", "--without-mingle", "--without-gossip",
         "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_it_finishes_a_lab_whose_worker_was_killed(cohort: Cohort, queue: str) -> None:
    db_url = database_url()
    with KubeStandIn(pace=0).start() as standin:
        standin.delay(0.25)  # slow enough to kill the worker between two steps
        cohort.cluster = make_cluster(standin)
        cohort.save()
        (enrolment,) = enrol(cohort, "kim_k")
        lab = provisioning.ensure_lab(enrolment)

        first = start_worker(queue, db_url)
        try:
            tasks.provision_lab.apply_async(args=[lab.pk], queue=queue)
            wait_for(
                lambda: Lab.objects.get(pk=lab.pk).steps_done >= 3,
                "three steps done",
                timeout=120,
                every=0.1,
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        lab.refresh_from_db()
        assert lab.state == Lab.State.PROVISIONING  # left half-done by the dead worker
        assert lab.steps_done < lab.steps_total

        second = start_worker(queue, db_url)
        try:
            wait_for(
                lambda: Lab.objects.get(pk=lab.pk).state == Lab.State.READY,
                "the lab ready",
                timeout=90,
                every=0.1,
            )
        finally:
            second.terminate()
            second.wait(20)

        lab.refresh_from_db()
        assert lab.attempts == 2
        for obj in manifests.lab_objects(provisioning.lab_spec(lab)):
            meta = obj["metadata"]
            assert standin.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        assert len(standin.list("v1", "Pod", lab.namespace)) == 1
        created = [r for r in standin.requests if r[0] == "POST" and r[2] == 201]
        # Every object created exactly once over both workers: the admission policy and its
        # binding, and the lab's own objects.
        assert len(created) == 2 + len(manifests.lab_objects(provisioning.lab_spec(lab)))
