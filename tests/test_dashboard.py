"""The instructor's class dashboard: what the grid holds (states, explanations, marks, labs,
terminals, current exercise, invites), who is stuck and in which order rows come, the day
shown, filters, links to it, and the fixed number of queries at two sizes."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from courseware import dashboard
from courseware.models import (
    Cohort,
    Enrolment,
    Exercise,
    HelpRequest,
    Module,
    Task,
    TaskResult,
)
from labs.models import Cluster, Lab
from labs.terminal import activity
from tests.factories import People, client_for, enrol

pytestmark = pytest.mark.django_db

FAILING_DETAILS = [
    {"check": "Pod my-pod exists and its status.phase is Running", "state": "failing",
     "differences": ["Pod my-pod: status.phase is Pending, want Running"]},
]  # fmt: skip


def task(key: str) -> Task:
    exercise, slug = key.split("/")
    return Task.objects.get(
        exercise__course__slug="fixture-course", exercise__slug=exercise, slug=slug
    )


def put_result(
    enrolment: Enrolment, key: str, state: str, minutes_ago: float = 0, **fields: object
) -> TaskResult:
    """A result of the trainee's, as the check engine would have recorded it."""
    changed = timezone.now() - dt.timedelta(minutes=minutes_ago)
    values = {"state": state, "changed_at": changed, "opened_at": changed, **fields}
    if state == "failing":
        values.setdefault("details", FAILING_DETAILS)
    if state == "passed":
        values.setdefault("passed_at", changed)
    result, _ = TaskResult.objects.update_or_create(
        enrolment=enrolment, task=task(key), defaults=values
    )
    return result


def typed(lab: Lab, minutes_ago: float, connected: bool = True) -> None:
    """The trainee typed in their terminal ``minutes_ago``, as the terminal records it."""
    async_to_sync(activity.record)(
        lab.pk, 1, last_input=time.time() - 60 * minutes_ago, connected=connected
    )


def lab_for(enrolment: Enrolment, state: str = Lab.State.READY, **fields: object) -> Lab:
    cluster, _ = Cluster.objects.get_or_create(name="nowhere")
    return Lab.objects.create(
        enrolment=enrolment,
        cluster=cluster,
        namespace=f"lab-{enrolment.pk}",
        state=state,
        **fields,
    )


@pytest.fixture(autouse=True)
def no_activity() -> None:
    from django.core.cache import cache

    cache.clear()


def row_of(html: str, name: str) -> str:
    match = re.search(
        rf'<tr class="trainee-row[^"]*"[^>]*>(?:(?!</tr>).)*{name}.*?</tr>', html, re.S
    )
    assert match, f"no row of {name}"
    return match.group(0)


def dashboard_page(people: People, cohort: Cohort, query: str = "") -> str:
    response = client_for(people.instructor).get(
        reverse("courseware:dashboard", args=[cohort.slug]) + query
    )
    assert response.status_code == 200
    return response.text


# -- the grid ---------------------------------------------------------------------------------


def test_it_shows_a_cell_per_trainee_and_task_coloured_by_state(
    people: People, cohort: Cohort
) -> None:
    tina = Enrolment.objects.get(trainee=people.trainee)
    (una,) = enrol(cohort, "una_u")
    put_result(tina, "first-pod/create-pod", "passed", hint_opened_at=timezone.now())
    put_result(tina, "first-pod/label-pod", "failing", solution_opened_at=timezone.now())
    put_result(una, "first-pod/create-pod", "error", details=[
        {"check": "Pod my-pod exists", "state": "error",
         "differences": ["cannot read Pods: pods is forbidden (HTTP 403)"]}])  # fmt: skip
    put_result(una, "first-pod/label-pod", "pending")

    html = dashboard_page(people, cohort)

    assert "Your first pod" in html
    assert "Your first service" in html
    tina_row, una_row = row_of(html, "Tina"), row_of(html, "Una")
    cells = dict(re.findall(r'<td class="cell" data-task="([^"]+)" data-state="(\w+)"', tina_row))
    assert cells == {
        "first-pod/create-pod": "passed",
        "first-pod/label-pod": "failing",
        "first-service/create-service": "none",  # not opened: no result row
    }
    assert re.findall(r'data-state="(\w+)"', una_row)[-3:] == ["error", "pending", "none"]
    # The explanation on hover: the failing check's sentence and what differs, and the time.
    label = re.search(
        r'data-task="first-pod/label-pod" data-state="failing" title="([^"]*)"', tina_row
    )
    assert label is not None
    assert "Not yet\nPod my-pod exists and its status.phase is Running" in label.group(1)
    assert "status.phase is Pending, want Running" in label.group(1)
    assert "Changed " in label.group(1)
    assert "Solution opened" in label.group(1)
    assert (
        'data-state="passed" title="Create a pod named my-pod running nginx&#10;Passed' in tina_row
    )
    # Opened hints and solutions are marked with a glyph.
    assert '<span class="mark">h</span></td>' in tina_row
    assert '<span class="mark">s</span></td>' in tina_row
    assert "cannot read Pods: pods is forbidden (HTTP 403)" in una_row
    assert '<td class="col-info" data-region="passed">1/3</td>' in tina_row


