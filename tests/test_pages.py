"""Agenda, slide deck and exercise pages: status, key content, and a fixed number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from courseware.access import own_cohort
from courseware.models import Cohort, Course, Enrolment, Exercise, Module
from tests.factories import People, client_for, make_cohort, make_user

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_the_login(client: Client, fixture_course: Course) -> None:
    for url in ("/", fixture_course.get_absolute_url()):
        response = client.get(url)

        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_it_tells_that_a_username_or_an_email_address_logs_in(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert "Log in with your username or e-mail address." in response.text
    assert "Trainees log in with their e-mail address" not in response.text


def test_it_sends_browsers_asking_for_favicon_ico_to_the_icon(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])


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


def nav(html: str) -> str:
    """The exercise page's navigation."""
    return html.split('<nav class="page-nav"', 1)[1].split("</nav>", 1)[0]


def test_it_links_an_exercise_to_the_one_before_and_after(people: People) -> None:
    client = client_for(people.trainee)

    first = nav(client.get("/courses/fixture-course/exercises/first-pod/").text)
    last = nav(client.get("/courses/fixture-course/exercises/first-service/").text)

    assert 'rel="prev"' not in first
    assert 'rel="next" href="/courses/fixture-course/exercises/first-service/"' in first
    assert "Your first service" in first
    assert 'rel="prev" href="/courses/fixture-course/exercises/first-pod/"' in last
    assert 'rel="next"' not in last


def test_it_skips_retired_exercises_and_modules_between_neighbours(
    admin: User, real_course: Course
) -> None:
    order = list(
        Exercise.objects.filter(course=real_course).order_by(
            "module__day__position", "module__position", "position"
        )
    )
    first, retired, third = order[0], order[1], order[2]
    assert len({first.module_id, retired.module_id, third.module_id}) == 3
    Exercise.objects.filter(pk=retired.pk).update(retired=True)
    client = client_for(admin)

    links = nav(client.get(first.get_absolute_url()).text)
    assert f'rel="next" href="{third.get_absolute_url()}"' in links

    Module.objects.filter(pk=third.module_id).update(retired=True)
    after_third = next(e for e in order[3:] if e.module_id != third.module_id)
    links = nav(client.get(first.get_absolute_url()).text)
    assert f'rel="next" href="{after_third.get_absolute_url()}"' in links


def test_it_leads_a_trainee_and_an_instructor_back_to_their_cohort(
    people: People, cohort: Cohort
) -> None:
    for user in (people.trainee, people.instructor):
        client = client_for(user)
        exercise = client.get("/courses/fixture-course/exercises/first-pod/").text
        deck = client.get("/courses/fixture-course/modules/pods/slides/").text

        assert '<a class="page-nav-up" href="/cohorts/spring-class/">Back to Spring Class</a>' in (
            nav(exercise)
        )
        assert '<a href="/courses/fixture-course/#day-1" class="deck-back">← Agenda</a>' in deck
        assert (
            '<a href="/cohorts/spring-class/" class="deck-cohort">Back to Spring Class</a>' in deck
        )


def test_it_leads_an_admin_without_a_cohort_back_to_the_agenda(
    people: People, cohort: Cohort
) -> None:
    client = client_for(people.admin)
    exercise = client.get("/courses/fixture-course/exercises/first-service/").text
    deck = client.get("/courses/fixture-course/modules/pods/slides/").text

    assert (
        '<a class="page-nav-up" href="/courses/fixture-course/#day-1">Back to the agenda</a>'
        in nav(exercise)
    )
    assert "deck-cohort" not in deck


def test_it_picks_the_running_cohort_then_the_next_then_the_last(
    people: People, cohort: Cohort, fixture_course: Course
) -> None:
    past = make_cohort(fixture_course, "past-class", days_from_now=-40)
    later = make_cohort(fixture_course, "later-class", days_from_now=60)
    sooner = make_cohort(fixture_course, "sooner-class", days_from_now=30)
    for other in (past, later, sooner):
        other.instructors.add(people.instructor)
    instructor = people.instructor

    assert own_cohort(instructor, fixture_course) == cohort  # running
    cohort.instructors.remove(instructor)
    assert own_cohort(instructor, fixture_course) == sooner
    Cohort.objects.filter(pk__in=[sooner.pk, later.pk]).delete()
    assert own_cohort(instructor, fixture_course) == past

    # A trainee's removed enrolment leads nowhere; the live one does.
    enrolment = Enrolment.objects.get(trainee=people.trainee, cohort=cohort)
    Enrolment.objects.create(cohort=past, trainee=people.trainee)
    assert own_cohort(people.trainee, fixture_course) == cohort
    enrolment.state = Enrolment.State.REMOVED
    enrolment.save()
    assert own_cohort(people.trainee, fixture_course) == past
    assert own_cohort(people.admin, fixture_course) is None
    assert own_cohort(people.other_trainee, fixture_course) is None


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
    admin: User, trainee: User, fixture_course: Course, real_course: Course
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
    # With a cohort to lead back to, too.
    cohort = make_cohort(real_course, "big-class")
    Enrolment.objects.create(cohort=make_cohort(fixture_course, "small-class"), trainee=trainee)
    Enrolment.objects.create(cohort=cohort, trainee=trainee)
    client = client_for(trainee)
    assert _queries(client, small_module.get_absolute_url()) == _queries(
        client, big_module.get_absolute_url()
    )
    assert _queries(client, small_exercise.get_absolute_url()) == _queries(
        client, big_exercise.get_absolute_url()
    )
    assert small_exercise.tasks.count() < big_exercise.tasks.count()
