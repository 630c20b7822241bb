"""Recording results: a trainee's lab on the simulated cluster judged through the API (what
"Check now" and the sweep do), with the difference stored per check, the first pass kept,
errors as errors, gated tasks, re-syncs, hints and solutions, and what is published."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from courseware import progress, tasks
from courseware.content.sync import sync_course
from courseware.models import Cohort, Enrolment, Exercise, Task, TaskResult
from labs.checks import Snapshot
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import People, client_for

pytestmark = pytest.mark.django_db

EXERCISE = "/courses/fixture-course/exercises/first-pod/"


def task(slug: str) -> Task:
    return Task.objects.select_related("exercise").get(
        slug=slug, exercise__course__slug="fixture-course"
    )


def result(lab: Lab, slug: str) -> TaskResult:
    return TaskResult.objects.get(enrolment_id=lab.enrolment_id, task__slug=slug)


def put_pod(standin: KubeStandIn, lab: Lab, name: str = "my-pod", **labels: str) -> None:
    standin.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": lab.namespace, "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        }
    )


def set_phase(standin: KubeStandIn, lab: Lab, phase: str, name: str = "my-pod") -> None:
    standin.set_status("v1", "Pod", name, lab.namespace, {"phase": phase})


@pytest.fixture
def opened(people: People, trainee_lab: Lab) -> Lab:
    """The trainee's ready lab, with the first exercise opened (its page visited)."""
    assert client_for(people.trainee).get(EXERCISE).status_code == 200
    return trainee_lab


@pytest.fixture
def published(trainee_lab: Lab, cohort: Cohort) -> Any:
    """What is published to the lab's group and the cohort's, in order, read afterwards."""
    layer = get_channel_layer()
    channels = {}
    for group in (f"lab.{trainee_lab.pk}", f"cohort.{cohort.pk}"):
        channels[group] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channels[group])
    messages: list[dict] = []

    async def drain() -> None:
        for group, channel in channels.items():
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), 0.05)
                except TimeoutError:
                    break
                messages.append({"group": group, **message["result"]})

    class Published(list):
        def read(self) -> list[dict]:
            async_to_sync(drain)()
            out = list(messages)
            messages.clear()
            return out

    return Published()


# -- which tasks are judged -------------------------------------------------------------------


def test_it_judges_only_the_tasks_of_exercises_the_trainee_opened(
    people: People, trainee_lab: Lab
) -> None:
    assert progress.labs_to_watch() == []

    client_for(people.trainee).get(EXERCISE)

    (work,) = progress.labs_to_watch()
    assert work.namespace == trainee_lab.namespace
    assert [t.key for t in work.tasks] == ["first-pod/create-pod", "first-pod/label-pod"]
    assert work.kinds == {"Pod"}
    assert set(TaskResult.objects.values_list("state", flat=True)) == {"pending"}


def test_it_opens_an_exercise_once(people: People, trainee_lab: Lab) -> None:
    client = client_for(people.trainee)
    client.get(EXERCISE)
    opened_at = list(TaskResult.objects.values_list("opened_at", flat=True))

    client.get(EXERCISE)

    assert list(TaskResult.objects.values_list("opened_at", flat=True)) == opened_at
    assert TaskResult.objects.count() == 2


def test_it_judges_nothing_of_instructors_or_of_labs_that_are_not_ready(
    people: People, trainee_lab: Lab
) -> None:
    client_for(people.instructor).get(EXERCISE)
    assert TaskResult.objects.count() == 0

    client_for(people.trainee).get(EXERCISE)
    Lab.objects.filter(pk=trainee_lab.pk).update(state=Lab.State.FAILED)
    assert progress.labs_to_watch() == []
    assert progress.check_lab(trainee_lab.pk) == []


def test_it_stops_judging_when_the_cohort_is_over_or_the_trainee_removed(
    people: People, opened: Lab, cohort: Cohort
) -> None:
    Enrolment.objects.filter(pk=opened.enrolment_id).update(state=Enrolment.State.REMOVED)
    assert progress.labs_to_watch() == []

    Enrolment.objects.filter(pk=opened.enrolment_id).update(state=Enrolment.State.ACTIVE)
    Cohort.objects.filter(pk=cohort.pk).update(
        starts_at=cohort.starts_at.replace(year=2020), ends_at=cohort.ends_at.replace(year=2020)
    )
    assert progress.labs_to_watch() == []


