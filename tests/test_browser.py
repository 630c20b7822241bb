"""A trainee's view in a real browser: Debian's headless chromium driven by Playwright."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import (
    BrowserContext,
    Page,
    expect,
)
from pytest_django.live_server_helper import LiveServer

from courseware.models import Course, Exercise, Module
from tests.factories import ARTIFACTS, client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(page: Page, live_server: LiveServer, admin: User) -> Page:
    """A page logged in as the admin, who sees every course."""
    log_in(page.context, live_server, admin)
    return page


def log_in(context: BrowserContext, live_server: LiveServer, user: User) -> None:
    """Give the browser the session cookie of a logged-in user (the login page has tests
    of its own)."""
    cookie = client_for(user).cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_it_walks_from_the_agenda_through_a_deck_to_an_exercise(
    admin_page: Page, live_server: LiveServer, real_course: Course
) -> None:
    admin_page.goto(f"{live_server.url}{real_course.get_absolute_url()}")
    expect(admin_page.locator("h1")).to_have_text(real_course.title)
    module = (
        Module.objects.filter(course=real_course, day__slug="day-2").order_by("position").first()
    )
    assert module is not None

    admin_page.get_by_role("link", name=module.agenda_items.first().title, exact=True).first.click()
    admin_page.wait_for_function("window.Reveal && Reveal.isReady()")
    assert admin_page.evaluate("Reveal.getIndices().h") == 0
    admin_page.keyboard.press("ArrowRight")
    admin_page.wait_for_function("Reveal.getIndices().h === 1")
    admin_page.wait_for_url("**#/1")
    admin_page.screenshot(path=str(ARTIFACTS / "deck.png"))

    deck_url = admin_page.url.split("#")[0]
    admin_page.goto(deck_url + "#/2")  # a deep link opens on its slide
    admin_page.wait_for_function("Reveal.getIndices().h === 2")

    admin_page.goto(deck_url + "?print-pdf")  # print layout: one page per slide
    admin_page.wait_for_function("window.Reveal && Reveal.isReady()")
    expect(admin_page.locator("html")).to_have_class(re.compile(r"\bprint-pdf\b"))
    expect(admin_page.locator(".pdf-page").first).to_be_attached()

    exercise = Exercise.objects.filter(course=real_course, is_demo=False).order_by("pk").first()
    assert exercise is not None
    admin_page.goto(f"{live_server.url}{exercise.get_absolute_url()}")
    expect(admin_page.locator("#exercise-title")).to_have_text(exercise.title)
    hint = admin_page.locator("details.hint").first
    expect(hint.locator(".prose")).to_be_hidden()
    hint.locator("summary").click()
    expect(hint.locator(".prose")).to_be_visible()
    admin_page.screenshot(path=str(ARTIFACTS / "exercise.png"), full_page=True)


def test_it_shows_the_agenda_without_errors(
    admin_page: Page, live_server: LiveServer, real_course: Course
) -> None:
    admin_page.goto(f"{live_server.url}/")
    admin_page.get_by_role("link", name=real_course.title).click()
    for day in ("Day I", "Day II", "Day III", "(Backup)"):
        expect(admin_page.get_by_role("heading", name=day, exact=True)).to_be_visible()
    admin_page.screenshot(path=str(ARTIFACTS / "agenda.png"), full_page=True)


def test_it_shows_the_current_slide_the_next_and_the_notes_in_the_speaker_view(
    admin_page: Page, live_server: LiveServer, fixture_course: Course
) -> None:
    admin_page.goto(f"{live_server.url}/courses/fixture-course/modules/pods/slides/")
    admin_page.wait_for_function("window.Reveal && Reveal.isReady()")

    with admin_page.expect_popup() as popup:
        admin_page.keyboard.press("s")
    speaker = popup.value

    current = speaker.frame_locator("#current-slide iframe")
    upcoming = speaker.frame_locator("#upcoming-slide iframe")
    expect(current.locator("section.present h1")).to_have_text("Pods")
    expect(upcoming.locator("section.present h2")).to_have_text("A pod manifest")
    expect(speaker.locator(".speaker-controls-notes .value")).to_contain_text("Ask the room what")
    expect(upcoming.locator(".deck-bar")).to_be_hidden()  # the slide alone, title unhidden
    speaker.wait_for_timeout(500)  # let the frames paint for the screenshot
    speaker.screenshot(path=str(ARTIFACTS / "speaker-view.png"))
