"""What an instructor does from the dashboard: reset a trainee's lab (after a confirmation
that says what it deletes), re-run their checks, resend their invite, mark a raised hand
handled; what a trainee does: raise a hand; and the CSV export with its neutralised cells.
Each action is a POST with CSRF that refuses everyone but the cohort's managers."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from courseware import progress_export
from courseware.models import Cohort, Enrolment, Exercise, HelpRequest, TaskResult
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import People, client_for, enrol, make_user

pytestmark = pytest.mark.django_db

EXERCISE = "/courses/fixture-course/exercises/first-pod/"
JSON = {"HTTP_ACCEPT": "application/json"}


def url(name: str, cohort: Cohort, *args: object) -> str:
    return reverse(f"courseware:{name}", args=[cohort.slug, *args])


def enrolment_of(people: People) -> Enrolment:
    return Enrolment.objects.get(trainee=people.trainee)


# -- reset the lab ----------------------------------------------------------------------------


def test_it_asks_before_resetting_a_lab_and_says_what_it_deletes(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    page = client_for(people.instructor).get(
        url("dashboard_reset_lab", cohort, trainee_lab.enrolment_id)
        + "?next=/cohorts/spring-class/dashboard/%3Fday%3D2"
    )

    assert page.status_code == 200
    assert "Reset the lab of Tina?" in page.text
    assert f"The namespace {trainee_lab.namespace} is deleted with everything in it" in page.text
    assert "Their check results and progress are kept" in page.text
    assert 'name="csrfmiddlewaretoken"' in page.text
    assert 'value="/cohorts/spring-class/dashboard/?day=2"' in page.text
    # A "next" that leads elsewhere is not followed.
    elsewhere = client_for(people.instructor).get(
        url("dashboard_reset_lab", cohort, trainee_lab.enrolment_id) + "?next=https://evil.example/"
    )
    assert "evil.example" not in elsewhere.text


def test_it_resets_a_trainees_lab_when_confirmed(
    people: People,
    cohort: Cohort,
    trainee_lab: Lab,
    standin: KubeStandIn,
    settings: Settings,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = 1  # threads would not see this test's transaction
    standin.put({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "work", "namespace": trainee_lab.namespace}})  # fmt: skip
    before = trainee_lab.namespace_uid

    instructor = client_for(people.instructor)
    with django_capture_on_commit_callbacks(execute=True):
        response = instructor.post(
            url("dashboard_reset_lab", cohort, trainee_lab.enrolment_id),
            {"next": "/cohorts/spring-class/dashboard/?day=1"},
        )

    assert response.status_code == 302
    assert response["Location"] == "/cohorts/spring-class/dashboard/?day=1"
    lab = Lab.objects.get(pk=trainee_lab.pk)
    assert lab.state == Lab.State.READY
    assert lab.namespace_uid != before  # a new namespace of the same name
    assert standin.get("v1", "ConfigMap", "work", trainee_lab.namespace) is None
    page = instructor.get(response["Location"])
    assert "Resetting the lab of Tina: it is deleted and provisioned anew." in page.text


def test_it_lets_only_admins_who_may_manage_labs_reset_one(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    viewer = make_user("stan_staff", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(codename__in=["view_cohort", "view_enrolment", "view_lab"])
    )
    reset = url("dashboard_reset_lab", cohort, trainee_lab.enrolment_id)
    dashboard = url("dashboard", cohort)

    assert client_for(viewer).get(dashboard).status_code == 200  # sees the room ...
    assert "Reset the lab" not in client_for(viewer).get(dashboard).text
    assert client_for(viewer).get(reset).status_code == 403  # ... but resets nothing
    assert client_for(viewer).post(reset).status_code == 403
    assert "Reset the lab" in client_for(people.admin).get(dashboard).text
    assert client_for(people.admin).get(reset).status_code == 200


def test_it_says_why_it_cannot_reset_a_lab_without_a_cluster(
    people: People, cohort: Cohort
) -> None:
    response = client_for(people.instructor).post(
        url("dashboard_reset_lab", cohort, enrolment_of(people).pk), **JSON
    )

    assert response.status_code == 409
    assert response.json()["message"] == (
        "Spring Class has no cluster set: there is nowhere to put a lab."
    )


def test_it_refuses_every_action_to_trainees_and_other_cohorts_instructors(
    people: People, cohort: Cohort, other_cohort: Cohort
) -> None:
    enrolment = enrolment_of(people)
    hand = HelpRequest.objects.create(
        enrolment=enrolment, exercise=Exercise.objects.get(course=cohort.course, slug="first-pod")
    )
    posts = [
        url("dashboard_reset_lab", cohort, enrolment.pk),
        url("dashboard_rerun_checks", cohort, enrolment.pk),
        url("dashboard_resend_invite", cohort, enrolment.pk),
        url("help_handled", cohort, hand.pk),
    ]

    for user in (people.trainee, people.other_instructor, people.other_trainee):
        for action in posts:
            assert client_for(user).post(action).status_code == 403, (user, action)
    # An enrolment of another cohort is not found through this one.
    other = Enrolment.objects.get(trainee=people.other_trainee)
    assert (
        client_for(people.admin).post(url("dashboard_rerun_checks", cohort, other.pk)).status_code
        == 404
    )
    # Without the CSRF token a browser's post is refused.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(people.instructor)
    assert strict.post(url("dashboard_rerun_checks", cohort, enrolment.pk)).status_code == 403
    assert strict.get(url("dashboard_rerun_checks", cohort, enrolment.pk)).status_code == 405
    assert HelpRequest.objects.get(pk=hand.pk).handled_at is None


# -- re-run the checks ------------------------------------------------------------------------


def test_it_reruns_a_trainees_checks_through_the_api(
    people: People, cohort: Cohort, trainee_lab: Lab, django_capture_on_commit_callbacks: Any
) -> None:
    client_for(people.trainee).get(EXERCISE)
    assert set(TaskResult.objects.values_list("state", flat=True)) == {"pending"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(people.instructor).post(
            url("dashboard_rerun_checks", cohort, trainee_lab.enrolment_id), **JSON
        )

    assert response.status_code == 202
    assert response.json() == {
        "message": "Checking the opened tasks of Tina; the row follows.",
        "ok": True,
    }
    assert set(TaskResult.objects.values_list("state", flat=True)) == {"failing"}


def test_it_says_why_there_is_nothing_to_check(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    client = client_for(people.instructor)
    action = url("dashboard_rerun_checks", cohort, trainee_lab.enrolment_id)

    nothing_opened = client.post(action, **JSON)
    Lab.objects.filter(pk=trainee_lab.pk).update(state=Lab.State.FAILED)
    not_ready = client.post(action, **JSON)

    assert nothing_opened.status_code == 409
    assert nothing_opened.json()["message"] == (
        "Tina has not opened an exercise yet: nothing to check."
    )
    assert not_ready.json()["message"] == "The lab of Tina is not ready (failed): nothing to check."


# -- resend the invite ------------------------------------------------------------------------


def test_it_resends_the_invite_of_a_trainee_who_has_not_accepted(
    people: People, cohort: Cohort, django_capture_on_commit_callbacks: Any
) -> None:
    (una,) = enrol(cohort, "una_u")
    Enrolment.objects.filter(pk=una.pk).update(state=Enrolment.State.INVITED)
    mail.outbox.clear()

    instructor = client_for(people.instructor)
    with django_capture_on_commit_callbacks(execute=True):
        response = instructor.post(url("dashboard_resend_invite", cohort, una.pk))

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["una_u@example.com"]
    assert Enrolment.objects.get(pk=una.pk).invited_at is not None
    page = instructor.get(response["Location"])
    assert "A new invite goes out to una_u@example.com; older links stop working." in page.text


def test_it_sends_no_invite_to_a_trainee_who_accepted_it(
    people: People, cohort: Cohort, django_capture_on_commit_callbacks: Any
) -> None:
    enrolment = enrolment_of(people)
    Enrolment.objects.filter(pk=enrolment.pk).update(accepted_at=timezone.now())
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(people.instructor).post(
            url("dashboard_resend_invite", cohort, enrolment.pk), **JSON
        )

    assert response.status_code == 409
    assert response.json()["message"].startswith("Tina accepted the invite on ")
    assert response.json()["message"].endswith(": no invite sent.")
    assert mail.outbox == []


# -- raised hands -----------------------------------------------------------------------------


def test_it_queues_a_raised_hand_once_and_lets_the_instructor_answer_it(
    people: People, cohort: Cohort, trainee_lab: Lab
) -> None:
    trainee = client_for(people.trainee)
    trainee.get(EXERCISE)  # opened: its tasks are judged
    TaskResult.objects.filter(task__slug="create-pod").update(
        state="failing",
        details=[{"check": "Pod my-pod exists and its status.phase is Running",
                  "state": "failing", "differences": ["Pod my-pod does not exist"]}],
    )  # fmt: skip
    assert (
        'data-region="help" data-exercise="first-pod" data-state="none"'
        in trainee.get(EXERCISE).text
    )

    first = trainee.post(EXERCISE + "help/")
    again = trainee.post(EXERCISE + "help/", **JSON)

    assert first.status_code == 302
    assert first["Location"] == EXERCISE + "#help"
    assert again.status_code == 200
    assert again.json()["message"] == "Your hand is up already."
    (hand,) = HelpRequest.objects.all()
    assert hand.task is not None
    assert hand.task.slug == "create-pod"
    page = trainee.get(EXERCISE).text
    assert 'data-state="open"' in page
    assert "Your hand is up (since" in page
    dashboard = client_for(people.instructor).get(url("dashboard", cohort)).text
    assert f'<li class="help-item" data-help="{hand.pk}"' in dashboard
    assert (
        '<span class="help-failing" title="Pod my-pod exists and its status.phase is Running: '
        'Pod my-pod does not exist">Pod my-pod exists'
    ) in dashboard

    handled = client_for(people.instructor).post(url("help_handled", cohort, hand.pk), **JSON)
    twice = client_for(people.admin).post(url("help_handled", cohort, hand.pk), **JSON)

    assert handled.json()["message"] == "Marked handled: Tina, Your first pod."
    assert twice.json()["message"] == "Tina's request about Your first pod was handled already."
    hand.refresh_from_db()
    assert hand.handled_by == people.instructor
    page = trainee.get(EXERCISE).text
    assert 'data-state="handled"' in page
    assert "Your request was handled at" in page
    assert "by Ivan" in page
    assert (
        f'data-help="{hand.pk}"'
        not in client_for(people.instructor).get(url("dashboard", cohort)).text
    )
    # A new question opens a new request.
    assert trainee.post(EXERCISE + "help/", **JSON).status_code == 201
    assert HelpRequest.objects.filter(handled_at__isnull=True).count() == 1


def test_it_takes_raised_hands_only_from_trainees_of_a_running_cohort(
    people: People, cohort: Cohort
) -> None:
    assert "I need help" in client_for(people.trainee).get(EXERCISE).text
    assert "I need help" not in client_for(people.instructor).get(EXERCISE).text
    assert client_for(people.instructor).post(EXERCISE + "help/", **JSON).status_code == 403

    Cohort.objects.filter(pk=cohort.pk).update(
        starts_at=cohort.starts_at.replace(year=2020), ends_at=cohort.ends_at.replace(year=2020)
    )

    assert "I need help" not in client_for(people.trainee).get(EXERCISE).text
    refused = client_for(people.trainee).post(EXERCISE + "help/", **JSON)
    assert refused.status_code == 409
    assert refused.json()["message"] == "Hands go up on exercises while your cohort runs."
    assert HelpRequest.objects.count() == 0


# -- the CSV export ---------------------------------------------------------------------------


def rows_of(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode()
    return list(csv.reader(io.StringIO(text)))


def test_it_exports_one_row_per_trainee_per_task(people: People, cohort: Cohort) -> None:
    enrolment = enrolment_of(people)
    passed = timezone.now().replace(microsecond=0)
    task = cohort.course.exercises.get(slug="first-pod").tasks.get(slug="create-pod")
    TaskResult.objects.create(
        enrolment=enrolment, task=task, state="passed", passed_at=passed, hint_opened_at=passed
    )
    (una,) = enrol(cohort, "una_u")

    response = client_for(people.instructor).get(url("dashboard_export", cohort))

    assert response["Content-Disposition"] == 'attachment; filename="spring-class-progress.csv"'
    rows = rows_of(response)
    assert rows[0] == ["trainee", "email", "exercise", "task", "state", "first passed at",
                       "hint opened at", "solution opened at"]  # fmt: skip
    assert rows[1:] == [
        ["Tina", "tina_trainee@example.com", "Your first pod",
         "Create a pod named my-pod running nginx", "passed", passed.isoformat(),
         passed.isoformat(), ""],
        ["Tina", "tina_trainee@example.com", "Your first pod", "Label the pod tier=web",
         "not opened", "", "", ""],
        ["Tina", "tina_trainee@example.com", "Your first service",
         "Create a service named web", "not opened", "", "", ""],
        ["Una", "una_u@example.com", "Your first pod",
         "Create a pod named my-pod running nginx", "not opened", "", "", ""],
        ["Una", "una_u@example.com", "Your first pod", "Label the pod tier=web",
         "not opened", "", "", ""],
        ["Una", "una_u@example.com", "Your first service", "Create a service named web",
         "not opened", "", "", ""],
    ]  # fmt: skip
    assert una.pk


def test_it_neutralises_cells_a_spreadsheet_would_run(people: People, cohort: Cohort) -> None:
    hostile = {
        "eve_e": ('=HYPERLINK("http://evil")', "x"),
        "fay_f": ("+1", "-2"),
        "gus_g": ("@SUM(A1)", ""),
        "hal_h": ("-Hal", ""),
    }
    for (first, last), enrolment in zip(hostile.values(), enrol(cohort, *hostile), strict=True):
        user = enrolment.trainee
        user.first_name, user.last_name = first, last
        user.email = "=" + user.email
        user.save()

    rows = rows_of(client_for(people.admin).get(url("dashboard_export", cohort)))

    names = {row[0] for row in rows[1:]}
    assert names == {"Tina", '\'=HYPERLINK("http://evil") x', "'+1 -2", "'@SUM(A1)", "'-Hal"}
    assert all(row[1].startswith("'=") for row in rows[1:] if row[0] != "Tina")
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    # Names cannot start with white space (they are stripped), other cells could.
    assert progress_export.neutralise("\tcmd") == "'\tcmd"
    assert progress_export.neutralise("\rcmd") == "'\rcmd"
    assert progress_export.neutralise("Tina - Trainee") == "Tina - Trainee"
