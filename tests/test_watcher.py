"""The check watcher end to end: a change in the simulated cluster reaches the trainee's
websocket without anyone asking, within a bound; through the Redis channel layer (the
watcher as its own process) and inside the ASGI process (development's in-memory layer);
new labs and exercises are noticed; a change made while the watch is away still arrives."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import OperationalError

from courseware import events, progress
from courseware.asgi import application
from courseware.models import TaskResult
from courseware.serving import StartsWatcher
from courseware.watcher import CheckWatcher, start_in_process, stop_in_process
from labs.kube import Kube, RetryPolicy
from labs.models import Cluster, Lab
from simcluster import KubeStandIn
from tests.factories import People, client_for, progress_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EXERCISE = "/courses/fixture-course/exercises/first-pod/"
# A change in the cluster must reach the page within this (the aim is well below 300 ms).
BOUND_SECONDS = 2.0


def put_pod(standin: KubeStandIn, lab: Lab, name: str = "my-pod") -> None:
    standin.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": lab.namespace},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        }
    )


def state_of(lab: Lab, slug: str = "create-pod") -> str:
    return TaskResult.objects.get(enrolment_id=lab.enrolment_id, task__slug=slug).state


@pytest.fixture
def watcher() -> Iterator[Callable[..., CheckWatcher]]:
    """Starts a watcher in a thread of the test (as its own process would run it), fast
    polling, and stops it at the end."""
    started: list[CheckWatcher] = []

    def start(**options: Any) -> CheckWatcher:
        watcher = CheckWatcher(poll_seconds=0.2, debounce_seconds=0.05, **options)
        threading.Thread(target=watcher.run, daemon=True).start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


async def until(page: WebsocketCommunicator, task: str, state: str, timeout: float) -> dict:
    """The first result of ``task`` in ``state`` that arrives on ``page``'s websocket."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {state} result for {task} within {timeout} s"
        message = await page.receive_json_from(timeout=remaining)
        result = message.get("result") or {}
        if message["type"] == "result" and (result["task"], result["state"]) == (task, state):
            return result


@pytest.mark.usefixtures("redis_channel_layer")
def test_it_pushes_a_change_in_the_cluster_to_the_trainees_page(
    people: People, trainee_lab: Lab, standin: KubeStandIn, watcher: Callable[..., CheckWatcher]
) -> None:
    client_for(people.trainee).get(EXERCISE)
    running = watcher()
    wait_for(lambda: state_of(trainee_lab) == "failing", "the first judging", timeout=10)
    page = progress_socket(people.trainee, trainee_lab.pk)

    async def scenario() -> tuple[dict, dict, float]:
        connected, _ = await page.connect(timeout=10)
        assert connected
        first = await page.receive_json_from(timeout=10)
        started = time.monotonic()
        put_pod(standin, trainee_lab)
        result = await until(page, "first-pod/create-pod", "passed", BOUND_SECONDS)
        elapsed = time.monotonic() - started
        await page.disconnect()
        return first, result, elapsed

    first, result, elapsed = async_to_sync(scenario)()

    assert first["type"] == "results"
    assert {r["task"]: r["state"] for r in first["results"]} == {
        "first-pod/create-pod": "failing",
        "first-pod/label-pod": "failing",
    }
    assert result["checks"] == [
        {"check": "Pod my-pod exists and its status.phase is Running", "state": "passed",
         "differences": []}
    ]  # fmt: skip
    assert result["passed_at"] is not None
    assert elapsed < BOUND_SECONDS
    assert state_of(trainee_lab) == "passed"
    assert running.streams_open() == 1  # one watch, cluster-wide, for the Pods


def test_it_notices_an_exercise_opened_after_it_started(
    people: People, trainee_lab: Lab, standin: KubeStandIn, watcher: Callable[..., CheckWatcher]
) -> None:
    put_pod(standin, trainee_lab)
    running = watcher()
    time.sleep(0.5)
    assert TaskResult.objects.count() == 0
    assert running.streams_open() == 0  # nothing to watch yet

    client_for(people.trainee).get(EXERCISE)

    wait_for(lambda: state_of(trainee_lab) == "passed", "the judging of the new tasks", timeout=10)
    assert state_of(trainee_lab, "label-pod") == "failing"


def test_it_brings_a_change_made_while_its_watch_was_away(
    people: People, trainee_lab: Lab, standin: KubeStandIn, watcher: Callable[..., CheckWatcher]
) -> None:
    client_for(people.trainee).get(EXERCISE)
    made: list[bool] = []

    def while_away(delay: float) -> None:
        if not made:
            made.append(True)
            put_pod(standin, trainee_lab)

    def kube_for(cluster: Cluster) -> Kube:
        return Kube.for_cluster(cluster, retry=RetryPolicy(attempts=5, sleep=while_away))

    running = watcher(kube_for=kube_for)
    wait_for(lambda: state_of(trainee_lab) == "failing", "the first judging", timeout=10)
    wait_for(lambda: running.streams_open() == 1, "the watch")

    (informer,) = running._clusters[trainee_lab.cluster_id].watch.informers()
    wait_for(lambda: informer.streaming, "the open watch")
    # The network breaks under the open watch, and the next attempt is dropped too.
    standin.drop("GET", r"^/api/v1/pods$")
    stream = informer._stream
    assert stream is not None
    stream._response.connection.sock.shutdown(socket.SHUT_RDWR)

    wait_for(lambda: state_of(trainee_lab) == "passed", "the pod made meanwhile", timeout=10)
    assert made == [True]
    assert informer.lists == 1  # it went on from where it was: no list was needed


def test_it_runs_inside_the_asgi_process_in_development(
    people: People, trainee_lab: Lab, standin: KubeStandIn, settings: Any
) -> None:
    settings.CHECK_WATCHER_IN_PROCESS = True
    settings.CHECK_WATCHER_POLL_SECONDS = 0.2
    client_for(people.trainee).get(EXERCISE)
    served = StartsWatcher(application.application)  # a process that has not served yet
    page = progress_socket(people.trainee, trainee_lab.pk)
    page.application = served

    async def scenario() -> dict:
        connected, _ = await page.connect(timeout=10)
        assert connected
        await page.receive_json_from(timeout=10)
        await until(page, "first-pod/create-pod", "failing", 10)
        put_pod(standin, trainee_lab)
        result = await until(page, "first-pod/create-pod", "passed", BOUND_SECONDS)
        await page.disconnect()
        return result

    try:
        result = async_to_sync(scenario)()
        assert start_in_process() is start_in_process()  # one watcher per process
    finally:
        stop_in_process()
        events.serve_on(None)

    assert result["state"] == "passed"


def test_it_judges_a_lab_again_when_its_results_could_not_be_recorded(
    people: People,
    trainee_lab: Lab,
    watcher: Callable[..., CheckWatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_for(people.trainee).get(EXERCISE)
    record = progress.evaluate_lab
    calls: list[int] = []

    def database_away_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the database went away")
        return record(*args, **kwargs)

    monkeypatch.setattr(progress, "evaluate_lab", database_away_once)
    watcher()

    wait_for(lambda: state_of(trainee_lab) == "failing", "the second try", timeout=10)
    assert len(calls) == 2
