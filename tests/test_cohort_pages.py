"""A trainee's home and cohort page: their cohorts, today's day, every exercise."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courseware.models import Cohort, Course, Day, Enrolment
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
    assert "– / 2 tasks" in response.text
    assert "– / 1 task<" in response.text


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
    Enrolment.objects.create(cohort=big, trainee=people.trainee)
    client = client_for(people.trainee)

    counts = []
    for url in (cohort.get_absolute_url(), big.get_absolute_url()):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]


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
