"""The watch layer against the simulated cluster: informers list, then watch from the list's
version; resume after a timeout or a dropped connection without missing a change; list
again on 410 Gone and when namespaces are added; report what they cannot read. The
debouncer that turns bursts of changes into one evaluation. Fetching a lab's objects
through the API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import config as k8s_config

from labs.debounce import Debouncer
from labs.kube import Kube, RetryPolicy
from labs.snapshots import fetch
from labs.watch import ClusterWatch, Informer, NotReady
from simcluster import KubeStandIn
from tests.factories import Sleeps, wait_for

POD = ("v1", "Pod")
CONFIG_MAP = ("v1", "ConfigMap")


class Changes:
    """What the callbacks reported, in order, as (namespace, kind)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, namespace: str, kind: str) -> None:
        with self._lock:
            self.seen.append((namespace, kind))

    def count(self, namespace: str, kind: str = "Pod") -> int:
        with self._lock:
            return self.seen.count((namespace, kind))

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()


def make_namespace(standin: KubeStandIn, *names: str) -> None:
    for name in names:
        standin.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def make_pod(standin: KubeStandIn, namespace: str, name: str, **labels: str) -> dict:
    return standin.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        }
    )


def make_config_map(standin: KubeStandIn, namespace: str, name: str) -> None:
    standin.put(
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}}
    )  # fmt: skip


def kube_of(
    standin: KubeStandIn, sleep: Callable[[float], None] | None = None, **kwargs: Any
) -> Kube:
    api_client = k8s_config.new_client_from_config_dict(standin.kubeconfig(**kwargs))
    return Kube.from_api_client(api_client, retry=RetryPolicy(attempts=5, sleep=sleep or Sleeps()))


def names(objects: list[dict]) -> list[str]:
    return sorted(obj["metadata"]["name"] for obj in objects)


@pytest.fixture
def watches() -> Iterator[list[ClusterWatch | Informer]]:
    """Every watch a test starts, stopped at its end."""
    started: list[ClusterWatch | Informer] = []
    yield started
    for watch in started:
        watch.stop()


def test_it_lists_then_reports_every_change_in_the_namespaces_it_keeps(
    standin: KubeStandIn, watches: list
) -> None:
    make_namespace(standin, "lab-a", "lab-b", "elsewhere")
    make_pod(standin, "lab-a", "before")
    changes = Changes()
    watch = ClusterWatch(kube_of(standin), changes)
    watches.append(watch)

    watch.update([POD], ["lab-a", "lab-b"])

    wait_for(lambda: changes.count("lab-a") and changes.count("lab-b"), "the first list")
    assert names(watch.objects("lab-a", POD)) == ["before"]
    assert watch.objects("lab-b", POD) == []
    changes.clear()
    make_pod(standin, "lab-b", "after")
    make_pod(standin, "elsewhere", "not-ours")
    wait_for(lambda: changes.count("lab-b"), "the change in lab-b")
    assert names(watch.objects("lab-b", POD)) == ["after"]
    standin.delete("v1", "Pod", "before", "lab-a")
    wait_for(lambda: watch.objects("lab-a", POD) == [], "the deletion in lab-a")
    assert changes.count("elsewhere") == 0
    with pytest.raises(NotReady):
        watch.objects("elsewhere", POD)
    assert watch.streams_open() == 1


def test_it_resumes_after_a_timeout_without_missing_a_change(
    standin: KubeStandIn, watches: list
) -> None:
    make_namespace(standin, "lab-a")
    changes = Changes()
    watch = ClusterWatch(kube_of(standin), changes, timeout_seconds=1)
    watches.append(watch)
    watch.update([POD], ["lab-a"])
    informer = watch.informers()[0]
    wait_for(informer.synced.is_set, "the first list")

    for number in range(3):
        make_pod(standin, "lab-a", f"pod-{number}")
        time.sleep(0.7)

    wait_for(lambda: len(watch.objects("lab-a", POD)) == 3, "three pods")
    assert informer.watches >= 3  # the server ended the watch twice or more ...
    assert informer.lists == 1  # ... and each time it went on from where it was


