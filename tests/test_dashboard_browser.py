"""The class dashboard in a real browser, with two people: Debian's chromium (Playwright)
against Lotse under uvicorn with the check watcher in the server process (the
``checks_server`` fixture), a trainee in one browser context and their instructor in
another. The trainee completes a task on the simulated cluster (with their own
credentials, as kubectl in their terminal would) and the instructor's cell turns green
without a reload; the trainee raises a hand, it appears in the instructor's queue, and the
instructor's answer reaches the trainee's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from courseware.models import Cohort
from labs.models import Lab
from tests.factories import ARTIFACTS, People, create_pod_as_trainee, log_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXERCISE = "/courses/fixture-course/exercises/first-pod/"


def test_it_shows_the_room_live_to_the_instructor(
    checks_server: str,
    page: Page,
    other_page: Page,
    people: People,
    cohort: Cohort,
    trainee_lab: Lab,
) -> None:
    trainee, instructor = page, other_page
    log_in_browser(trainee.context, checks_server, people.trainee)
    log_in_browser(instructor.context, checks_server, people.instructor)

    trainee.goto(f"{checks_server}{EXERCISE}")  # opens the exercise: its tasks are judged
    expect(
        trainee.locator('li.task[data-task="first-pod/create-pod"] [data-region=task-state]')
    ).to_have_text("Not yet", timeout=15000)

    instructor.goto(f"{checks_server}/")
    instructor.get_by_role("link", name="Class dashboard").click()
    board = instructor.locator(".dashboard")
    expect(board).to_have_attribute("data-live", "connected", timeout=15000)
    row = instructor.locator(f'tr[data-enrolment="{trainee_lab.enrolment_id}"]')
    cell = row.locator('td.cell[data-task="first-pod/create-pod"]')
    expect(cell).to_have_attribute("data-state", "failing")
    expect(row.locator("[data-region=lab]")).to_have_text("Ready")
    instructor.evaluate("window.notReloaded = true")

    create_pod_as_trainee(trainee_lab)

    expect(cell).to_have_attribute("data-state", "passed", timeout=10000)
    expect(row.locator("[data-region=passed]")).to_have_text("1/3")
    assert instructor.evaluate("window.notReloaded") is True
    # The details of a cell: its checks and what still differs.
    row.locator('td.cell[data-task="first-pod/label-pod"]').click()
    details = instructor.locator("[data-region=details]")
    expect(details).to_be_visible()
    expect(details.locator("[data-region=details-title]")).to_have_text(
        "Tina: Label the pod tier=web"
    )
    expect(details).to_contain_text("Pods with tier=web")
    instructor.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)

    trainee.get_by_role("button", name="I need help").click()
    expect(trainee.locator("[data-region=help]")).to_have_attribute("data-state", "open")

    hand = instructor.locator("[data-region=help-list] > li")
    expect(hand).to_have_count(1, timeout=10000)
    expect(hand.locator(".help-who")).to_have_text("Tina")
    expect(hand.locator(".help-what")).to_have_text("Your first pod: Label the pod tier=web")
    expect(hand.locator(".help-failing")).to_contain_text("Pods with tier=web")
    expect(instructor.locator("[data-region=help-count]")).to_have_text("1")
    instructor.screenshot(path=str(ARTIFACTS / "dashboard-hand.png"), full_page=True)

    hand.get_by_role("button", name="Handled").click()

    expect(hand).to_have_count(0)
    expect(instructor.locator("[data-region=action-status]")).to_have_text(
        "Marked handled: Tina, Your first pod."
    )
    expect(trainee.locator("[data-region=help]")).to_have_attribute(
        "data-state", "handled", timeout=10000
    )
    expect(trainee.locator("[data-region=help-status]")).to_contain_text("by Ivan")

    # Filters apply at once, and the address keeps them for a reload.
    instructor.get_by_placeholder("Filter by name").fill("nobody")
    expect(row).to_be_hidden()
    expect(instructor.locator("[data-region=shown-count]")).to_have_text("0")
    assert "q=nobody" in instructor.url
    instructor.get_by_placeholder("Filter by name").fill("TIN")
    expect(row).to_be_visible()
    assert instructor.evaluate("window.notReloaded") is True