# -- judging through the API ------------------------------------------------------------------


def test_it_records_the_difference_until_the_task_passes_and_keeps_the_pass(
    opened: Lab, standin: KubeStandIn, published: Any
) -> None:
    progress.check_lab(opened.pk)
    create = result(opened, "create-pod")
    assert create.state == "failing"
    assert create.details == [
        {"check": "Pod my-pod exists and its status.phase is Running", "state": "failing",
         "differences": ["Pod my-pod does not exist"]},
    ]  # fmt: skip
    assert create.passed_at is None

    standin.auto_ready_after = None  # the pod stays Pending until its status is set
    put_pod(standin, opened)
    set_phase(standin, opened, "Pending")
    progress.check_lab(opened.pk)
    assert result(opened, "create-pod").details[0]["differences"] == [
        "Pod my-pod: status.phase is Pending, want Running"
    ]

    set_phase(standin, opened, "Running")
    changed = progress.check_lab(opened.pk)
    create = result(opened, "create-pod")
    assert [r.task.slug for r in changed] == ["create-pod"]
    assert create.state == "passed"
    assert create.details[0]["differences"] == []
    passed_at = create.passed_at
    assert passed_at is not None

    standin.delete("v1", "Pod", "my-pod", opened.namespace)
    progress.check_lab(opened.pk)
    create = result(opened, "create-pod")
    assert create.state == "failing"  # the live state follows the lab ...
    assert create.passed_at == passed_at  # ... and the pass stays on record
    assert create.evaluations == 4

    states = [(m["group"], m["task"], m["state"]) for m in published.read()]
    lab_group = f"lab.{opened.pk}"
    assert [s for s in states if s[0] == lab_group] == [
        (lab_group, "first-pod/create-pod", "failing"),
        (lab_group, "first-pod/label-pod", "failing"),
        (lab_group, "first-pod/create-pod", "failing"),
        (lab_group, "first-pod/create-pod", "passed"),
        (lab_group, "first-pod/create-pod", "failing"),
    ]
    assert len(states) == 10  # the same to the cohort's group


def test_it_records_nothing_new_when_nothing_changed(opened: Lab, published: Any) -> None:
    progress.check_lab(opened.pk)
    published.read()
    changed_at = result(opened, "create-pod").changed_at

    assert progress.check_lab(opened.pk) == []

    assert published.read() == []
    assert result(opened, "create-pod").changed_at == changed_at
    assert result(opened, "create-pod").evaluations == 2


def test_it_records_an_api_error_as_an_error_with_the_message(
    opened: Lab, standin: KubeStandIn
) -> None:
    standin.fail("GET", f"/namespaces/{opened.namespace}/pods$", 403, message="pods is forbidden")

    progress.check_lab(opened.pk)

    create = result(opened, "create-pod")
    assert create.state == "error"
    assert create.details[0]["differences"] == [
        "cannot read Pods: list Pod: pods is forbidden (HTTP 403)"
    ]


def test_it_judges_one_task_when_asked_to(opened: Lab, standin: KubeStandIn) -> None:
    progress.check_lab(opened.pk, [task("label-pod").pk])

    assert result(opened, "label-pod").state == "failing"
    assert result(opened, "create-pod").state == "pending"


# -- gated exercises --------------------------------------------------------------------------


def test_it_judges_a_gated_task_only_once_the_one_before_passed(
    opened: Lab, standin: KubeStandIn
) -> None:
    Exercise.objects.filter(slug="first-pod").update(gated=True)
    standin.auto_ready_after = None
    put_pod(standin, opened, "other", tier="web")  # label-pod would pass already

    progress.check_lab(opened.pk)
    assert result(opened, "create-pod").state == "failing"
    assert result(opened, "label-pod").state == "pending"  # locked: not judged
    assert result(opened, "label-pod").evaluations == 0

    put_pod(standin, opened)
    set_phase(standin, opened, "Running")
    progress.check_lab(opened.pk)
    assert result(opened, "create-pod").state == "passed"
    assert result(opened, "label-pod").state == "passed"  # unlocked and judged in one go