def test_it_resumes_after_a_dropped_connection_without_missing_a_change(
    standin: KubeStandIn, watches: list
) -> None:
    make_namespace(standin, "lab-a")
    changes = Changes()
    made: list[str] = []

    def while_away(delay: float) -> None:
        # Between the dropped attempt and the next one: a change the watch must not miss.
        if not made:
            make_pod(standin, "lab-a", "made-while-away")
            made.append("made-while-away")

    watch = ClusterWatch(kube_of(standin, sleep=while_away), changes, timeout_seconds=30)
    watches.append(watch)
    watch.update([POD], ["lab-a"])
    informer = watch.informers()[0]
    wait_for(lambda: informer.synced.is_set() and informer.streaming, "the watch")

    # The connection breaks under the open watch, and the first attempt to watch again is
    # dropped by the server too.
    standin.drop("GET", r"^/api/v1/pods$")
    cut(informer)

    wait_for(lambda: names(watch.objects("lab-a", POD)) == ["made-while-away"], "the pod")
    assert made == ["made-while-away"]
    assert informer.lists == 1
    assert informer.watches == 2
    assert ("GET", "/api/v1/pods", 0) in standin.requests  # the dropped one


def cut(informer: Informer) -> None:
    """Break the connection under an informer's open watch, as a network failure does."""
    stream = informer._stream
    assert stream is not None
    stream._response.connection.sock.shutdown(socket.SHUT_RDWR)


def test_it_lists_again_when_its_version_is_gone(watches: list) -> None:
    with KubeStandIn(auto_ready_after=0, history=3).start() as standin:
        make_namespace(standin, "lab-a", "other")
        changes = Changes()
        busy: list[bool] = []

        def while_away(delay: float) -> None:
            # The cluster moves on by more than its history keeps while the watch is away.
            if not busy:
                busy.append(True)
                make_pod(standin, "lab-a", "made-while-away")
                for number in range(5):
                    make_config_map(standin, "other", f"noise-{number}")

        watch = ClusterWatch(kube_of(standin, sleep=while_away), changes, timeout_seconds=30)
        watches.append(watch)
        watch.update([POD], ["lab-a"])
        informer = watch.informers()[0]
        wait_for(lambda: informer.synced.is_set() and informer.streaming, "the watch")
        changes.clear()

        standin.drop("GET", r"^/api/v1/pods$")
        cut(informer)

        wait_for(lambda: names(watch.objects("lab-a", POD)) == ["made-while-away"], "the pod")
        assert informer.expired == 1
        assert informer.lists == 2
        assert changes.count("lab-a") >= 1
        watch.stop()


def test_it_lists_again_when_namespaces_are_added(standin: KubeStandIn, watches: list) -> None:
    make_namespace(standin, "lab-a", "lab-b")
    make_pod(standin, "lab-b", "there-already")
    changes = Changes()
    watch = ClusterWatch(kube_of(standin), changes)
    watches.append(watch)
    watch.update([POD], ["lab-a"])
    informer = watch.informers()[0]
    wait_for(informer.synced.is_set, "the first list")
    with pytest.raises(NotReady):
        watch.objects("lab-b", POD)

    watch.update([POD], ["lab-a", "lab-b"])

    wait_for(lambda: changes.count("lab-b") == 1, "the new namespace's list")
    assert names(watch.objects("lab-b", POD)) == ["there-already"]
    assert informer.lists == 2
    make_pod(standin, "lab-b", "new")
    wait_for(lambda: len(watch.objects("lab-b", POD)) == 2, "the change in the new namespace")

    watch.update([POD], ["lab-a"])
    with pytest.raises(NotReady):
        watch.objects("lab-b", POD)


def test_it_starts_watching_a_kind_it_is_asked_for_later(
    standin: KubeStandIn, watches: list
) -> None:
    make_namespace(standin, "lab-a")
    make_config_map(standin, "lab-a", "settings")
    changes = Changes()
    watch = ClusterWatch(kube_of(standin), changes)
    watches.append(watch)
    watch.update([POD], ["lab-a"])

    watch.update([POD, CONFIG_MAP], ["lab-a"])

    wait_for(lambda: changes.count("lab-a", "ConfigMap") == 1, "the config maps")
    assert "settings" in names(watch.objects("lab-a", CONFIG_MAP))
    assert len(watch.informers()) == 2


