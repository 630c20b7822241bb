"""A trainee's home and cohort page: their cohorts, today's day, every exercise."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courseware.models import AgendaItem, Cohort, Course, Day, Enrolment
from tests.factories import People, client_for, make_cohort, make_user

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_it_lists_a_trainees_cohorts_on_the_home_page(people: People, cohort: Cohort) -> None:
    response = client_for(people.trainee).get("/")

    assert response.status_code == 200
    assert f'<a class="card-title" href="/cohorts/spring-class/">{cohort.name}</a>' in response.text
    assert "Trainee" in response.text
    assert "Running" in response.text
    assert "Other Class" not in response.text


def test_it_counts_every_trainee_of_a_cohort_for_a_trainee_too(
    people: People, cohort: Cohort
) -> None:
    Enrolment.objects.create(cohort=cohort, trainee=make_user("una_u"))
    Enrolment.objects.create(
        cohort=cohort, trainee=make_user("vic_v"), state=Enrolment.State.REMOVED
    )

    response = client_for(people.trainee).get("/")

    assert "2 trainees" in response.text


def test_it_marks_the_cohorts_an_instructor_teaches(people: People, cohort: Cohort) -> None:
    response = client_for(people.instructor).get("/")

    assert "Instructor" in response.text
    assert "1 trainee" in response.text


def test_it_highlights_todays_day_on_the_cohort_page(people: People, cohort: Cohort) -> None:
    response = client_for(people.trainee).get(cohort.get_absolute_url())

    assert response.status_code == 200
    assert '<section class="agenda-day is-today" id="day-1"' in response.text
    assert 'aria-current="date"' in response.text
    assert '<span class="badge badge-today">Today</span>' in response.text


def test_it_lists_each_exercise_with_its_progress(people: People, cohort: Cohort) -> None:
    response = client_for(people.trainee).get(cohort.get_absolute_url())

    assert (
        '<a href="/courses/fixture-course/exercises/first-pod/">Your first pod</a>' in response.text
    )
    assert 'data-region="exercise-progress" data-done="0" data-total="2"' in response.text
    assert "0 / 2 tasks" in response.text  # the trainee's passed tasks (none yet)
    assert "0 / 1 task<" in response.text


def today_card(html: str) -> str:
    """The highlighted day's card of a cohort page."""
    match = re.search(r'<section class="agenda-day[^"]*is-today".*?</section>', html, re.S)
    assert match, "no day is highlighted"
    return match.group(0)


def test_it_shows_todays_agenda_with_links_to_the_slides(people: People, cohort: Cohort) -> None:
    card = today_card(client_for(people.trainee).get(cohort.get_absolute_url()).text)

    assert "<h3>Basics</h3>" in card
    assert '<span class="muted">Welcome</span>' in card  # an item without slides
    assert '<a href="/courses/fixture-course/modules/pods/slides/">Pods</a>' in card
    assert '<a href="/courses/fixture-course/modules/services/slides/">Services</a>' in card
    assert "<h3>Exercises</h3>" in card
    assert '<a href="/courses/fixture-course/exercises/first-pod/">Your first pod</a>' in card
    assert "0 / 1 task<" in card  # first-service, with its progress
    assert "More slides" not in card  # every module of the day is on its agenda


def test_it_shows_the_agenda_of_a_day_without_modules(people: People, real_course: Course) -> None:
    first_day = make_cohort(real_course, "first-day")
    Enrolment.objects.create(cohort=first_day, trainee=people.trainee)

    card = today_card(client_for(people.trainee).get(first_day.get_absolute_url()).text)

    assert 'id="day-1"' in card
    assert "No modules yet" not in card
    assert "<h3>Container Fundamentals</h3>" in card
    assert '<span class="muted">Why Containers?</span>' in card
    assert "<a " not in card.split("<h3>", 1)[1]  # nothing to link to on Day I


def test_it_lists_the_decks_of_today_that_the_agenda_does_not_name(
    people: People, cohort: Cohort
) -> None:
    AgendaItem.objects.filter(module__slug="services").update(module=None)

    card = today_card(client_for(people.trainee).get(cohort.get_absolute_url()).text)

    assert '<span class="muted">Services</span>' in card
    more = card.split("<h3>More slides</h3>", 1)[1]
    assert '<a href="/courses/fixture-course/modules/services/slides/">Services</a>' in more