def test_it_shows_each_trainees_lab_terminal_exercise_and_invite(
    people: People, cohort: Cohort
) -> None:
    tina = Enrolment.objects.get(trainee=people.trainee)
    una, vic, _wes = enrol(cohort, "una_u", "vic_v", "wes_w")
    Enrolment.objects.filter(pk=una.pk).update(
        state=Enrolment.State.INVITED, invited_at=timezone.now(), accepted_at=None
    )
    Enrolment.objects.filter(pk=tina.pk).update(accepted_at=timezone.now())
    lab = lab_for(tina)
    lab_for(una, Lab.State.PROVISIONING, steps_done=3, steps_total=12)
    lab_for(vic, Lab.State.FAILED, last_error="the cluster said no")
    typed(lab, minutes_ago=1)
    put_result(tina, "first-pod/create-pod", "passed", minutes_ago=30)
    put_result(tina, "first-service/create-service", "failing", minutes_ago=2)

    html = dashboard_page(people, cohort)

    tina_row = row_of(html, "Tina")
    assert 'data-connected="yes"' in tina_row
    assert "last input" in tina_row
    assert 'data-lab-state="ready"' in tina_row
    assert 'title="Your first service">Your first service</td>' in tina_row  # changed last
    assert 'data-invite="active"' in tina_row
    assert ">accepted<" in tina_row
    una_row = row_of(html, "Una")
    assert '<progress max="100" value="25">25 %</progress>' in una_row
    assert 'data-connected="no"' in una_row
    assert "no input yet" in una_row
    assert ">invited<" in una_row
    assert "–</td>" in una_row
    assert "Lab: Failed: the cluster said no" in row_of(html, "Vic")
    assert 'data-lab-state="none"' in row_of(html, "Wes")


def test_it_shows_the_days_tasks_today_and_another_day_or_the_whole_course(
    people: People, cohort: Cohort
) -> None:
    Exercise.objects.filter(slug="first-service").update(
        module=Module.objects.create(
            course=cohort.course, day=cohort.course.days.get(slug="backup"), slug="extra",
            title="Extra", position=0, source_path="x.md",
        )
    )  # fmt: skip

    today = dashboard_page(people, cohort)
    backup = dashboard_page(people, cohort, "?day=2")
    whole = dashboard_page(people, cohort, "?scope=all")

    assert '<h1>Day I <span class="badge badge-today">Today</span></h1>' in today
    assert "first-pod/create-pod" in today
    assert "first-service/create-service" not in today
    assert "<h1>Backup</h1>" in backup
    assert "first-pod/create-pod" not in backup
    assert "first-service/create-service" in backup
    assert "<h1>The whole course</h1>" in whole
    assert "first-pod/create-pod" in whole
    assert "first-service/create-service" in whole


def test_it_shows_the_whole_course_when_the_cohort_does_not_run_today(
    people: People, cohort: Cohort
) -> None:
    Cohort.objects.filter(pk=cohort.pk).update(
        starts_at=cohort.starts_at + dt.timedelta(days=10),
        ends_at=cohort.ends_at + dt.timedelta(days=10),
    )

    grid = dashboard.build(Cohort.objects.get(pk=cohort.pk))

    assert grid.day is None
    assert [group.slug for group in grid.groups] == ["first-pod", "first-service"]


def test_it_shows_the_whole_course_on_a_day_without_tasks_unless_that_day_is_asked_for(
    people: People, cohort: Cohort
) -> None:
    backup = cohort.course.days.get(slug="backup")
    Module.objects.filter(course=cohort.course).update(day=backup)  # Day I: talks only

    grid = dashboard.build(cohort)
    asked = dashboard.build(cohort, day=1)

    assert grid.day is None
    assert [group.slug for group in grid.groups] == ["first-pod", "first-service"]
    assert asked.day is not None
    assert asked.day.title == "Day I"
    assert asked.groups == []


# -- stuck ------------------------------------------------------------------------------------


