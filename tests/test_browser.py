"""A trainee's view in a real browser: Debian's headless chromium driven by Playwright."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)
from pytest_django.live_server_helper import LiveServer

from courseware.models import Course, Exercise, Module

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls
    # are still synchronous, so Django's async-safety guard does not apply to them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, admin_user: User) -> Iterator[Page]:
    """A page logged in as an admin, who sees every course."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    log_in(context, live_server, admin_user)
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
    yield page
    context.close()
    assert problems == []


def log_in(context: BrowserContext, live_server: LiveServer, user: User) -> None:
    """Give the browser the session cookie of a logged-in user (the login page has tests
    of its own)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def _bad(message: ConsoleMessage) -> bool:
    return message.type in {"error", "warning"}


def test_it_walks_from_the_agenda_through_a_deck_to_an_exercise(
    page: Page, live_server: LiveServer, real_course: Course
) -> None:
    page.goto(f"{live_server.url}{real_course.get_absolute_url()}")
    expect(page.locator("h1")).to_have_text(real_course.title)
    module = (
        Module.objects.filter(course=real_course, day__slug="day-2").order_by("position").first()
    )
    assert module is not None

    page.get_by_role("link", name=module.agenda_items.first().title, exact=True).first.click()
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    assert page.evaluate("Reveal.getIndices().h") == 0
    page.keyboard.press("ArrowRight")
    page.wait_for_function("Reveal.getIndices().h === 1")
    page.wait_for_url("**#/1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "deck.png"))

    deck_url = page.url.split("#")[0]
    page.goto(deck_url + "#/2")  # a deep link opens on its slide
    page.wait_for_function("Reveal.getIndices().h === 2")

    page.goto(deck_url + "?print-pdf")  # print layout: one page per slide
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    expect(page.locator("html")).to_have_class(re.compile(r"\bprint-pdf\b"))
    expect(page.locator(".pdf-page").first).to_be_attached()

    exercise = Exercise.objects.filter(course=real_course, is_demo=False).order_by("pk").first()
    assert exercise is not None
    page.goto(f"{live_server.url}{exercise.get_absolute_url()}")
    expect(page.locator("#exercise-title")).to_have_text(exercise.title)
    hint = page.locator("details.hint").first
    expect(hint.locator(".prose")).to_be_hidden()
    hint.locator("summary").click()
    expect(hint.locator(".prose")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "exercise.png"), full_page=True)


def test_it_shows_the_agenda_without_errors(
    page: Page, live_server: LiveServer, real_course: Course
) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name=real_course.title).click()
    for day in ("Day I", "Day II", "Day III", "(Backup)"):
        expect(page.get_by_role("heading", name=day, exact=True)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "agenda.png"), full_page=True)