def test_it_points_from_other_days_without_slides_to_their_agenda(
    people: People, real_course: Course
) -> None:
    second_day = make_cohort(real_course, "second-day", days_from_now=-1)
    Enrolment.objects.create(cohort=second_day, trainee=people.trainee)

    html = client_for(people.trainee).get(second_day.get_absolute_url()).text

    card = today_card(html)
    assert 'id="day-2"' in card
    assert '<a href="/courses/kubernetes-for-developers/modules/kubectl/slides/">' in card
    assert "No modules yet" not in html
    assert (
        'No slides for this day yet: <a href="/courses/kubernetes-for-developers/#day-1">' in html
    )


def test_it_highlights_nothing_before_the_start(people: People, fixture_course: Course) -> None:
    upcoming = make_cohort(fixture_course, "autumn-class", days_from_now=30)
    Enrolment.objects.create(cohort=upcoming, trainee=people.trainee)

    response = client_for(people.trainee).get(upcoming.get_absolute_url())

    assert response.status_code == 200
    assert "is-today" not in response.text
    assert "Upcoming" in response.text


def test_it_runs_the_same_queries_for_a_small_and_a_big_course(
    people: People, cohort: Cohort, real_course: Course
) -> None:
    big = make_cohort(real_course, "big-class")
    # On its second day, the big course's "today" has modules, exercises and many items.
    busy = make_cohort(real_course, "busy-class", days_from_now=-1)
    for other in (big, busy):
        Enrolment.objects.create(cohort=other, trainee=people.trainee)
    client = client_for(people.trainee)

    counts = []
    for url in (cohort.get_absolute_url(), big.get_absolute_url(), busy.get_absolute_url()):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1] == counts[2]


def cohort_from(start: dt.datetime, days: int = 3) -> Cohort:
    return Cohort(
        starts_at=start, ends_at=start + dt.timedelta(days=days), timezone="Europe/Berlin"
    )


def test_it_counts_class_days_in_the_cohorts_time_zone() -> None:
    cohort = cohort_from(dt.datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN))

    assert cohort.day_number(dt.datetime(2026, 3, 2, 8, 59, tzinfo=BERLIN)) is None
    assert cohort.day_number(dt.datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)) == 1
    assert cohort.day_number(dt.datetime(2026, 3, 2, 22, 59, tzinfo=dt.UTC)) == 1  # 23:59 local
    assert cohort.day_number(dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)) == 2  # 00:30 local
    assert cohort.day_number(dt.datetime(2026, 3, 5, 9, 0, tzinfo=BERLIN)) is None  # finished


def test_it_derives_the_state_from_the_dates() -> None:
    cohort = cohort_from(dt.datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN))

    assert cohort.state_at(dt.datetime(2026, 3, 1, tzinfo=BERLIN)) == Cohort.State.UPCOMING
    assert cohort.state_at(dt.datetime(2026, 3, 3, tzinfo=BERLIN)) == Cohort.State.RUNNING
    assert cohort.state_at(dt.datetime(2026, 3, 6, tzinfo=BERLIN)) == Cohort.State.FINISHED


def test_it_skips_the_backup_day_when_naming_today() -> None:
    days = [Day(slug="day-1"), Day(slug="backup", is_backup=True), Day(slug="day-2")]
    cohort = cohort_from(dt.datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN), days=5)

    assert cohort.today(days, dt.datetime(2026, 3, 3, 10, 0, tzinfo=BERLIN)).slug == "day-2"
    assert cohort.today(days, dt.datetime(2026, 3, 4, 10, 0, tzinfo=BERLIN)) is None


def test_it_refuses_a_cohort_that_ends_before_it_starts(fixture_course: Course) -> None:
    cohort = cohort_from(dt.datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN), days=-1)
    cohort.course = fixture_course

    with pytest.raises(Exception, match="must end after it starts"):
        cohort.full_clean(exclude=["slug", "name"])
