"""The terminal in a real browser: Debian's chromium (Playwright) against Lotse served by
daphne, the ASGI server of production, with websockets.

Django's ``live_server`` speaks WSGI only, so the test starts daphne in a subprocess against
the test database (a transactional test: the rows are committed, so the server sees them).
Terminals are the local shell backend running the real kubectl against the stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect

from courseware.models import Course, Exercise
from labs.models import Lab
from labs.terminal.local import confinement
from tests.factories import ARTIFACTS, People, answers, free_port, session_cookie, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def asgi_server(transactional_db: None, tmp_path: Path) -> Iterator[str]:
    """Lotse under daphne on a free port, on the test database, with the local shell."""
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        pytest.skip("a second process cannot see an in-memory SQLite test database")
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "LAB_TERMINAL_BACKEND": "local",
        "LAB_TERMINAL_LOCAL_SHELL": "1",
        "LAB_TERMINAL_LOCAL_UNCONFINED": "0" if confinement() else "1",
    }
    log = tmp_path / "daphne.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "courseware.asgi:application"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: answers(port) or server.poll() is not None, "daphne", timeout=30)
        assert server.poll() is None, log.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)
    (ARTIFACTS / "terminal-daphne.log").write_text(log.read_text())


def logged_in(browser: Browser, url: str, user: User) -> BrowserContext:
    """A browser context with the session cookie of a logged-in ``user``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    name, value = session_cookie(user).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": url}])
    return context


def screen(page: Page) -> str:
    return page.locator(".xterm-rows").inner_text()


def test_it_runs_kubectl_in_the_browser_terminal_and_survives_a_reload(
    asgi_server: str,  # first: the server outlives the page, which would reconnect to it
    page: Page,
    browser: Browser,
    people: People,
    trainee_lab: Lab,
    fixture_course: Course,
) -> None:
    exercise = Exercise.objects.get(course=fixture_course, slug="first-pod")
    name, value = session_cookie(people.trainee).split("=", 1)
    page.context.add_cookies([{"name": name, "value": value, "url": asgi_server}])

    page.goto(f"{asgi_server}{exercise.get_absolute_url()}")
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
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=asgi_server)
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

    watcher = logged_in(browser, asgi_server, people.instructor).new_page()
    problems: list[str] = []
    watcher.on(
        "console", lambda m: problems.append(m.text) if m.type in {"error", "warning"} else None
    )
    enrolment = trainee_lab.enrolment
    watcher.goto(f"{asgi_server}/cohorts/{enrolment.cohort.slug}/trainees/{enrolment.pk}/terminal/")
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
    page.goto(f"{asgi_server}{exercise.module.get_absolute_url()}")
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    expect(page.locator(".reveal .code-action", has_text="Copy").first).to_be_attached()
    assert page.locator(".reveal .code-action", has_text="Run in terminal").count() == 0
