"""Present mode: an instructor leads the slides over ``ws/cohorts/<id>/present/``, trainees
follow, and the leader's speaker view gets the class's stats on the module's exercises."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.utils import timezone

from courseware import presenting, progress
from courseware.models import Cohort, Enrolment, TaskResult
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import People, browser_socket, client_for, enrol

pytestmark = pytest.mark.django_db(transaction=True)

DECK = "/courses/fixture-course/modules/pods/slides/"
EXERCISE = "/courses/fixture-course/exercises/first-pod/"


@pytest.fixture(autouse=True)
def no_position_left_over() -> None:
    cache.clear()


def socket(user: Any, cohort: Cohort) -> WebsocketCommunicator:
    return browser_socket(user, f"/ws/cohorts/{cohort.pk}/present/")


async def joined(page: WebsocketCommunicator) -> tuple[WebsocketCommunicator, dict]:
    """``page`` connected (made outside the event loop: logging in touches the database)."""
    connected, code = await page.connect(timeout=10)
    assert connected, code
    return page, await page.receive_json_from(timeout=10)


async def quiet(page: WebsocketCommunicator) -> bool:
    return await page.receive_nothing(timeout=0.2)


def test_it_sends_the_leaders_slide_to_the_followers_and_to_late_comers(
    people: People, cohort: Cohort
) -> None:
    latecomer = socket(enrol(cohort, "lena_trainee")[0].trainee, cohort)
    pages = [socket(people.instructor, cohort), socket(people.trainee, cohort)]

    async def scenario() -> None:
        leader, first = await joined(pages[0])
        follower, before = await joined(pages[1])
        assert first == before == {"type": "position", "position": None}

        await leader.send_json_to({"type": "position", "module": "pods", "h": 2, "v": 0, "f": 1})
        moved = await follower.receive_json_from(timeout=10)
        assert moved == {
            "type": "position",
            "position": {"module": "pods", "h": 2, "v": 0, "f": 1, "title": "Pods",
                         "url": DECK, "by": "Ivan"},
        }  # fmt: skip
        assert await leader.receive_json_from(timeout=10) == moved

        late, now = await joined(latecomer)
        assert now == moved

        await leader.send_json_to({"type": "stop"})
        assert await follower.receive_json_from(timeout=10) == {
            "type": "position",
            "position": None,
        }
        for page in (leader, follower, late):
            await page.disconnect()

    async_to_sync(scenario)()
    assert presenting.current(cohort.pk) is None


def test_it_lets_only_the_cohorts_instructors_lead(people: People, cohort: Cohort) -> None:
    page = socket(people.trainee, cohort)

    async def scenario() -> dict:
        follower, _ = await joined(page)
        await follower.send_json_to({"type": "position", "module": "pods", "h": 5, "v": 0})
        answer = await follower.receive_json_from(timeout=10)
        await follower.disconnect()
        return answer

    assert async_to_sync(scenario)() == {
        "type": "error",
        "message": "Only the cohort's instructors lead the slides; followers only listen.",
    }
    assert presenting.current(cohort.pk) is None


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "A frame must be JSON."),
        ('{"type": "dance"}', "Unknown message type 'dance': expected position, stop or stats."),
        ('["position"]', "Unknown message type None: expected position, stop or stats."),
        ('{"type": "position", "module": "nope", "h": 0, "v": 0}',
         "The course has no module 'nope'."),
        ('{"type": "position", "module": "pods", "h": -1, "v": 0}',
         "'h' must be a slide index (a whole number from 0), not -1."),
        ('{"type": "position", "module": "pods", "h": 1, "v": true}',
         "'v' must be a slide index (a whole number from 0), not True."),
        ('{"type": "position", "module": "pods", "h": 1, "v": 0, "f": "x"}',
         "'f' must be a slide index (a whole number from -1), not 'x'."),
        ("x" * 5000, "Send JSON text frames of at most 4 KB."),
    ],
)  # fmt: skip
def test_it_answers_a_frame_it_cannot_use_with_what_is_wrong_and_moves_nobody(
    people: People, cohort: Cohort, frame: str, message: str
) -> None:
    pages = [socket(people.instructor, cohort), socket(people.trainee, cohort)]

    async def scenario() -> tuple[dict, bool]:
        leader, _ = await joined(pages[0])
        follower, _ = await joined(pages[1])
        await leader.send_to(text_data=frame)
        answer = await leader.receive_json_from(timeout=10)
        nothing = await quiet(follower)
        await leader.send_to(bytes_data=b"\x00")
        binary = await leader.receive_json_from(timeout=10)
        assert binary["message"] == "Send JSON text frames of at most 4 KB."
        for page in (leader, follower):
            await page.disconnect()
        return answer, nothing

    answer, nothing = async_to_sync(scenario)()

    assert answer == {"type": "error", "message": message}
    assert nothing  # the followers heard nothing
    assert presenting.current(cohort.pk) is None


def test_it_refuses_strangers_and_a_cohort_of_another_course(
    people: People, cohort: Cohort, other_cohort: Cohort
) -> None:
    def code(user: Any, target: Cohort) -> object:
        page = socket(user, target)

        async def visit() -> object:
            connected, code = await page.connect(timeout=10)
            await page.disconnect()
            return "admitted" if connected else code

        return async_to_sync(visit)()

    answers = {
        "anonymous": code(None, cohort),
        "other_trainee": code(people.other_trainee, cohort),
        "other_instructor": code(people.other_instructor, cohort),
        "trainee elsewhere": code(people.trainee, other_cohort),
    }
    Enrolment.objects.filter(trainee=people.trainee).update(state=Enrolment.State.REMOVED)
    answers["removed trainee"] = code(people.trainee, cohort)

    assert answers == {
        "anonymous": 4403,
        "other_trainee": 4403,
        "other_instructor": 4403,
        "trainee elsewhere": 4403,
        "removed trainee": 4403,
    }


def test_it_shows_the_leader_how_the_class_fares_and_keeps_it_live(
    people: People, cohort: Cohort, trainee_lab: Lab, standin: KubeStandIn
) -> None:
    assert client_for(people.trainee).get(EXERCISE).status_code == 200
    progress.check_lab(trainee_lab.pk)  # the trainee's tasks fail: nothing in the lab yet
    standin.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "my-pod", "namespace": trainee_lab.namespace},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        }
    )

    page = socket(people.instructor, cohort)

    async def scenario() -> tuple[dict, dict]:
        leader, _ = await joined(page)
        await leader.send_json_to({"type": "stats", "module": "pods"})
        before = await leader.receive_json_from(timeout=10)
        # The cohort's group carries the dashboard's lab states too: the stats let them be.
        await sync_to_async(trainee_lab.save)()
        await sync_to_async(progress.check_lab)(trainee_lab.pk)  # the pod runs now
        after = await leader.receive_json_from(timeout=10)
        await leader.disconnect()
        return before, after

    before, after = async_to_sync(scenario)()

    def counts(message: dict) -> list[tuple[str, int, int]]:
        return [
            (t["key"], t["passed"], t["stuck"]) for e in message["exercises"] for t in e["tasks"]
        ]

    assert before["type"] == "stats"
    assert before["module"] == "pods"
    assert [(e["slug"], e["trainees"]) for e in before["exercises"]] == [("first-pod", 1)]
    assert counts(before) == [("first-pod/create-pod", 0, 0), ("first-pod/label-pod", 0, 0)]
    assert counts(after) == [("first-pod/create-pod", 1, 0), ("first-pod/label-pod", 0, 0)]


def test_it_counts_a_trainee_stuck_when_neither_the_task_nor_the_terminal_moved(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    assert client_for(people.trainee).get(EXERCISE).status_code == 200
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    TaskResult.objects.filter(task__slug="label-pod").update(state="failing", changed_at=long_ago)
    TaskResult.objects.filter(task__slug="create-pod").update(
        state="failing", changed_at=timezone.now()
    )

    stats = presenting.module_stats(cohort, "pods")

    assert [(t.key, t.stuck) for t in stats[0].tasks] == [
        ("first-pod/create-pod", 0),
        ("first-pod/label-pod", 1),
    ]
    now = timezone.now()
    assert presenting.is_stuck(long_ago, None, now, 5)
    assert not presenting.is_stuck(long_ago, now - dt.timedelta(minutes=1), now, 5)
    assert presenting.is_stuck(long_ago, long_ago, now, 5)


def test_it_counts_the_class_in_the_same_queries_however_large_it_is(
    people: People, cohort: Cohort, django_assert_num_queries: Any
) -> None:
    assert client_for(people.trainee).get(EXERCISE).status_code == 200
    with django_assert_num_queries(4):
        presenting.module_stats(cohort, "pods")
    for enrolment in enrol(cohort, *(f"t{n}_trainee" for n in range(12))):
        client_for(enrolment.trainee).get(EXERCISE)
    TaskResult.objects.update(state="failing")

    with django_assert_num_queries(4):
        stats = presenting.module_stats(cohort, "pods")

    assert stats[0].trainees == 13


def test_it_offers_leading_to_instructors_and_following_to_trainees_on_the_deck(
    people: People, cohort: Cohort
) -> None:
    def region(user: Any, query: str = "") -> str | None:
        html = client_for(user).get(DECK + query).content.decode()
        if "data-present-role" not in html:
            return None
        return html.split('data-present-role="')[1].split('"')[0]

    socket_path = f'data-present-socket="/ws/cohorts/{cohort.pk}/present/"'
    assert socket_path in client_for(people.trainee).get(DECK).content.decode()
    assert region(people.trainee) == "follow"
    assert region(people.instructor) == "lead"
    assert "Present to Spring Class" in client_for(people.instructor).get(DECK).content.decode()
    assert region(people.admin) is None  # in no cohort: nothing to present to ...
    assert region(people.admin, "?cohort=spring-class") == "lead"  # ... unless one is named
    assert region(people.trainee, "?cohort=spring-class") is None  # a trainee leads nothing
