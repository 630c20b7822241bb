"""A trainee takes the invite from the e-mail in a real browser: Debian's headless chromium
driven by Playwright, against the live server."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from courseware import invites
from courseware.models import Cohort, Course, Enrolment
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

User = get_user_model()
SITE = "https://lotse.example"
PASSWORD = "harbour-pilot-42-steers"


@pytest.fixture
def march_cohort(fixture_course: Course) -> Cohort:
    now = timezone.now()
    return Cohort.objects.create(
        name="Kubernetes in March",
        slug="k8s-march",
        course=fixture_course,
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=2),
    )


@pytest.fixture
def trainee() -> AbstractUser:
    # As an import leaves a trainee: the e-mail address as login, no usable password.
    return User.objects.create_user(
        username="trainee@example.com",
        email="trainee@example.com",
        first_name="Tia",
        last_name="Trainee",
    )


@pytest.fixture
def enrolment(march_cohort: Cohort, trainee: AbstractUser) -> Enrolment:
    return Enrolment.objects.create(cohort=march_cohort, trainee=trainee)


def test_it_takes_a_trainee_from_the_invite_email_to_the_cohort_page(
    page: Page, live_server: LiveServer, enrolment: Enrolment, settings: Settings
) -> None:
    settings.SITE_URL = SITE
    invites.send_invite(enrolment)
    assert len(mail.outbox) == 1
    links = re.findall(rf"{re.escape(SITE)}/\S+", mail.outbox[0].body)
    assert len(links) == 1
    link = live_server.url + links[0].removeprefix(SITE)

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Kubernetes in March")
    expect(page.locator(".trainee-email")).to_have_text("trainee@example.com")
    expect(page.get_by_label("New password", exact=True)).to_be_focused()
    page.screenshot(path=str(ARTIFACTS / "invite.png"), full_page=True)

    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Set password and continue").click()

    expect(page).to_have_url(live_server.url + enrolment.cohort.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text("Kubernetes in March")
    expect(page.locator(".nav-user")).to_have_text("Tia Trainee")
    page.screenshot(path=str(ARTIFACTS / "invite-cohort.png"), full_page=True)
    enrolment.refresh_from_db()
    assert enrolment.state == Enrolment.State.ACTIVE

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
