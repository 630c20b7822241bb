"""Agenda, slide deck and exercise pages: status, key content, and a fixed number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from courseware.models import Course, Exercise, Module
from tests.factories import client_for, make_user

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_the_login(client: Client, fixture_course: Course) -> None:
    for url in ("/", fixture_course.get_absolute_url()):
        response = client.get(url)

        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_it_lists_every_course_for_an_admin(
    admin: User, fixture_course: Course, real_course: Course
) -> None:
    response = client_for(admin).get("/")

    assert response.status_code == 200
    assert f'<a href="/courses/fixture-course/">{fixture_course.title}</a>' in response.text
    assert real_course.title in response.text


def test_it_tells_a_user_without_cohorts_how_to_get_in(fixture_course: Course) -> None:
    response = client_for(make_user("walk_in")).get("/")

    assert response.status_code == 200
    assert "You are not in a cohort yet" in response.text
    assert fixture_course.title not in response.text


def test_it_shows_the_agenda_with_linked_modules(admin: User, fixture_course: Course) -> None:
    response = client_for(admin).get("/courses/fixture-course/")

    assert response.status_code == 200
    assert "<h2" in response.text
    assert "Day I" in response.text
    assert "(Backup)" in response.text
    assert '<a href="/courses/fixture-course/modules/pods/slides/">Pods</a>' in response.text
    assert '<span class="muted">Welcome</span>' in response.text
    assert 'href="/courses/fixture-course/exercises/first-pod/"' in response.text


def test_it_shows_the_real_agenda_days(admin: User, real_course: Course) -> None:
    response = client_for(admin).get(real_course.get_absolute_url())

    assert response.status_code == 200
    for day in ("Day I", "Day II", "Day III", "(Backup)"):
        assert day in response.text
    assert "kubectl" in response.text


def test_it_presents_a_module_as_a_reveal_deck(admin: User, fixture_course: Course) -> None:
    response = client_for(admin).get("/courses/fixture-course/modules/pods/slides/")

    assert response.status_code == 200
    assert response.text.count("<section data-source-line=") == 3
    assert '<aside class="notes"><p>Ask the room what' in response.text
    assert "vendor/reveal.js/reveal.js" in response.text
    assert 'href="/courses/fixture-course/#day-1"' in response.text
    assert "Exercise: Your first pod" in response.text
    assert (
        'Next: <a href="/courses/fixture-course/modules/services/slides/">Services</a>'
        in response.text
    )


def test_it_lets_the_speaker_view_frame_the_slides_and_nothing_else(
    admin: User, fixture_course: Course
) -> None:
    client = client_for(admin)

    # reveal.js's speaker view is a same-origin popup that frames the deck twice.
    slides = client.get("/courses/fixture-course/modules/pods/slides/?receiver")
    assert slides["X-Frame-Options"] == "SAMEORIGIN"
    for url in (
        "/",
        "/courses/fixture-course/",
        "/courses/fixture-course/exercises/first-pod/",
        "/accounts/login/",
    ):
        assert client.get(url)["X-Frame-Options"] == "DENY", url


def test_it_shows_an_exercise_with_collapsed_hints_and_solutions(
    admin: User, fixture_course: Course
) -> None:
    response = client_for(admin).get("/courses/fixture-course/exercises/first-pod/")

    assert response.status_code == 200
    text = response.text
    assert '<h1 id="exercise-title">Your first pod</h1>' in text
    assert 'data-task="first-pod/create-pod"' in text
    assert '<details class="hint"><summary>Hint</summary>' in text
    assert '<details class="solution"><summary>Solution</summary>' in text
    assert 'data-region="terminal"' in text
    assert 'data-region="task-state"' in text
    assert "Pod my-pod" in text  # the check, as a sentence


@pytest.mark.parametrize(
    "url",
    [
        "/courses/nope/",
        "/courses/fixture-course/modules/nope/slides/",
        "/courses/fixture-course/exercises/nope/",
    ],
)
def test_it_answers_404_for_unknown_content(admin: User, fixture_course: Course, url: str) -> None:
    assert client_for(admin).get(url).status_code == 404


def test_it_hides_retired_modules(admin: User, fixture_course: Course) -> None:
    Module.objects.filter(slug="services").update(retired=True)
    Exercise.objects.filter(slug="first-service").update(retired=True)
    client = client_for(admin)

    assert client.get("/courses/fixture-course/modules/services/slides/").status_code == 404
    assert client.get("/courses/fixture-course/exercises/first-service/").status_code == 404
    assert "/modules/services/" not in client.get("/courses/fixture-course/").text


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_it_runs_the_same_queries_whatever_the_size_of_the_content(
    admin: User, fixture_course: Course, real_course: Course
) -> None:
    small_module = Module.objects.get(course=fixture_course, slug="services")
    big_module = Module.objects.filter(course=real_course).order_by("-pk").first()
    assert big_module is not None
    small_exercise = Exercise.objects.get(slug="first-service")
    big_exercise = max(Exercise.objects.filter(course=real_course), key=lambda e: e.tasks.count())
    client = client_for(admin)

    assert _queries(client, fixture_course.get_absolute_url()) == _queries(
        client, real_course.get_absolute_url()
    )
    assert _queries(client, small_module.get_absolute_url()) == _queries(
        client, big_module.get_absolute_url()
    )
    assert _queries(client, small_exercise.get_absolute_url()) == _queries(
        client, big_exercise.get_absolute_url()
    )
    assert small_exercise.tasks.count() < big_exercise.tasks.count()
