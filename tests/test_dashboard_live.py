"""The dashboard live, over its websocket against the real ASGI application: the snapshot
first, then a result recorded through ``courseware.progress``, a lab's state, an opened
exercise and hint, a raised hand (and the trainee's side of its answer), the terminals'
activity on request; a reconnect brings back the truth."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from courseware import progress
from courseware.models import Cohort, Enrolment, TaskResult
from labs.models import Lab
from labs.terminal import activity
from labs.terminal.sessions import registry
from simcluster import KubeStandIn
from tests.factories import (
    People,
    TerminalClient,
    client_for,
    dashboard_socket,
    progress_socket,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)

EXERCISE = "/courses/fixture-course/exercises/first-pod/"


async def next_of(socket: WebsocketCommunicator, kind: str, timeout: float = 10) -> dict:
    """The next message of type ``kind`` (others that come first are passed over)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind} message within {timeout} s"
        message = await socket.receive_json_from(timeout=remaining)
        if message["type"] == kind:
            return message


async def result_of(socket: WebsocketCommunicator, task: str, state: str) -> dict:
    """The first result of ``task`` in ``state`` that the socket receives."""
    while True:
        message = await next_of(socket, "result")
        if (message["result"]["task"], message["result"]["state"]) == (task, state):
            return message["result"]


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return async_to_sync(scenario)()


def in_thread(work: Callable[[], Any]) -> Awaitable[Any]:
    return database_sync_to_async(work)()


