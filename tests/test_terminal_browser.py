"""The terminal in a real browser: Debian's chromium (Playwright) against Lotse served by
uvicorn, the ASGI server of production, with websockets.

The server is conftest's ``terminal_server``: terminals are the local shell backend running
the real kubectl against the stand-in."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect

from courseware.models import Course, Exercise
from labs.models import Lab
from tests.factories import ARTIFACTS, People, log_in_browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def logged_in(browser: Browser, url: str, user: User) -> BrowserContext:
    """A browser context with the session cookie of a logged-in ``user``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    log_in_browser(context, url, user)
    return context


def screen(page: Page) -> str:
    return page.locator(".xterm-rows").inner_text()


def test_it_runs_kubectl_in_the_browser_terminal_and_survives_a_reload(
    terminal_server: str,  # first: the server outlives the page, which would reconnect to it
    page: Page,
    browser: Browser,
    people: People,
    trainee_lab: Lab,
    fixture_course: Course,
) -> None:
    exercise = Exercise.objects.get(course=fixture_course, slug="first-pod")
    log_in_browser(page.context, terminal_server, people.trainee)

    page.goto(f"{terminal_server}{exercise.get_absolute_url()}")
    terminal = page.locator("[data-terminal]")
    expect(terminal).to_have_attribute("data-state", "connected", timeout=15000)
    expect(page.locator(".xterm-rows")).to_contain_text(trainee_lab.namespace)
    page.locator(".xterm").click()
    page.keyboard.type("kubectl get pods\n")
    expect(page.locator(".xterm-rows")).to_contain_text("toolbox", timeout=15000)
    page.keyboard.type("kubectl run my-pod --image=nginx:1.27\n")
    expect(page.locator(".xterm-rows")).to_contain_text("pod/my-pod created", timeout=15000)
    page.screenshot(path=str(ARTIFACTS / "terminal.png"))

    page.reload()
    expect(terminal).to_have_attribute("data-state", "connected", timeout=15000)
    expect(page.locator(".xterm-rows")).to_contain_text("pod/my-pod created")
    restored = screen(page)

    # Copy a block (its command, without the prompt), paste it with Ctrl-V, erase it again.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=terminal_server)
    page.locator(".exercise-cleanup .code-action", has_text="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "kubectl delete pod my-pod"
    page.locator(".xterm").click()
    page.keyboard.press("Control+V")
    expect(page.locator(".xterm-rows")).to_contain_text("$ kubectl delete pod my-pod")
    page.keyboard.press("Control+U")

    # The exercise's cleanup block, run from the page: pasted without its prompt, Enter.
    page.locator(".exercise-cleanup .code-action", has_text="Run in terminal").click()
    expect(page.locator(".xterm-rows")).to_contain_text('pod "my-pod" deleted', timeout=15000)
    page.screenshot(path=str(ARTIFACTS / "terminal-after-reload.png"))

    assert "kubectl get pods" in restored
    assert "toolbox" in restored

    watcher = logged_in(browser, terminal_server, people.instructor).new_page()
    problems: list[str] = []
    watcher.on(
        "console", lambda m: problems.append(m.text) if m.type in {"error", "warning"} else None
    )
    enrolment = trainee_lab.enrolment
    watcher.goto(
        f"{terminal_server}/cohorts/{enrolment.cohort.slug}/trainees/{enrolment.pk}/terminal/"
    )
    expect(watcher.locator("[data-terminal]")).to_have_attribute(
        "data-state", "connected", timeout=15000
    )
    expect(watcher.locator(".xterm-rows")).to_contain_text('pod "my-pod" deleted')
    watcher.locator(".xterm").click()
    watcher.keyboard.type("echo typed-by-the-instructor\n")
    page.keyboard.type("echo typed-by-the-trainee\n")
    expect(watcher.locator(".xterm-rows")).to_contain_text("typed-by-the-trainee", timeout=15000)
    watcher.screenshot(path=str(ARTIFACTS / "terminal-read-only.png"))

    assert "typed-by-the-instructor" not in screen(page)
    assert "typed-by-the-instructor" not in screen(watcher)
    assert problems == []
    watcher.context.close()

    # Slides get "Copy" on their code blocks (and no terminal).
    page.goto(f"{terminal_server}{exercise.module.get_absolute_url()}")
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    expect(page.locator(".reveal .code-action", has_text="Copy").first).to_be_attached()
    assert page.locator(".reveal .code-action", has_text="Run in terminal").count() == 0
