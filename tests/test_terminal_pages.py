"""Where the terminal shows: the exercise page by the state of the trainee's lab, the
instructor's read-only view of a trainee's terminal, and the cohort page's links to it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from courseware.models import Cohort, Enrolment, Exercise
from labs.models import Cluster, Lab
from tests.factories import People, client_for

pytestmark = pytest.mark.django_db


def lab_in(state: Lab.State, cohort: Cohort, people: People) -> Lab:
    cohort.cluster = Cluster.objects.create(name="a cluster")
    cohort.save()
    enrolment = Enrolment.objects.get(cohort=cohort, trainee=people.trainee)
    return Lab.objects.create(enrolment=enrolment, cluster=cohort.cluster,
                              namespace="lab-spring-class-tina-1", state=state,
                              step="Role trainee", steps_done=3, steps_total=12)  # fmt: skip


def exercise_page(people: People, user: str, cohort: Cohort, **headers: str) -> str:
    exercise = Exercise.objects.get(course=cohort.course, slug="first-pod")
    response = client_for(getattr(people, user)).get(exercise.get_absolute_url(), **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_it_puts_the_terminal_beside_the_exercise_when_the_lab_is_ready(
    people: People, cohort: Cohort
) -> None:
    lab = lab_in(Lab.State.READY, cohort, people)

    page = exercise_page(people, "trainee", cohort)

    assert f'data-terminal data-lab="{lab.pk}" data-mode="write"' in page
    assert "vendor/xterm/lib/xterm.js" in page
    assert "js/terminal.js" in page


def test_it_shows_the_progress_of_a_lab_being_prepared_and_polls_for_it(
    people: People, cohort: Cohort
) -> None:
    lab_in(Lab.State.PROVISIONING, cohort, people)

    page = exercise_page(people, "trainee", cohort)
    region = exercise_page(people, "trainee", cohort, HTTP_HX_REQUEST="true",
                           QUERY_STRING="region=terminal")  # fmt: skip

    assert "Your lab is being prepared: Role trainee." in page
    assert '<progress max="100" value="25">' in page
    assert 'hx-trigger="every 3s"' in page
    assert "data-terminal " not in page
    assert region.strip().startswith('<div class="terminal-region"')
    assert "<html" not in region


def test_it_sends_a_trainee_whose_lab_failed_to_the_instructor(
    people: People, cohort: Cohort
) -> None:
    lab_in(Lab.State.FAILED, cohort, people)

    page = exercise_page(people, "trainee", cohort)

    assert "Your lab could not be prepared. Please ask your instructor" in page
    assert "data-terminal " not in page


def test_it_says_so_when_a_trainee_has_no_lab_yet(people: People, cohort: Cohort) -> None:
    page = exercise_page(people, "trainee", cohort)

    assert "You have no lab yet" in page


def test_it_gives_an_instructor_no_terminal_of_their_own(people: People, cohort: Cohort) -> None:
    lab_in(Lab.State.READY, cohort, people)

    page = exercise_page(people, "instructor", cohort)

    assert "there is no lab of yours here" in page
    assert "data-terminal " not in page


def test_it_lets_the_instructor_watch_a_trainees_terminal_read_only(
    people: People, cohort: Cohort
) -> None:
    lab = lab_in(Lab.State.READY, cohort, people)
    watch = reverse("courseware:trainee_terminal", args=[cohort.slug, lab.enrolment_id])

    cohort_page = client_for(people.instructor).get(
        reverse("courseware:cohort", args=[cohort.slug])
    )
    shadow = client_for(people.instructor).get(watch).content.decode()

    assert f'href="{watch}"' in cohort_page.content.decode()
    assert f'data-terminal data-lab="{lab.pk}" data-mode="read"' in shadow
    assert "read-only" in shadow


def test_it_shows_trainees_no_links_to_other_terminals(people: People, cohort: Cohort) -> None:
    lab_in(Lab.State.READY, cohort, people)

    page = client_for(people.trainee).get(reverse("courseware:cohort", args=[cohort.slug]))

    assert "Watch the terminal" not in page.content.decode()
