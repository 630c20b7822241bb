"""Live checks in a real browser: Debian's chromium (Playwright) against Lotse served by
uvicorn, with the check watcher inside the server process as in development (the
``checks_server`` fixture). The trainee opens an exercise, creates the pod through the API
with their own credentials (as kubectl in their terminal would), and the task turns green
without a click."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from labs.models import Lab
from tests.factories import ARTIFACTS, People, create_pod_as_trainee, log_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXERCISE = "/courses/fixture-course/exercises/first-pod/"


def test_it_turns_a_task_green_when_the_trainee_creates_the_pod(
    checks_server: str, page: Page, people: People, trainee_lab: Lab
) -> None:
    log_in_browser(page.context, checks_server, people.trainee)

    page.goto(f"{checks_server}{EXERCISE}")
    create = page.locator('li.task[data-task="first-pod/create-pod"]')
    state = create.locator("[data-region=task-state]")
    expect(state).to_have_text("Not yet", timeout=15000)
    expect(create.locator(".check-differences")).to_have_text("Pod my-pod does not exist")
    page.screenshot(path=str(ARTIFACTS / "checks-not-yet.png"), full_page=True)

    create_pod_as_trainee(trainee_lab)

    expect(state).to_have_text("Passed", timeout=5000)
    expect(state).to_have_attribute("data-state", "passed")
    expect(create.locator(".check-differences")).to_have_count(0)
    expect(create.locator('.check-list > li[data-check="0"]')).to_have_attribute(
        "data-state", "passed"
    )
    page.screenshot(path=str(ARTIFACTS / "checks-passed.png"), full_page=True)

    # "Check now" answers beside the button; asking again at once is refused politely.
    label = page.locator('li.task[data-task="first-pod/label-pod"]')
    label.get_by_role("button", name="Check now").click()
    expect(label.locator(".check-now-message")).to_have_text("Checking …")