def test_it_holds_one_watch_per_kind_and_namespace_in_per_namespace_mode(
    standin: KubeStandIn, watches: list
) -> None:
    make_namespace(standin, "lab-a", "lab-b", "lab-c")
    changes = Changes()
    watch = ClusterWatch(kube_of(standin), changes, per_namespace=True)
    watches.append(watch)

    watch.update([POD, CONFIG_MAP], ["lab-a", "lab-b", "lab-c"])

    wait_for(lambda: watch.streams_open() == 6, "six watches")
    make_pod(standin, "lab-c", "web")
    wait_for(lambda: names(watch.objects("lab-c", POD)) == ["web"], "the pod in lab-c")
    watch.update([POD, CONFIG_MAP], ["lab-a"])
    assert len(watch.informers()) == 2


def test_it_reports_a_kind_it_may_not_read(standin: KubeStandIn, watches: list) -> None:
    make_namespace(standin, "lab-a")
    standin.add_token("nobody-token", "nobody")
    changes = Changes()
    watch = ClusterWatch(kube_of(standin, token="nobody-token"), changes)
    watches.append(watch)

    watch.update([POD], ["lab-a"])

    wait_for(lambda: changes.count("lab-a") >= 1, "the report of the failed list")
    with pytest.raises(NotReady, match='pods is forbidden: User "nobody" cannot list'):
        watch.objects("lab-a", POD)


# -- the debouncer ----------------------------------------------------------------------------


def test_it_runs_once_after_a_burst_of_touches() -> None:
    runs: list[tuple[str, float]] = []
    debouncer = Debouncer(lambda key: runs.append((key, time.monotonic())), quiet=0.1)
    try:
        started = time.monotonic()
        for _ in range(5):
            debouncer.touch("lab-a")
            time.sleep(0.02)
        debouncer.touch("lab-b")
        wait_for(lambda: len(runs) == 2, "two runs")
        time.sleep(0.2)
    finally:
        debouncer.stop()

    assert sorted(key for key, _ in runs) == ["lab-a", "lab-b"]
    assert all(when - started >= 0.1 for _, when in runs)


def test_it_runs_a_key_that_keeps_changing_after_the_longest_wait() -> None:
    runs: list[float] = []
    debouncer = Debouncer(lambda key: runs.append(time.monotonic()), quiet=0.2, longest=0.3)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 0.5 and not runs:
            debouncer.touch("busy")
            time.sleep(0.02)
        wait_for(lambda: runs, "a run")
    finally:
        debouncer.stop()

    assert runs[0] - started < 0.45


def test_it_never_runs_one_key_twice_at_once() -> None:
    running, overlaps, runs = set(), [], []
    gate = threading.Event()

    def action(key: str) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        gate.wait(2)
        runs.append(key)
        running.discard(key)

    debouncer = Debouncer(action, quiet=0.01, workers=4)
    try:
        debouncer.touch("lab-a")
        wait_for(lambda: "lab-a" in running, "the first run")
        debouncer.touch("lab-a")  # while it runs: once more afterwards, not alongside
        time.sleep(0.1)
        assert overlaps == []
        assert runs == []
        gate.set()
        wait_for(lambda: len(runs) == 2, "the second run")
    finally:
        debouncer.stop()

    assert overlaps == []
    assert debouncer.idle()


# -- fetching through the API -----------------------------------------------------------------


def test_it_fetches_a_labs_objects_and_names_what_it_could_not_read(standin: KubeStandIn) -> None:
    make_namespace(standin, "lab-a", "lab-b")
    make_pod(standin, "lab-a", "web")
    make_pod(standin, "lab-b", "not-this-one")

    snapshot = fetch(kube_of(standin), "lab-a", ["Pod", "Service"])

    assert names(list(snapshot.of("Pod"))) == ["web"]
    assert snapshot.of("Pod")[0]["kind"] == "Pod"
    assert snapshot.of("Service") == []
    standin.fail("GET", "/namespaces/lab-a/services$", 403, message="services is forbidden")
    broken = fetch(kube_of(standin), "lab-a", ["Pod", "Service"])
    assert broken.errors == {"Service": "list Service: services is forbidden (HTTP 403)"}
    assert names(list(broken.of("Pod"))) == ["web"]
