"""Live checks under load: with 50 labs open (each trainee's websocket connected, the watcher
running), the time from a change in the simulated cluster to its result on the trainee's
websocket, and the watch connections the watcher holds.

    DEBUG=1 .venv/bin/python bench/checks.py [--labs 50] [--changes 200] [--redis URL]

Everything runs as ``./dev start`` runs it, in one process against a throwaway SQLite
database: the ASGI application (its websockets driven by Channels' WebsocketCommunicator),
the watcher in threads publishing through the in-memory channel layer; ``--redis`` puts the
channel layer on Redis instead (as production, where the watcher is a process of its own).
The simulated cluster runs in a process of its own, pods Ready at once. The labs are
provisioned as for a class and each trainee has opened the fixture course's first exercise.
A change is a pod ``my-pod`` created in one lab, or deleted again, through the API; its
latency runs from just before the API call until the trainee's websocket has the task's
new state (passed after a create, failing after a delete). The aim is p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from measure import free_port, percentile, throwaway_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TASK = "first-pod/create-pod"


def start_simulated_cluster(workdir: Path) -> tuple[subprocess.Popen, Path]:
    kubeconfig = workdir / "admin.kubeconfig"
    server = subprocess.Popen(
        [sys.executable, "-m", "simcluster", "--port", str(free_port()), "--pace", "0",
         # One node as big as a class's several: fifty toolboxes and their pods fit.
         "--node-capacity", "cpu=64,memory=256Gi,pods=500",
         "--kubeconfig", str(kubeconfig)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not kubeconfig.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the simulated cluster did not start")
        time.sleep(0.05)
    return server, kubeconfig


def prepare(labs: int, kubeconfig: Path) -> list[tuple[int, str, str]]:
    """A running cohort of the fixture course on the simulated cluster, its labs provisioned,
    the first exercise opened by every trainee. (lab id, namespace, session cookie) each."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from courseware import cohort_labs, progress
    from courseware.content.sync import sync_course
    from courseware.models import Enrolment, Exercise
    from labs import provisioning
    from labs.models import Cluster
    from tests.factories import make_cohort

    call_command("migrate", verbosity=0)
    _, report = sync_course(ROOT / "tests" / "fixtures" / "course")
    assert report is not None
    cluster = Cluster(name="bench")
    cluster.set_kubeconfig(kubeconfig.read_text())
    cluster.save()
    cohort = make_cohort(report.course, f"bench-{int(time.time())}")
    cohort.cluster = cluster
    # The pod each change creates runs nginx, which starts as root: the shipped course's
    # level, which the simulated cluster enforces as a real one does.
    cohort.pod_security = "baseline"
    cohort.save()
    for number in range(labs):
        name = f"trainee-{number:03d}"
        trainee = User.objects.create_user(name, f"{name}@example.com", "x")
        Enrolment.objects.create(cohort=cohort, trainee=trainee, state=Enrolment.State.ACTIVE)
    lab_rows = cohort_labs.ensure_labs(cohort)
    run = provisioning.run_each([lab.pk for lab in lab_rows], provisioning.provision)
    if run.failed:
        raise SystemExit(f"labs failed to provision: {run.failed}")
    exercise = Exercise.objects.get(course=report.course, slug="first-pod")
    tasks = list(exercise.tasks.filter(retired=False).order_by("position"))
    opened = []
    for lab in lab_rows:
        progress.open_exercise(lab.enrolment, exercise, tasks)
        client = Client()
        client.force_login(lab.enrolment.trainee)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        opened.append((lab.pk, lab.namespace, f"{cookie.key}={cookie.value}"))
    return opened


async def next_state(socket: Any, wanted: str, timeout: float = 10) -> None:
    """Read ``socket`` until the task's result arrives in ``wanted`` state."""
    deadline = time.perf_counter() + timeout
    while True:
        message = await socket.receive_json_from(timeout=max(0.01, deadline - time.perf_counter()))
        results = message.get("results") or [message.get("result") or {}]
        if any(r.get("task") == TASK and r.get("state") == wanted for r in results):
            return


async def run(labs: list[tuple[int, str, str]], kubeconfig: Path, changes: int) -> None:
    import yaml
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from courseware import events
    from courseware.asgi import application
    from courseware.watcher import CheckWatcher

    events.serve_on(asyncio.get_running_loop())  # the in-memory layer lives on this loop
    watcher = CheckWatcher()
    threading.Thread(target=watcher.run, name="check watcher", daemon=True).start()

    sockets = []
    for lab_id, _, cookie in labs:
        socket = WebsocketCommunicator(
            application.application,
            f"/ws/labs/{lab_id}/progress/",
            headers=[(b"host", b"localhost"), (b"origin", b"http://localhost"),
                     (b"cookie", cookie.encode())],
        )  # fmt: skip
        connected, _ = await socket.connect(timeout=30)
        assert connected
        sockets.append(socket)
    # Every lab judged once (an empty lab: the task is failing) before the clock starts.
    await asyncio.gather(*(next_state(socket, "failing", timeout=60) for socket in sockets))

    core = k8s.CoreV1Api(k8s_config.new_client_from_config_dict(yaml.safe_load(
        kubeconfig.read_text())))  # fmt: skip
    create = sync_to_async(core.create_namespaced_pod, thread_sensitive=False)
    delete = sync_to_async(core.delete_namespaced_pod, thread_sensitive=False)
    pod = {"metadata": {"name": "my-pod"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}  # fmt: skip
    has_pod = [False] * len(labs)
    latencies = []
    for number in range(changes):
        index = number % len(labs)
        namespace = labs[index][1]
        started = time.perf_counter()
        if has_pod[index]:
            await delete("my-pod", namespace)
            await next_state(sockets[index], "failing")
        else:
            await create(namespace, pod)
            await next_state(sockets[index], "passed")
        latencies.append(time.perf_counter() - started)
        has_pod[index] = not has_pod[index]
        await asyncio.sleep(0.02)
    connections = watcher.streams_open()
    for socket in sockets:
        await socket.disconnect()
    watcher.stop()

    print(f"labs: {len(labs)}, changes: {changes}, evaluations: {watcher.evaluations}")
    print(f"check latency p50 ms: {statistics.median(latencies) * 1000:.1f}")
    print(f"check latency p95 ms: {percentile(latencies, 0.95) * 1000:.1f}")
    print(f"watch connections: {connections}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=50)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--redis", default="", help="put the channel layer on this Redis")
    args = parser.parse_args()

    workdir = throwaway_django(args.redis)
    server, kubeconfig = start_simulated_cluster(workdir)
    try:
        labs = prepare(args.labs, kubeconfig)
        asyncio.run(run(labs, kubeconfig, args.changes))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


if __name__ == "__main__":
    main()