def put_pod(standin: KubeStandIn, lab: Lab) -> None:
    standin.put({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "my-pod", "namespace": lab.namespace},
                 "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}})  # fmt: skip


def test_it_sends_a_snapshot_then_each_result_recorded(
    people: People, cohort: Cohort, trainee_lab: Lab, standin: KubeStandIn
) -> None:
    trainee = client_for(people.trainee)
    socket = dashboard_socket(people.instructor, cohort.pk)

    async def scenario() -> tuple[dict, list[dict], dict, dict, dict]:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        snapshot = await next_of(socket, "snapshot")
        # The trainee opens the exercise: its tasks show as not started.
        await in_thread(lambda: trainee.get(EXERCISE))
        opened = [(await next_of(socket, "result"))["result"] for _ in range(2)]
        # The check engine judges the lab (what the watcher, the sweep and "Check now" do).
        await in_thread(lambda: progress.check_lab(trainee_lab.pk))
        failing = await result_of(socket, "first-pod/create-pod", "failing")
        await in_thread(lambda: put_pod(standin, trainee_lab))
        await in_thread(lambda: progress.check_lab(trainee_lab.pk))
        passed = await result_of(socket, "first-pod/create-pod", "passed")
        await in_thread(lambda: trainee.post(EXERCISE + "tasks/create-pod/hint/opened/"))
        hint = await next_of(socket, "result")
        await socket.disconnect()
        return snapshot, opened, failing, passed, hint

    snapshot, opened, failing, passed, hint = run(scenario)

    (row,) = snapshot["trainees"]
    assert row["name"] == "Tina"
    assert row["lab"]["state"] == "ready"
    assert snapshot["results"] == []
    assert {(r["task"], r["state"]) for r in opened} == {
        ("first-pod/create-pod", "pending"), ("first-pod/label-pod", "pending")
    }  # fmt: skip
    assert failing["enrolment"] == trainee_lab.enrolment_id
    assert failing["checks"][0]["differences"] == ["Pod my-pod does not exist"]
    assert passed["passed_at"] is not None
    assert hint["result"]["hint_opened_at"] is not None


def test_it_brings_a_reconnecting_dashboard_back_to_the_truth(
    people: People, cohort: Cohort, trainee_lab: Lab, standin: KubeStandIn
) -> None:
    client_for(people.trainee).get(EXERCISE)
    put_pod(standin, trainee_lab)
    progress.check_lab(trainee_lab.pk)  # while no dashboard was connected

    socket = dashboard_socket(people.admin, cohort.pk)

    async def scenario() -> dict:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        snapshot = await next_of(socket, "snapshot")
        await socket.disconnect()
        return snapshot

    snapshot = run(scenario)

    states = {r["task"]: r["state"] for r in snapshot["results"]}
    assert states == {"first-pod/create-pod": "passed", "first-pod/label-pod": "failing"}


def test_it_sends_a_labs_state_as_it_is_provisioned(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    socket = dashboard_socket(people.instructor, cohort.pk)

    def provisioning_step() -> None:
        lab = Lab.objects.get(pk=trainee_lab.pk)
        lab.state, lab.steps_done, lab.steps_total = Lab.State.PROVISIONING, 3, 12
        lab.save()

    async def scenario() -> dict:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await next_of(socket, "snapshot")
        await in_thread(provisioning_step)
        message = await next_of(socket, "lab")
        await socket.disconnect()
        return message

    message = run(scenario)

    assert message["enrolment"] == trainee_lab.enrolment_id
    assert message["lab"]["state"] == "provisioning"
    assert message["lab"]["progress"] == 25


def test_it_answers_the_pages_question_for_terminal_activity(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    socket = dashboard_socket(people.instructor, cohort.pk)
    typed_at = time.time() - 90

    async def scenario() -> dict:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await next_of(socket, "snapshot")
        await activity.record(trainee_lab.pk, 1, last_input=typed_at, connected=True)
        await socket.send_json_to({"type": "terminals"})
        message = await next_of(socket, "terminals")
        await socket.send_json_to({"type": "nonsense"})  # ignored
        await socket.send_to(text_data="not json")  # ignored too
        await socket.send_json_to({"type": "snapshot"})
        again = await next_of(socket, "snapshot")
        await socket.disconnect()
        return {"terminals": message, "snapshot": again}

    answers = run(scenario)

    terminal = answers["terminals"]["terminals"][str(trainee_lab.enrolment_id)]
    assert terminal["connected"] is True
    assert terminal["last_input"].startswith(time.strftime("%Y-%m-%d", time.gmtime(typed_at)))
    assert answers["snapshot"]["trainees"][0]["terminal"]["connected"] is True


@pytest.mark.usefixtures("local_shell")
def test_it_shows_a_terminal_connect_and_go_away_at_once(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    socket = dashboard_socket(people.instructor, cohort.pk)
    terminal = TerminalClient(session_cookie(people.trainee), trainee_lab.pk)
    key = str(trainee_lab.enrolment_id)

    async def scenario() -> list[dict]:
        try:
            connected, _ = await socket.connect(timeout=10)
            assert connected
            await next_of(socket, "snapshot")
            assert await terminal.connect()
            assert (await terminal.hello())["type"] == "attached"
            opened = await next_of(socket, "terminals")  # nobody asked: it was published
            await terminal.disconnect()
            closed = await next_of(socket, "terminals")
            await socket.disconnect()
            return [opened["terminals"][key], closed["terminals"][key]]
        finally:
            await registry.close_all()

    opened, closed = run(scenario)

    assert opened["connected"] is True
    assert closed["connected"] is False


def test_it_carries_a_raised_hand_to_the_dashboard_and_its_answer_to_the_trainee(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    trainee, instructor = client_for(people.trainee), client_for(people.instructor)
    trainee.get(EXERCISE)
    progress.check_lab(trainee_lab.pk)  # an empty lab: create-pod fails
    board = dashboard_socket(people.instructor, cohort.pk)
    page = progress_socket(people.trainee, trainee_lab.pk)
    again = progress_socket(people.trainee, trainee_lab.pk)

    async def scenario() -> dict[str, Any]:
        for socket in (board, page):
            connected, _ = await socket.connect(timeout=10)
            assert connected
        await next_of(board, "snapshot")
        before = await next_of(page, "hands")
        await in_thread(lambda: trainee.post(EXERCISE + "help/"))
        raised = await next_of(board, "help")
        seen = await next_of(page, "help")
        url = f"/cohorts/{cohort.slug}/dashboard/help/{raised['help']['id']}/handled/"
        await in_thread(lambda: instructor.post(url))
        handled_board = await next_of(board, "help")
        handled_page = await next_of(page, "help")
        for socket in (board, page):
            await socket.disconnect()
        # The trainee's page, reconnecting, learns that the request was answered.
        await again.connect(timeout=10)
        after = await next_of(again, "hands")
        await again.disconnect()
        return {"before": before, "raised": raised, "seen": seen, "handled_board": handled_board,
                "handled_page": handled_page, "after": after}  # fmt: skip

    got = run(scenario)

    assert got["before"]["hands"] == []
    hand = got["raised"]["help"]
    assert hand["trainee"] == "Tina"
    assert hand["exercise"] == "first-pod"
    assert hand["task"] == "first-pod/create-pod"
    assert hand["failing"] == (
        "Pod my-pod exists and its status.phase is Running: Pod my-pod does not exist"
    )
    assert hand["handled_at"] is None
    assert got["seen"]["help"]["id"] == hand["id"]
    assert got["handled_board"]["help"]["handled_at"] is not None
    assert got["handled_page"]["help"]["handled_by"] == "Ivan"
    (after,) = got["after"]["hands"]
    assert after["handled_at"] is not None


@pytest.mark.usefixtures("redis_channel_layer")
def test_it_reaches_the_dashboard_through_redis_from_another_thread(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    """As in production: the check engine publishes from a worker, the dashboard listens
    in the web process; the channel layer between them is Redis."""
    client_for(people.trainee).get(EXERCISE)
    socket = dashboard_socket(people.instructor, cohort.pk)

    async def scenario() -> dict:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await next_of(socket, "snapshot")
        await in_thread(lambda: progress.check_lab(trainee_lab.pk))
        message = await next_of(socket, "result")
        await socket.disconnect()
        return message

    message = run(scenario)

    assert message["result"]["state"] == "failing"
    assert TaskResult.objects.filter(state="failing").count() == 2
    assert Enrolment.objects.get(pk=message["result"]["enrolment"]).trainee == people.trainee
