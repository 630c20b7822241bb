"""A trainee's view in a real browser: Debian's headless chromium driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import (
    Page,
    expect,
)
from pytest_django.live_server_helper import LiveServer

from courseware.content.sync import sync_course
from courseware.models import Course, Exercise, Module
from tests.factories import ARTIFACTS, log_in_browser, make_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(page: Page, live_server: LiveServer, admin: User) -> Page:
    """A page logged in as the admin, who sees every course."""
    log_in_browser(page.context, live_server.url, admin)
    return page


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
    # The popup loads the deck twice over: give it time on a busy machine.
    expect(current.locator("section.present h1")).to_have_text("Pods", timeout=20_000)
    expect(upcoming.locator("section.present h2")).to_have_text("A pod manifest", timeout=20_000)
    notes = speaker.locator(".speaker-controls-notes .value")
    expect(notes).to_contain_text("Ask the room what", timeout=20_000)
    expect(upcoming.locator(".deck-bar")).to_be_hidden()  # the slide alone, title unhidden
    speaker.wait_for_timeout(500)  # let the frames paint for the screenshot
    speaker.screenshot(path=str(ARTIFACTS / "speaker-view.png"))


LONG_LINE = (
    "kubectl run long-line --image=nginx:1.27 --labels=app=web,tier=frontend,team=platform "
    "--env=GREETING=hello --env=AUDIENCE=everyone-in-the-room --restart=Never END-OF-LINE"
)

# Where the code line holding ``marker`` ends, and where the box showing it ends (its <pre>,
# its slide, the window), after scrolling the code to its end where it scrolls.
CODE_LINE_END = """(marker) => {
  const pre = [...document.querySelectorAll("pre")].find((p) => p.textContent.includes(marker));
  const scroller = [pre, ...pre.querySelectorAll("code")].find(
    (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX)
  );
  const scrolled = scroller ? scroller.scrollLeft : 0;
  if (scroller) scroller.scrollLeft = scroller.scrollWidth;
  const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode()) && !node.textContent.includes(marker)) {}
  const range = document.createRange();
  const at = node.textContent.indexOf(marker);
  range.setStart(node, at);
  range.setEnd(node, at + marker.length);
  const frame = pre.closest(".slides") || document.documentElement;
  const box = Math.min(
    pre.getBoundingClientRect().right, frame.getBoundingClientRect().right, window.innerWidth
  );
  const end = range.getBoundingClientRect().right;
  if (scroller) scroller.scrollLeft = scrolled;
  return {end, box, scrolls: Boolean(scroller) && scroller.scrollWidth > scroller.clientWidth};
}"""


def test_it_lets_a_long_code_line_be_read_to_its_end(
    admin_page: Page, live_server: LiveServer, content_dir: Path
) -> None:
    pods = content_dir / "day-1" / "01-pods.md"
    text = pods.read_text()
    text = text.replace(
        "        solution: |\n",
        f"        solution: |\n          ```console\n          $ {LONG_LINE}\n          ```\n\n",
        1,  # the task's solution, not the answers listed after it
    )
    pods.write_text(text + f"\n---\n\n## A long command\n\n```console\n$ {LONG_LINE}\n```\n")
    sync_course(content_dir)

    admin_page.goto(f"{live_server.url}/courses/fixture-course/modules/pods/slides/#/3")
    admin_page.wait_for_function("window.Reveal && Reveal.isReady()")
    expect(admin_page.locator("section.present h2")).to_have_text("A long command")
    line = admin_page.evaluate(CODE_LINE_END, "END-OF-LINE")
    # A projected (or printed) slide cannot be scrolled: the line wraps.
    assert not line["scrolls"], line
    assert line["end"] <= line["box"], line
    admin_page.screenshot(path=str(ARTIFACTS / "deck-long-line.png"))

    admin_page.goto(f"{live_server.url}/courses/fixture-course/exercises/first-pod/")
    admin_page.locator("details.solution summary").first.click()
    line = admin_page.evaluate(CODE_LINE_END, "END-OF-LINE")
    # Code to copy keeps its lines: it scrolls, within the page.
    assert line["scrolls"], line
    assert line["end"] <= line["box"], line
    assert admin_page.evaluate("document.documentElement.scrollWidth") <= 1280
    admin_page.locator("details.solution").first.screenshot(
        path=str(ARTIFACTS / "solution-long-line.png")
    )


def test_it_fits_a_phone_screen(
    checks_server: str,  # first: the server outlives the page
    page: Page,
    admin: User,
    real_course: Course,
) -> None:
    # Served by the ASGI server: the deck of an instructor opens the
    # websocket of present mode, which Django's WSGI live server would answer with 404.
    log_in_browser(page.context, checks_server, admin)
    admin_page = page
    admin_page.set_viewport_size({"width": 390, "height": 844})
    cohort = make_cohort(real_course, "phone-class", days_from_now=-1)
    cohort.instructors.add(admin)  # so that pages lead back to it
    exercise = Exercise.objects.filter(course=real_course, module__slug="kubectl").first()
    assert exercise is not None
    pages = {
        "home": "/",
        "agenda": real_course.get_absolute_url(),
        "cohort": cohort.get_absolute_url(),
        "exercise": exercise.get_absolute_url(),
    }

    for name, url in pages.items():
        admin_page.goto(f"{checks_server}{url}")
        width = admin_page.evaluate("document.documentElement.scrollWidth")
        admin_page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"))
        assert width <= 390, f"{name} is {width} px wide"
        header = admin_page.locator(".site-header")
        for control in (
            header.get_by_role("link", name="Lotse", exact=True),
            header.get_by_role("link", name="Admin", exact=True),
            header.get_by_role("button", name="Log out"),
        ):
            expect(control).to_be_in_viewport(ratio=1)

    # A deck's own bar, fixed at the top, wraps within the screen too.
    admin_page.goto(f"{checks_server}{exercise.module.get_absolute_url()}")
    admin_page.wait_for_function("window.Reveal && Reveal.isReady()")
    admin_page.screenshot(path=str(ARTIFACTS / "phone-deck.png"))
    bar = admin_page.locator(".deck-bar")
    assert bar.evaluate("(el) => el.scrollWidth <= el.clientWidth && el.clientWidth <= 390")
    for link in ("← Agenda", "Back to Phone Class", "Print / PDF"):
        expect(bar.get_by_role("link", name=link)).to_be_in_viewport(ratio=1)
    expect(bar.get_by_role("button", name="Present to Phone Class")).to_be_in_viewport(ratio=1)

    admin_page.goto(f"{checks_server}/")
    admin_page.locator(".site-header").get_by_role("button", name="Log out").click()
    expect(admin_page.locator("h1")).to_have_text("Log in")
