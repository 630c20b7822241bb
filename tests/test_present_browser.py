"""Present mode in real browsers: an instructor presents a deck, a trainee in another
browser follows it, browses away and follows again; the instructor's speaker view shows the
class's progress on the module's exercise, live, when the trainee passes a task on the
simulated cluster."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from labs.models import Lab
from tests.factories import ARTIFACTS, People, create_pod_as_trainee, log_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DECK = "/courses/fixture-course/modules/pods/slides/"
EXERCISE = "/courses/fixture-course/exercises/first-pod/"


def slide_of(page: Page) -> int:
    return page.evaluate("Reveal.getIndices().h")


def wait_for_slide(page: Page, index: int) -> None:
    page.wait_for_function(f"Reveal.getIndices().h === {index}", timeout=10_000)


def test_it_lets_a_trainee_follow_the_instructors_slides_or_browse_freely(
    checks_server: str, page: Page, other_page: Page, people: People
) -> None:
    instructor, trainee = page, other_page
    log_in_browser(instructor.context, checks_server, people.instructor)
    log_in_browser(trainee.context, checks_server, people.trainee)

    instructor.goto(f"{checks_server}{DECK}")
    instructor.wait_for_function("window.Reveal && Reveal.isReady()")
    instructor.get_by_role("button", name="Present to Spring Class").click()
    expect(instructor.locator(".deck-present-toggle")).to_have_text("● Presenting: stop")
    instructor.keyboard.press("ArrowRight")

    trainee.goto(f"{checks_server}{DECK}")
    wait_for_slide(trainee, 1)  # opened at the start, taken to the instructor's slide
    status = trainee.locator(".deck-present-status")
    expect(status).to_have_text("Following Ivan")

    instructor.keyboard.press("ArrowRight")
    wait_for_slide(trainee, 2)
    trainee.screenshot(path=str(ARTIFACTS / "present-following.png"))

    trainee.keyboard.press("ArrowLeft")  # the trainee looks back: browsing freely now
    expect(status).to_have_text("Ivan is presenting “Pods”, slide 3")
    instructor.keyboard.press("ArrowRight")
    expect(status).to_have_text("Ivan is presenting “Pods”, slide 4")
    assert slide_of(trainee) == 1

    trainee.get_by_role("button", name="Follow").click()
    wait_for_slide(trainee, 3)
    expect(status).to_have_text("Following Ivan")

    instructor.get_by_role("button", name="● Presenting: stop").click()
    expect(status).to_be_hidden()


def test_it_shows_the_class_live_in_the_speaker_view(
    checks_server: str, page: Page, other_page: Page, people: People, trainee_lab: Lab
) -> None:
    log_in_browser(page.context, checks_server, people.instructor)
    log_in_browser(other_page.context, checks_server, people.trainee)
    other_page.goto(f"{checks_server}{EXERCISE}")  # the trainee starts the exercise
    expect(other_page.locator("[data-region=task-state]").first).to_have_text(
        "Not yet", timeout=15_000
    )

    page.goto(f"{checks_server}{DECK}")
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    with page.expect_popup() as popup:
        page.keyboard.press("s")
    speaker = popup.value
    notes = speaker.locator(".speaker-controls-notes .value")
    task = notes.locator('li[data-task="first-pod/create-pod"]')
    expect(notes).to_contain_text("Your class, live", timeout=20_000)
    expect(task).to_have_text("0/1 passed Create a pod named my-pod running nginx")

    create_pod_as_trainee(trainee_lab)

    expect(task).to_have_text("1/1 passed Create a pod named my-pod running nginx", timeout=10_000)
    speaker.screenshot(path=str(ARTIFACTS / "speaker-view-class.png"))
