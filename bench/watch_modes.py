"""Cluster-wide watches filtered to the labs' namespaces against one watch per namespace, at
100 labs on the simulated cluster: connections held, start-up, CPU and latency.

    DEBUG=1 .venv/bin/python bench/watch_modes.py [--labs 100] [--changes 200]

The simulated cluster runs in a process of its own (``python -m simcluster``), so the CPU
of the watches (this process's threads but the main one, which makes the changes) and of
the API server are measured apart. Each lab namespace holds a Deployment, a Service and
three Pods; 20 other namespaces (other tenants of a shared cluster) hold Pods too. Both
modes watch the kinds of the course's checks (Pod, ReplicaSet, Deployment, Service,
Endpoints) through ``labs.watch.ClusterWatch``. The changes are Pods created and deleted,
alternately in a lab and in another tenant's namespace; latency is from just before the
API call to the watch's callback for that lab.
docs/checks.md keeps the figures and the choice they led to.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from measure import free_port, percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = [("v1", "Pod"), ("apps/v1", "ReplicaSet"), ("apps/v1", "Deployment"),
         ("v1", "Service"), ("v1", "Endpoints")]  # fmt: skip
OTHER_TENANTS = 20


def tcp_connections(port: int) -> int:
    """Established TCP connections of this process's network namespace to ``port`` (the
    client side: the remote port is the server's)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":
                count += 1
    return count


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_cpu() -> float:
    """CPU seconds of this process's threads other than the main one: the watches' (the
    main thread makes the changes, whose cost must not count)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime - time.thread_time()


def populate(core: Any, apps: Any, labs: list[str], others: list[str]) -> None:
    for name in labs + others:
        core.create_namespace({"metadata": {"name": name}})
    for name in labs:
        template = {"metadata": {"labels": {"app": "web"}}, "spec": pod("web")["spec"]}
        apps.create_namespaced_deployment(name, {
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": template},
        })  # fmt: skip
        core.create_namespaced_service(name, {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        })  # fmt: skip
    for name in labs + others:
        for number in range(3):
            core.create_namespaced_pod(name, pod(f"pod-{number}"))


def pod(name: str) -> dict:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}  # fmt: skip


class Arrivals:
    """When the callback last reported a change in each namespace."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.last: dict[str, float] = {}

    def __call__(self, namespace: str, kind: str) -> None:
        with self.lock:
            self.last[namespace] = time.perf_counter()
            self.lock.notify_all()

    def wait_after(self, namespace: str, since: float, timeout: float = 10) -> float:
        deadline = time.perf_counter() + timeout
        with self.lock:
            while self.last.get(namespace, 0.0) < since:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"no change reported in {namespace}")
                self.lock.wait(left)
            return self.last[namespace]


def measure(mode: str, kubeconfig: dict, server_pid: int, port: int, labs: list[str],
            others: list[str], changes: int, idle: float) -> dict[str, float]:  # fmt: skip
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from labs.kube import Kube
    from labs.watch import ClusterWatch

    per_namespace = mode == "per-namespace"
    kube = Kube.from_api_client(
        k8s_config.new_client_from_config_dict(kubeconfig),
        connections=len(KINDS) * (len(labs) if per_namespace else 1) + 8,
    )
    core = k8s.CoreV1Api(k8s_config.new_client_from_config_dict(kubeconfig))
    arrivals = Arrivals()
    watch = ClusterWatch(kube, arrivals, per_namespace=per_namespace)
    threads_before = threading.active_count()

    started = time.perf_counter()
    watch.update(KINDS, labs)
    while not all(i.synced.is_set() for i in watch.informers()) or watch.streams_open() < len(
        watch.informers()
    ):
        time.sleep(0.01)
    startup = time.perf_counter() - started
    lists = sum(i.lists for i in watch.informers())

    cpu, server = watch_cpu(), cpu_of(server_pid)
    time.sleep(idle)
    idle_cpu, idle_server = watch_cpu() - cpu, cpu_of(server_pid) - server

    rng = random.Random(7)
    latencies = []
    cpu, server = watch_cpu(), cpu_of(server_pid)
    for number in range(changes):
        if number % 2 == 0:  # a pod made in a lab (and elsewhere), deleted the next time
            lab, other = rng.choice(labs), rng.choice(others)
        name = f"change-{number // 2}"
        before = time.perf_counter()
        if number % 2 == 0:
            core.create_namespaced_pod(lab, pod(name))
        else:
            core.delete_namespaced_pod(name, lab)
        latencies.append(arrivals.wait_after(lab, before) - before)
        # Another tenant's change: the cluster-wide watch hears it and drops it.
        if number % 2 == 0:
            core.create_namespaced_pod(other, pod(f"noise-{number}"))
        else:
            core.delete_namespaced_pod(f"noise-{number - 1}", other)
        time.sleep(0.01)
    change_cpu, change_server = watch_cpu() - cpu, cpu_of(server_pid) - server

    result = {
        "watch connections": watch.streams_open(),
        "TCP connections": tcp_connections(port),
        "threads": threading.active_count() - threads_before,
        "start-up s": startup,
        "lists": lists,
        "latency p50 ms": statistics.median(latencies) * 1000,
        "latency p95 ms": percentile(latencies, 0.95) * 1000,
        "watch CPU idle ms/s": max(0.0, idle_cpu) / idle * 1000,
        "server CPU idle ms/s": idle_server / idle * 1000,
        "watch CPU per change ms": change_cpu / changes * 1000,
        "server CPU per change ms": change_server / changes * 1000,
    }
    watch.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=100)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measured")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lotse-bench-"))
    os.environ.setdefault("DEBUG", "1")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"  # never touched
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import yaml
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    port = free_port()
    kubeconfig_path = workdir / "admin.kubeconfig"
    server = subprocess.Popen(
        [sys.executable, "-m", "simcluster", "--port", str(port), "--auto-ready", "0",
         "--kubeconfig", str(kubeconfig_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig_path.exists():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the simulated cluster did not start")
            time.sleep(0.05)
        kubeconfig = yaml.safe_load(kubeconfig_path.read_text())
        api = k8s_config.new_client_from_config_dict(kubeconfig)
        labs = [f"lab-{number:03d}" for number in range(args.labs)]
        others = [f"tenant-{number:02d}" for number in range(OTHER_TENANTS)]
        populate(k8s.CoreV1Api(api), k8s.AppsV1Api(api), labs, others)

        results = {}
        for mode in ("cluster-wide", "per-namespace"):
            results[mode] = measure(
                mode, kubeconfig, server.pid, port, labs, others, args.changes, args.idle
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)

    print(f"{args.labs} labs, {len(KINDS)} kinds, {OTHER_TENANTS} other tenants' namespaces, "
          f"{args.changes} changes in labs (and as many elsewhere)")  # fmt: skip
    print(f"{'':28}{'cluster-wide':>14}{'per-namespace':>15}")
    for figure in results["cluster-wide"]:
        wide, narrow = results["cluster-wide"][figure], results["per-namespace"][figure]
        shown = "{:>14.2f}{:>15.2f}" if isinstance(wide, float) else "{:>14}{:>15}"
        print(f"{figure:<28}" + shown.format(wide, narrow))


if __name__ == "__main__":
    main()