# -- content re-syncs -------------------------------------------------------------------------


def test_it_keeps_results_over_a_resync_and_judges_changed_checks_again(
    opened: Lab, standin: KubeStandIn, content_dir: Path
) -> None:
    put_pod(standin, opened)
    progress.check_lab(opened.pk)
    assert result(opened, "create-pod").state == "passed"
    passed_at = result(opened, "create-pod").passed_at

    sync_course(content_dir)  # unchanged content
    assert result(opened, "create-pod").state == "passed"

    module = content_dir / "day-1" / "01-pods.md"
    module.write_text(module.read_text().replace("expect: {phase: Running}", "all_ready: true"))
    _, report = sync_course(content_dir)
    assert report is not None
    assert report.changes["task results to judge again"] == 1
    create = result(opened, "create-pod")
    assert (create.state, create.details, create.passed_at) == ("pending", [], passed_at)
    assert result(opened, "label-pod").state == "failing"  # its checks did not change

    (work,) = progress.labs_to_watch()
    assert work.tasks[0].checks[0].all_ready  # what is judged next is the new check
    progress.check_lab(opened.pk)
    assert result(opened, "create-pod").details[0]["check"] == "Pod my-pod exists and it is ready"


# -- hints and solutions ----------------------------------------------------------------------


def test_it_records_the_first_opening_of_a_hint_and_of_a_solution(
    people: People, opened: Lab
) -> None:
    client = client_for(people.trainee)
    url = EXERCISE + "tasks/create-pod/{}/opened/"

    assert client.post(url.format("hint")).status_code == 204
    first = result(opened, "create-pod").hint_opened_at
    assert first is not None
    assert result(opened, "create-pod").solution_opened_at is None
    assert client.post(url.format("hint")).status_code == 204
    assert result(opened, "create-pod").hint_opened_at == first
    assert client.post(url.format("solution")).status_code == 204
    assert result(opened, "create-pod").solution_opened_at is not None
    assert client.post(url.format("answer")).status_code == 404
    assert client.get(url.format("hint")).status_code == 405


# -- the content test's harness ---------------------------------------------------------------


def test_it_judges_a_task_against_a_labs_objects_after_its_solution(
    trainee_lab: Lab, standin: KubeStandIn
) -> None:
    create = task("create-pod")
    kinds = progress.kinds_for(create)
    assert kinds == {"Pod"}
    assert progress.judge(create, progress.objects_for(trainee_lab, kinds)).state == "failing"

    # The task's solution, as the trainee would apply it: the manifest of the solution.
    put_pod(standin, trainee_lab)

    outcome = progress.judge(create, progress.objects_for(trainee_lab, kinds))
    assert outcome.state == "passed", outcome.details()
    assert progress.judge(create, Snapshot({}, {"Pod": "unreachable"})).state == "error"


# -- the sweep --------------------------------------------------------------------------------


def test_it_sweeps_the_labs_of_running_cohorts_through_the_api(
    opened: Lab, standin: KubeStandIn, cohort: Cohort
) -> None:
    put_pod(standin, opened)
    standin.reset_requests()

    assert tasks.sweep_checks() == [cohort.pk]  # the cohort's sweep ran too (eager here)

    assert result(opened, "create-pod").state == "passed"
    assert ("GET", f"/api/v1/namespaces/{opened.namespace}/pods", 200) in standin.requests

    Cohort.objects.filter(pk=cohort.pk).update(
        starts_at=cohort.starts_at.replace(year=2020), ends_at=cohort.ends_at.replace(year=2020)
    )
    assert tasks.sweep_checks() == []
    assert progress.sweep_cohort(cohort.pk) == 0


def test_it_sweeps_on_when_a_cluster_cannot_be_reached(opened: Lab, cohort: Cohort) -> None:
    cluster = opened.cluster
    cluster.set_kubeconfig("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    cluster.save()

    progress.sweep_cohort(cohort.pk)

    create = result(opened, "create-pod")
    assert create.state == "error"
    assert create.details[0]["differences"][0].startswith("cannot read Pods: cluster 'stand-in'")