def test_it_counts_a_failing_task_without_input_for_n_minutes_as_stuck(
    people: People, cohort: Cohort, settings: Settings
) -> None:
    settings.STUCK_AFTER_MINUTES = 5
    tina = Enrolment.objects.get(trainee=people.trainee)
    una, vic, wes, xia = enrol(cohort, "una_u", "vic_v", "wes_w", "xia_x")
    # Tina: failing for 20 minutes, typed 8 minutes ago: stuck since she typed.
    put_result(tina, "first-pod/create-pod", "failing", minutes_ago=20)
    typed(lab_for(tina), minutes_ago=8)
    # Una: failing for 12 minutes and never typed: stuck since her result changed.
    put_result(una, "first-pod/create-pod", "failing", minutes_ago=12)
    # Vic: failing for 30 minutes but typing right now: not stuck.
    put_result(vic, "first-pod/create-pod", "failing", minutes_ago=30)
    typed(lab_for(vic), minutes_ago=0.2)
    # Wes: an error for 6 minutes, no terminal: stuck (an error counts like a failure).
    put_result(wes, "first-pod/create-pod", "error", minutes_ago=6)
    # Xia: failing for 3 minutes only: not yet.
    put_result(xia, "first-pod/create-pod", "failing", minutes_ago=3)
    # Tina's other task passed long ago: a pass is no trouble.
    put_result(tina, "first-pod/label-pod", "passed", minutes_ago=40)

    grid = dashboard.build(cohort)

    stuck = {t.name: t.stuck for t in grid.trainees}
    assert stuck == {"Tina": True, "Una": True, "Vic": False, "Wes": True, "Xia": False}
    # Stuck first, the longest stuck at the top; then everyone else by name.
    assert [t.name for t in grid.trainees] == ["Una", "Tina", "Wes", "Vic", "Xia"]
    tina_row = next(t for t in grid.trainees if t.name == "Tina")
    assert tina_row.last_input is not None
    assert tina_row.stuck_since == tina_row.last_input
    html = dashboard_page(people, cohort)
    assert 'class="trainee-row is-stuck"' in row_of(html, "Una")
    assert 'class="trainee-row"' in row_of(html, "Vic")

    settings.STUCK_AFTER_MINUTES = 10
    assert {t.name for t in dashboard.build(cohort).trainees if t.stuck} == {"Una"}


def test_it_sorts_by_progress_and_name_and_filters_by_name_and_stuck(
    people: People, cohort: Cohort
) -> None:
    tina = Enrolment.objects.get(trainee=people.trainee)
    una, vic = enrol(cohort, "una_u", "vic_v")
    put_result(tina, "first-pod/create-pod", "passed")
    put_result(una, "first-pod/create-pod", "passed")
    put_result(una, "first-pod/label-pod", "passed")
    put_result(vic, "first-pod/create-pod", "failing", minutes_ago=60)
    grid = dashboard.build(cohort)

    assert [t.name for t in dashboard.order(grid.trainees, "progress")] == ["Vic", "Tina", "Una"]
    assert [t.name for t in dashboard.order(grid.trainees, "-progress")] == ["Una", "Tina", "Vic"]
    assert [t.name for t in dashboard.order(grid.trainees, "name")] == ["Tina", "Una", "Vic"]
    assert [t.name for t in dashboard.matching(grid.trainees, "UN")] == ["Una"]
    assert [t.name for t in dashboard.matching(grid.trainees, "tom@")] == []
    assert [t.name for t in dashboard.matching(grid.trainees, only_stuck=True)] == ["Vic"]

    html = dashboard_page(people, cohort, "?sort=name&stuck=1")
    assert "hidden" in row_of(html, "Tina").split(">")[0]
    assert "hidden" not in row_of(html, "Vic").split(">")[0]
    names = re.findall(r'data-action="trainee">(\w+)</button>', html)
    assert names == ["Tina", "Una", "Vic"]


def test_it_leaves_removed_trainees_out(people: People, cohort: Cohort) -> None:
    (una,) = enrol(cohort, "una_u")
    Enrolment.objects.filter(pk=una.pk).update(state=Enrolment.State.REMOVED)

    assert [t.name for t in dashboard.build(cohort).trainees] == ["Tina"]


# -- the snapshot the websocket sends ----------------------------------------------------------


