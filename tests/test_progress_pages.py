"""The pages' side of the live checks: each task's state and what is missing on the exercise
page, "Check now" and its rate limit, gated tasks, and the cohort page's progress."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courseware import progress
from courseware.models import Cohort, Course, Enrolment, Exercise, TaskResult
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import People, client_for, make_cohort

pytestmark = pytest.mark.django_db

EXERCISE = "/courses/fixture-course/exercises/first-pod/"
CHECK = EXERCISE + "tasks/{}/check/"


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    cache.clear()


def put_pod(standin: KubeStandIn, lab: Lab, name: str = "my-pod", **labels: str) -> None:
    standin.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": lab.namespace, "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        }
    )


def task_item(html: str, slug: str) -> str:
    match = re.search(rf'<li class="task[^"]*" id="task-{slug}".*?\n      </li>', html, re.S)
    assert match, f"no task {slug}"
    return match.group(0)


def page(people: People) -> str:
    return client_for(people.trainee).get(EXERCISE).text


def test_it_shows_a_new_exercises_tasks_as_not_started(people: People, trainee_lab: Lab) -> None:
    html = page(people)

    assert 'data-region="task-state" data-state="pending">Not started</span>' in html
    assert f'data-progress-socket="/ws/labs/{trainee_lab.pk}/progress/"' in html
    assert "Check now" in html
    assert (
        'data-opened-url="/courses/fixture-course/exercises/first-pod/tasks/create-pod/hint/opened/"'
        in html
    )
    assert "js/progress.js" in html


def test_it_shows_what_is_missing_then_the_pass_and_keeps_it(
    people: People, trainee_lab: Lab, standin: KubeStandIn
) -> None:
    page(people)
    progress.check_lab(trainee_lab.pk)

    create = task_item(page(people), "create-pod")
    assert 'data-state="failing">Not yet</span>' in create
    assert (
        '<li data-check="0" data-state="failing">Pod my-pod exists and its status.phase is Running'
        in create
    )
    assert '<ul class="check-differences"><li>Pod my-pod does not exist</li></ul>' in create

    put_pod(standin, trainee_lab)
    progress.check_lab(trainee_lab.pk)
    create = task_item(page(people), "create-pod")
    assert 'data-state="passed">Passed</span>' in create
    assert "check-differences" not in create

    standin.delete("v1", "Pod", "my-pod", trainee_lab.namespace)
    progress.check_lab(trainee_lab.pk)
    create = task_item(page(people), "create-pod")
    assert 'data-state="failing">Not yet</span>' in create
    assert 'data-region="task-passed">Passed at ' in create


def test_it_shows_an_error_with_its_message(
    people: People, trainee_lab: Lab, standin: KubeStandIn
) -> None:
    page(people)
    standin.fail("GET", "/pods$", 503, times=10, message="etcd is on fire")

    progress.check_lab(trainee_lab.pk)

    create = task_item(page(people), "create-pod")
    assert 'data-state="error">Error</span>' in create
    assert "cannot read Pods: list Pod: etcd is on fire (HTTP 503)" in create


def test_it_shows_no_state_and_no_button_to_an_instructor(people: People, trainee_lab: Lab) -> None:
    html = client_for(people.instructor).get(EXERCISE).text

    assert 'data-state="unknown">Not checked yet</span>' in html
    assert "Check now" not in html
    assert "data-progress-socket" not in html
    assert "data-opened-url" not in html


def test_it_checks_now_when_asked_and_not_again_at_once(
    people: People, trainee_lab: Lab, standin: KubeStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(people.trainee)
    page(people)
    put_pod(standin, trainee_lab)

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(CHECK.format("create-pod"), HTTP_ACCEPT="application/json")
    again = client.post(CHECK.format("create-pod"), HTTP_ACCEPT="application/json")
    other = client.post(CHECK.format("label-pod"), HTTP_ACCEPT="application/json")

    assert (first.status_code, first.json()) == (202, {"message": "Checking …"})
    result = TaskResult.objects.get(task__slug="create-pod", enrolment_id=trainee_lab.enrolment_id)
    assert result.state == "passed"  # judged through the API, in the queued task
    assert again.status_code == 429
    assert re.fullmatch(r"You asked a moment ago: try again in [123] s .*", again.json()["message"])
    assert other.status_code == 202  # the limit is per task


def test_it_limits_each_trainee_on_their_own(people: People, trainee_lab: Lab) -> None:
    assert progress.wait_before_checking(people.trainee.pk, 1) == 0
    assert progress.wait_before_checking(people.trainee.pk, 1) > 0
    assert progress.wait_before_checking(people.other_trainee.pk, 1) == 0


def test_it_says_when_the_lab_is_not_ready(people: People, trainee_lab: Lab) -> None:
    Lab.objects.filter(pk=trainee_lab.pk).update(state=Lab.State.PROVISIONING)

    response = client_for(people.trainee).post(CHECK.format("create-pod"))

    assert response.status_code == 409
    assert response.json() == {"message": "Your lab is not ready yet; checks start once it is."}
    assert "Check now" not in page(people)


def test_it_locks_a_gated_task_until_the_one_before_passed(
    people: People, trainee_lab: Lab, standin: KubeStandIn
) -> None:
    Exercise.objects.filter(slug="first-pod").update(gated=True)

    label = task_item(page(people), "label-pod")
    assert 'data-locked-by="first-pod/create-pod"' in label
    assert (
        "Locked: this task opens once “Create a pod named my-pod running nginx” has passed."
        in label
    )
    assert '<div class="task-body" hidden>' in label
    response = client_for(people.trainee).post(CHECK.format("label-pod"))
    assert response.status_code == 409
    assert response.json()["message"] == (
        "This task opens once “Create a pod named my-pod running nginx” has passed."
    )

    put_pod(standin, trainee_lab)
    progress.check_lab(trainee_lab.pk)
    label = task_item(page(people), "label-pod")
    assert "data-locked-by" not in label
    assert '<div class="task-body">' in label


# -- the cohort page --------------------------------------------------------------------------


def test_it_shows_each_exercises_passed_tasks_on_the_cohort_page(
    people: People, trainee_lab: Lab, standin: KubeStandIn, cohort: Cohort
) -> None:
    page(people)
    put_pod(standin, trainee_lab)
    progress.check_lab(trainee_lab.pk)

    html = client_for(people.trainee).get(cohort.get_absolute_url()).text

    assert 'data-region="exercise-progress" data-done="1" data-total="2">1 / 2 tasks' in html
    assert 'data-region="exercise-progress" data-done="0" data-total="1">0 / 1 task<' in html
    assert f'data-progress-socket="/ws/labs/{trainee_lab.pk}/progress/"' in html
    instructor = client_for(people.instructor).get(cohort.get_absolute_url()).text
    assert "– / 2 tasks" in instructor


def test_it_counts_progress_with_the_same_queries_however_much_there_is(
    people: People, cohort: Cohort, real_course: Course
) -> None:
    big = make_cohort(real_course, "big-class", days_from_now=-1)
    enrolment = Enrolment.objects.create(cohort=big, trainee=people.trainee)
    client = client_for(people.trainee)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(big.get_absolute_url()).status_code == 200
        return len(captured)

    before = queries()
    for exercise in Exercise.objects.filter(course=real_course, is_demo=False)[:6]:
        tasks = list(exercise.tasks.filter(retired=False))
        progress.open_exercise(enrolment, exercise, tasks)
        TaskResult.objects.filter(enrolment=enrolment, task__in=tasks[:1]).update(
            state="passed", passed_at="2026-03-02T10:00:00Z"
        )

    assert queries() == before
    assert "1 / " in client.get(big.get_absolute_url()).text
