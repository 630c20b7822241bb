from __future__ import annotations

import datetime as dt
import os
import shutil
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from pytest_django.fixtures import Settings

from courseware.content.sync import sync_course
from courseware.models import Cohort, Course, Enrolment
from courseware.models.cohort import INSTRUCTORS_GROUP

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Settings) -> None:
    # The default hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A writable copy of the small fixture course, for tests that edit or break it."""
    target = tmp_path / "course"
    shutil.copytree(FIXTURES / "course", target)
    return target


@pytest.fixture
def fixture_course(db: None, content_dir: Path) -> Course:
    _, report = sync_course(content_dir)
    assert report is not None
    return report.course


@pytest.fixture
def other_course(db: None, tmp_path: Path) -> Course:
    """The fixture course under another id: a course nobody in ``cohort`` may see."""
    target = tmp_path / "other-course"
    shutil.copytree(FIXTURES / "course", target)
    course_yaml = target / "course.yaml"
    text = course_yaml.read_text().replace("id: fixture-course", "id: other-course")
    course_yaml.write_text(text.replace("title: Fixture Course", "title: Other Course"))
    _, report = sync_course(target)
    assert report is not None
    return report.course


@pytest.fixture
def real_course(db: None) -> Course:
    """The course in slides/, as the product ships it."""
    _, report = sync_course(settings.COURSE_CONTENT_DIR)
    assert report is not None
    return report.course


def make_cohort(course: Course, slug: str, *, days_from_now: int = 0, length: int = 3) -> Cohort:
    """A Berlin cohort starting at local midnight, so that "now" is on its first day
    whatever the time of day the tests run."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    midnight = timezone.now().astimezone(berlin).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = midnight + dt.timedelta(days=days_from_now)
    return Cohort.objects.create(
        name=slug.replace("-", " ").title(),
        slug=slug,
        course=course,
        starts_at=starts,
        ends_at=starts + dt.timedelta(days=length),
        timezone="Europe/Berlin",
    )


def make_user(name: str, **extra: object) -> User:
    return User.objects.create_user(
        username=name,
        email=f"{name}@example.com",
        password="correct-horse-battery-staple",
        first_name=name.split("_")[0].title(),
        **extra,
    )


@dataclass
class People:
    """The named users of the access tests: one of each role, and their counterparts in
    another cohort of another course."""

    admin: User
    instructor: User
    other_instructor: User
    trainee: User
    other_trainee: User


@pytest.fixture
def cohort(fixture_course: Course) -> Cohort:
    """A cohort of the fixture course that is running now."""
    return make_cohort(fixture_course, "spring-class")


@pytest.fixture
def other_cohort(other_course: Course) -> Cohort:
    return make_cohort(other_course, "other-class")


@pytest.fixture
def people(cohort: Cohort, other_cohort: Cohort) -> People:
    instructors = Group.objects.get(name=INSTRUCTORS_GROUP)
    people = People(
        admin=make_user("ada_admin", is_staff=True, is_superuser=True),
        instructor=make_user("ivan_instructor"),
        other_instructor=make_user("olga_instructor"),
        trainee=make_user("tina_trainee"),
        other_trainee=make_user("tom_trainee"),
    )
    for instructor, its_cohort in (
        (people.instructor, cohort),
        (people.other_instructor, other_cohort),
    ):
        instructor.groups.add(instructors)
        its_cohort.instructors.add(instructor)
    Enrolment.objects.create(cohort=cohort, trainee=people.trainee, state=Enrolment.State.ACTIVE)
    Enrolment.objects.create(
        cohort=other_cohort, trainee=people.other_trainee, state=Enrolment.State.ACTIVE
    )
    return people


# -- browser tests: Debian's chromium, driven by Playwright -------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


# Module scope: Playwright's sync API runs an event loop in this thread while a browser is
# open, which other tests' async_to_sync would trip over.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls
    # are still synchronous, so Django's async-safety guard does not apply to them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def _bad(message: ConsoleMessage) -> bool:
    return message.type in {"error", "warning"}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page; the test fails on any console error or warning, page error,
    failed request or HTTP error response it saw."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if _bad(m) else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    yield page
    context.close()
    assert problems == []