def test_it_puts_every_result_trainee_and_hand_into_the_snapshot(
    people: People, cohort: Cohort
) -> None:
    tina = Enrolment.objects.get(trainee=people.trainee)
    put_result(tina, "first-pod/create-pod", "failing", minutes_ago=10)
    put_result(tina, "first-service/create-service", "passed")
    HelpRequest.objects.create(
        enrolment=tina,
        exercise=task("first-pod/create-pod").exercise,
        task=task("first-pod/create-pod"),
    )

    snapshot = dashboard.snapshot(dashboard.build(cohort))

    assert snapshot["type"] == "snapshot"
    assert snapshot["stuck_after_minutes"] == 5
    (trainee,) = snapshot["trainees"]
    assert trainee["enrolment"] == tina.pk
    assert trainee["stuck"] is True
    assert trainee["lab"]["state"] == "none"
    assert trainee["terminal"] == {"connected": False, "last_input": None}
    assert {r["task"]: r["state"] for r in snapshot["results"]} == {
        "first-pod/create-pod": "failing",
        "first-service/create-service": "passed",
    }
    (hand,) = snapshot["help"]
    assert hand["trainee"] == "Tina"
    assert hand["exercise_title"] == "Your first pod"
    assert hand["failing"] == (
        "Pod my-pod exists and its status.phase is Running: "
        "Pod my-pod: status.phase is Pending, want Running"
    )
    assert snapshot["exercises"] == {
        "first-pod": "Your first pod",
        "first-service": "Your first service",
    }


# -- links to it ------------------------------------------------------------------------------


def test_it_links_the_dashboard_for_its_instructors_and_admins_only(
    people: People, cohort: Cohort
) -> None:
    url = reverse("courseware:dashboard", args=[cohort.slug])
    link = f'<a class="dashboard-link" href="{url}">Class dashboard</a>'

    assert link in client_for(people.instructor).get("/").text
    assert link in client_for(people.instructor).get(cohort.get_absolute_url()).text
    assert link in client_for(people.admin).get("/").text
    assert link in client_for(people.admin).get(cohort.get_absolute_url()).text
    assert link not in client_for(people.trainee).get("/").text
    assert link not in client_for(people.trainee).get(cohort.get_absolute_url()).text
    assert link not in client_for(people.other_instructor).get("/").text


# -- a fixed number of queries ------------------------------------------------------------------


def grow(cohort: Cohort, trainees: int, exercises: int, tasks_each: int) -> None:
    """More trainees and tasks on today's day, each trainee with a lab, terminal activity,
    a result for every task (some failing, some with hints), and a raised hand."""
    module = Module.objects.get(course=cohort.course, slug="pods")
    made = []
    for number in range(exercises):
        exercise = Exercise.objects.create(
            course=cohort.course, module=module, slug=f"extra-{number}", title=f"Extra {number}",
            minutes=5, position=10 + number,
        )  # fmt: skip
        made += [
            Task.objects.create(exercise=exercise, slug=f"t{n}", title=f"Task {n}", position=n)
            for n in range(tasks_each)
        ]
    enrolments = enrol(cohort, *(f"trainee_{cohort.slug}_{n:03d}" for n in range(trainees)))
    for enrolment in enrolments:
        typed(lab_for(enrolment), minutes_ago=2)
        TaskResult.objects.bulk_create(
            TaskResult(
                enrolment=enrolment, task=t, state="failing" if n % 3 else "passed",
                details=FAILING_DETAILS if n % 3 else [], hint_opened_at=timezone.now(),
                passed_at=None if n % 3 else timezone.now(),
            )
            for n, t in enumerate(made)
        )  # fmt: skip
        HelpRequest.objects.create(enrolment=enrolment, exercise=made[0].exercise)


def test_it_builds_and_serves_the_grid_in_the_same_queries_at_two_sizes(
    people: People, cohort: Cohort, other_cohort: Cohort
) -> None:
    other_cohort.instructors.add(people.instructor)
    grow(cohort, trainees=3, exercises=1, tasks_each=2)
    big = Cohort.objects.get(pk=other_cohort.pk)
    grow(big, trainees=30, exercises=6, tasks_each=5)
    client = client_for(people.instructor)

    def queries(of: Cohort) -> tuple[int, int, int]:
        # Each count is taken at once: the captured slice is read from the connection's
        # log, which a later request may clear.
        with CaptureQueriesContext(connection) as built:
            grid = dashboard.build(of)
            dashboard.snapshot(grid)
        building = len(built)
        with CaptureQueriesContext(connection) as page:
            response = client.get(reverse("courseware:dashboard", args=[of.slug]))
            assert response.status_code == 200
        serving = len(page)
        with CaptureQueriesContext(connection) as export:
            response = client.get(reverse("courseware:dashboard_export", args=[of.slug]))
            assert response.content.startswith(b"trainee,email,")
        exporting = len(export)
        assert len(grid.trainees) > 1
        assert grid.hands
        return building, serving, exporting

    small, large = queries(cohort), queries(big)

    assert small == large
    assert small[0] == 5  # days, tasks, enrolments with trainees and labs, results, hands
    assert dashboard.build(big).columns == 30 + 3
