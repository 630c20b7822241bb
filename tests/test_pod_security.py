"""The course declares the Pod Security level its exercises need; cohorts follow it, and an
admin who sets a stricter one is told what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from courseware.content.errors import ContentInvalid
from courseware.content.source import read_course
from courseware.content.sync import sync_course
from courseware.models import Cohort, Course, Exercise
from tests.factories import People, client_for


@pytest.mark.django_db
def test_it_loads_the_level_the_course_declares(content_dir: Path) -> None:
    course_yaml = content_dir / "course.yaml"
    course_yaml.write_text(
        course_yaml.read_text().replace("days:", "pod_security: baseline\ndays:")
    )

    _, report = sync_course(content_dir)

    assert report is not None
    assert report.course.pod_security == "baseline"


def test_it_takes_restricted_when_the_course_declares_nothing(fixture_course: Course) -> None:
    assert fixture_course.pod_security == "restricted"


def test_it_names_the_line_of_an_unknown_level(content_dir: Path) -> None:
    course_yaml = content_dir / "course.yaml"
    text = course_yaml.read_text().replace("days:", "pod_security: privileged\ndays:")
    course_yaml.write_text(text)
    line = text.split("\n").index("pod_security: privileged") + 1

    with pytest.raises(ContentInvalid) as caught:
        read_course(content_dir)

    (error,) = caught.value.errors
    assert f"course.yaml:{line}:" in str(error)
    assert "pod_security must be one of restricted, baseline" in str(error)


def test_it_ships_a_course_that_declares_baseline(real_course: Course) -> None:
    assert real_course.pod_security == "baseline"


def test_it_lets_a_cohort_follow_its_course_or_choose_a_level(cohort: Cohort) -> None:
    Course.objects.filter(pk=cohort.course_id).update(pod_security="baseline")
    cohort.refresh_from_db()

    assert (cohort.pod_security, cohort.pod_security_level) == ("", "baseline")
    assert not cohort.stricter_than_course

    cohort.pod_security = "restricted"
    assert cohort.pod_security_level == "restricted"
    assert cohort.stricter_than_course


def test_it_warns_the_admin_who_chooses_a_stricter_level(admin: User, cohort: Cohort) -> None:
    Course.objects.filter(pk=cohort.course_id).update(pod_security="baseline")
    data = {
        "name": cohort.name,
        "slug": cohort.slug,
        "course": cohort.course_id,
        "starts_at_0": f"{cohort.starts_at:%Y-%m-%d}",
        "starts_at_1": f"{cohort.starts_at:%H:%M:%S}",
        "ends_at_0": f"{cohort.ends_at:%Y-%m-%d}",
        "ends_at_1": f"{cohort.ends_at:%H:%M:%S}",
        "timezone": cohort.timezone,
        "lab_profile": cohort.lab_profile,
        "pod_security": "restricted",
    }
    for prefix in ("enrolments", "enrolments-2"):
        data |= {
            f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0,
            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000,
        }  # fmt: skip
    client = client_for(admin)

    response = client.post(f"/admin/courseware/cohort/{cohort.pk}/change/", data, follow=True)

    assert response.status_code == 200
    assert "stricter than the “Baseline” that Fixture Course declares" in response.text
    data["pod_security"] = ""
    quiet = client.post(f"/admin/courseware/cohort/{cohort.pk}/change/", data, follow=True)
    assert "stricter than" not in quiet.text
    assert Cohort.objects.get(pk=cohort.pk).pod_security_level == "baseline"


def test_it_shows_what_to_clean_up_after_an_exercise(people: People) -> None:
    exercise = Exercise.objects.get(course__slug="fixture-course", slug="first-pod")
    response = client_for(people.trainee).get(exercise.get_absolute_url())

    assert "Before the next exercise" in response.text
    assert exercise.cleanup_html
    assert exercise.cleanup_html in response.text
    assert "delete" in exercise.cleanup_html
    assert "my-pod" in exercise.cleanup_html
