"""Invite links: the token, the page that sets a password, every way a link stops working,
the Celery task that e-mails it, and the whole way in, in a real browser."""

from __future__ import annotations

import datetime as dt
import re
import threading
from unittest.mock import patch
from urllib.parse import quote

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from courseware import invites
from courseware.invites import InviteProblem
from courseware.models import Cohort, Course, Enrolment
from courseware.tasks import send_invite_email
from tests.factories import ARTIFACTS, PASSWORD, make_cohort

pytestmark = pytest.mark.django_db

SITE = "https://lotse.example"


@pytest.fixture(autouse=True)
def _site(settings: Settings) -> None:
    settings.SITE_URL = SITE


@pytest.fixture
def march_cohort(fixture_course: Course) -> Cohort:
    """Running since yesterday."""
    return make_cohort(fixture_course, "k8s-march", days_from_now=-1, name="Kubernetes in March")


@pytest.fixture
def invited_trainee() -> User:
    """Ida, as an import leaves a trainee: the e-mail address as login, no usable password
    (so nobody can log in as her until the invite sets one)."""
    return User.objects.create_user(
        username="ida@example.com", email="ida@example.com", first_name="Ida", last_name="Invited"
    )


@pytest.fixture
def enrolment(march_cohort: Cohort, invited_trainee: User) -> Enrolment:
    enrolment = Enrolment.objects.create(cohort=march_cohort, trainee=invited_trainee)
    invites.send_invite(enrolment)
    mail.outbox.clear()
    return enrolment


def link(enrolment: Enrolment) -> str:
    return reverse("courseware:invite", args=[invites.make_token(enrolment)])


def accept_form(password: str = PASSWORD) -> dict[str, str]:
    return {"new_password1": password, "new_password2": password}


def assert_not_accepted(enrolment: Enrolment) -> None:
    enrolment.refresh_from_db()
    enrolment.trainee.refresh_from_db()
    assert enrolment.state != Enrolment.State.ACTIVE
    assert enrolment.accepted_at is None
    assert not enrolment.trainee.has_usable_password()


def test_it_round_trips_a_token(enrolment: Enrolment) -> None:
    check = invites.check_token(invites.make_token(enrolment))

    assert check.ok
    assert check.enrolment == enrolment


def test_it_shows_the_password_form_for_a_good_link(client: Client, enrolment: Enrolment) -> None:
    response = client.get(link(enrolment))

    assert response.status_code == 200
    assert "<h1>Welcome to Kubernetes in March</h1>" in response.text
    assert "ida@example.com" in response.text
    assert 'name="new_password1"' in response.text
    assert 'name="new_password2"' in response.text
    assert 'autocomplete="new-password" autofocus' in response.text
    assert 'autocomplete="username"' in response.text
    assert "no-cache" in response["Cache-Control"]


def test_it_sets_the_password_activates_the_enrolment_and_logs_in(
    client: Client, enrolment: Enrolment
) -> None:
    response = client.post(link(enrolment), accept_form())

    assert response.status_code == 302
    assert response["Location"] == enrolment.cohort.get_absolute_url()
    enrolment.refresh_from_db()
    trainee = enrolment.trainee
    trainee.refresh_from_db()
    assert enrolment.state == Enrolment.State.ACTIVE
    assert enrolment.accepted_at is not None
    assert trainee.is_active
    assert trainee.check_password(PASSWORD)
    assert client.session["_auth_user_id"] == str(trainee.pk)
    cohort_page = client.get(response["Location"])
    assert cohort_page.status_code == 200
    assert "Kubernetes in March" in cohort_page.text


def test_it_refuses_a_second_use_of_the_same_link(client: Client, enrolment: Enrolment) -> None:
    url = link(enrolment)
    client.post(url, accept_form())
    stranger = Client()

    response = stranger.get(url)
    resubmitted = stranger.post(url, accept_form("another-password-99"))

    assert response.status_code == 410
    assert "already been used" in response.text
    assert f'href="/accounts/login/?next={enrolment.cohort.get_absolute_url()}"' in response.text
    assert resubmitted.status_code == 410
    enrolment.trainee.refresh_from_db()
    assert enrolment.trainee.check_password(PASSWORD)


def test_it_sends_the_trainee_back_to_the_cohort_on_a_used_link(
    client: Client, enrolment: Enrolment
) -> None:
    url = link(enrolment)
    client.post(url, accept_form())

    response = client.get(url)

    assert response.status_code == 410
    assert f'href="{enrolment.cohort.get_absolute_url()}"' in response.text


def sent_ago(enrolment: Enrolment, age: dt.timedelta) -> str:
    """The link of an invite sent ``age`` ago."""
    sent = timezone.now().replace(microsecond=0) - age
    enrolment.invited_at = sent
    enrolment.save()
    # The signer stamps its own clock into the token; set that clock back to the sending.
    with patch("django.core.signing.time.time", return_value=sent.timestamp()):
        return link(enrolment)


def test_it_refuses_an_expired_link(client: Client, enrolment: Enrolment) -> None:
    url = sent_ago(enrolment, dt.timedelta(days=15))

    response = client.get(url)
    posted = client.post(url, accept_form())

    assert response.status_code == 410
    assert "This invite has expired" in response.text
    assert "Ask your instructor for a new invite" in response.text
    assert posted.status_code == 410
    assert_not_accepted(enrolment)


def test_it_honours_the_configured_lifetime(
    client: Client, enrolment: Enrolment, settings: Settings
) -> None:
    settings.INVITE_MAX_AGE_DAYS = 3

    fresh = client.get(sent_ago(enrolment, dt.timedelta(days=2, hours=23)))
    stale = client.get(sent_ago(enrolment, dt.timedelta(days=3, minutes=1)))

    assert fresh.status_code == 200
    assert stale.status_code == 410
    assert "Invite links work for 3 days" in stale.text


def test_it_refuses_a_link_replaced_by_a_newer_invite(client: Client, enrolment: Enrolment) -> None:
    # Stamps have whole seconds: move the first send back so the re-send moves the stamp.
    enrolment.invited_at -= dt.timedelta(minutes=5)
    enrolment.save()
    old_url = link(enrolment)
    invites.send_invite(enrolment)

    response = client.get(old_url)
    posted = client.post(old_url, accept_form())

    assert response.status_code == 410
    assert "A newer invite was sent" in response.text
    assert "ask your instructor for a new invite" in response.text
    assert posted.status_code == 410
    assert_not_accepted(enrolment)
    assert client.get(link(enrolment)).status_code == 200


def test_it_refuses_a_link_changed_by_one_character(client: Client, enrolment: Enrolment) -> None:
    token = invites.make_token(enrolment)
    position = len(token) // 2
    changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]

    response = client.get(reverse("courseware:invite", args=[changed]))
    posted = client.post(reverse("courseware:invite", args=[changed]), accept_form())

    assert response.status_code == 400
    assert "Copy the whole link from the e-mail" in response.text
    assert posted.status_code == 400
    assert_not_accepted(enrolment)


@pytest.mark.parametrize("token", ["x", "not:a:token", "a" * 500, "%00"])
def test_it_answers_garbage_with_400_not_500(client: Client, token: str) -> None:
    response = client.get(f"/invite/{token}/")

    assert response.status_code == 400


def test_it_refuses_the_link_of_a_removed_enrolment(client: Client, enrolment: Enrolment) -> None:
    url = link(enrolment)
    enrolment.state = Enrolment.State.REMOVED
    enrolment.removed_at = timezone.now()
    enrolment.save()

    response = client.get(url)
    posted = client.post(url, accept_form())

    assert response.status_code == 410
    assert "This invite was withdrawn" in response.text
    assert posted.status_code == 410
    assert_not_accepted(enrolment)


def test_it_refuses_the_link_of_a_deleted_enrolment(client: Client, enrolment: Enrolment) -> None:
    url = link(enrolment)
    enrolment.delete()

    response = client.get(url)

    assert response.status_code == 410
    assert "This invite was withdrawn" in response.text


def test_it_keeps_everything_as_it_was_on_a_weak_password(
    client: Client, enrolment: Enrolment
) -> None:
    response = client.post(link(enrolment), accept_form("12345678"))

    assert response.status_code == 200
    assert "This password is too common." in response.text
    assert 'aria-invalid="true"' in response.text
    assert "_auth_user_id" not in client.session
    assert_not_accepted(enrolment)


def test_it_keeps_everything_as_it_was_on_mismatched_passwords(
    client: Client, enrolment: Enrolment
) -> None:
    response = client.post(
        link(enrolment), {"new_password1": PASSWORD, "new_password2": PASSWORD + "x"}
    )

    assert response.status_code == 200
    assert "match" in response.text
    assert 'id="id_new_password2_error"' in response.text
    assert_not_accepted(enrolment)


def test_it_says_who_is_being_set_up_when_someone_else_is_logged_in(
    client: Client, enrolment: Enrolment, other_trainee: User
) -> None:
    client.force_login(other_trainee)

    page = client.get(link(enrolment))
    client.post(link(enrolment), accept_form())

    assert "You are logged in as <strong>tom_trainee</strong>" in page.text
    assert client.session["_auth_user_id"] == str(enrolment.trainee_id)


def test_it_accepts_once_when_the_service_is_called_twice(enrolment: Enrolment) -> None:
    invites.accept(enrolment, PASSWORD)

    with pytest.raises(invites.InviteRefused) as refused:
        invites.accept(enrolment, "another-password-99")

    assert refused.value.problem == InviteProblem.USED
    enrolment.trainee.refresh_from_db()
    assert enrolment.trainee.check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)")
def test_it_accepts_once_when_two_submits_race(enrolment: Enrolment) -> None:
    # Both requests checked the link before either accepted: only the row lock stands
    # between them and a double acceptance.
    first, second = Enrolment.objects.get(pk=enrolment.pk), Enrolment.objects.get(pk=enrolment.pk)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(checked: Enrolment, password: str) -> None:
        try:
            start.wait()
            invites.accept(checked, password)
            outcomes.append("accepted")
        except invites.InviteRefused as refused:
            outcomes.append(refused.problem.value)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=submit, args=(first, PASSWORD)),
        threading.Thread(target=submit, args=(second, "another-password-99")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["accepted", "used"]
    assert Enrolment.objects.get(pk=enrolment.pk).state == Enrolment.State.ACTIVE


# -- an invite sets up a new account; it never resets, reactivates or reaches staff -------


def test_it_never_sets_the_password_of_an_account_that_has_one(
    client: Client, enrolment: Enrolment
) -> None:
    ida = enrolment.trainee
    ida.set_password(PASSWORD)
    ida.save()
    url = link(enrolment)

    page = client.get(url)
    posted = client.post(url, accept_form("taken-over-password-99"))

    assert page.status_code == 409
    assert "You already have an account" in page.text
    assert f'href="/accounts/login/?next={quote(url)}"' in page.text
    assert posted.status_code == 409
    ida.refresh_from_db()
    assert ida.check_password(PASSWORD)
    assert "_auth_user_id" not in client.session
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.accepted_at) == (Enrolment.State.INVITED, None)


def test_it_lets_a_trainee_with_a_password_join_once_logged_in(
    client: Client, enrolment: Enrolment
) -> None:
    ida = enrolment.trainee
    ida.set_password(PASSWORD)
    ida.save()
    url = link(enrolment)

    logged_in = client.post(
        "/accounts/login/", {"username": "ida@example.com", "password": PASSWORD, "next": url}
    )
    page = client.get(logged_in["Location"])
    joined = client.post(url)

    assert logged_in["Location"] == url
    assert page.status_code == 200
    assert "<h1>Join Kubernetes in March</h1>" in page.text
    assert "Your password stays as it is." in page.text
    assert 'name="new_password1"' not in page.text
    assert joined.status_code == 302
    assert joined["Location"] == enrolment.cohort.get_absolute_url()
    enrolment.refresh_from_db()
    assert enrolment.state == Enrolment.State.ACTIVE
    assert enrolment.accepted_at is not None
    ida.refresh_from_db()
    assert ida.check_password(PASSWORD)
    assert client.get(url).status_code == 410  # used


def test_it_does_not_let_someone_else_join_for_the_trainee(
    client: Client, enrolment: Enrolment, other_trainee: User
) -> None:
    ida = enrolment.trainee
    ida.set_password(PASSWORD)
    ida.save()
    client.force_login(other_trainee)

    page = client.get(link(enrolment))
    posted = client.post(link(enrolment))

    assert page.status_code == 409
    assert posted.status_code == 409
    enrolment.refresh_from_db()
    assert enrolment.accepted_at is None
    with pytest.raises(ValueError, match="only the invited trainee"):
        invites.join(enrolment, other_trainee)


def test_it_never_reactivates_a_deactivated_account(client: Client, enrolment: Enrolment) -> None:
    ida = enrolment.trainee
    ida.is_active = False
    ida.save()
    url = link(enrolment)

    page = client.get(url)
    posted = client.post(url, accept_form())

    assert page.status_code == 403
    assert "This account is deactivated" in page.text
    assert "ask an admin to reactivate it" in page.text
    assert posted.status_code == 403
    assert_not_accepted(enrolment)
    ida.refresh_from_db()
    assert not ida.is_active
    with pytest.raises(invites.InviteRefused) as refused:
        invites.accept(enrolment, PASSWORD)
    assert refused.value.problem == InviteProblem.DEACTIVATED


@pytest.mark.parametrize("flag", ["is_superuser", "is_staff"])
def test_it_never_sets_up_a_staff_account_through_an_invite(
    client: Client, march_cohort: Cohort, flag: str
) -> None:
    # An enrolment from before enrolment refused staff: a superuser without a usable
    # password (one who logs in some other way), enrolled and invited.
    boss = User.objects.create_user("boss", "boss@example.com", **{flag: True})
    enrolment = Enrolment.objects.create(cohort=march_cohort, trainee=boss)
    invites.send_invite(enrolment)
    url = link(enrolment)

    page = client.get(url)
    posted = client.post(url, accept_form())

    assert page.status_code == 403
    assert "The invite is for a staff account" in page.text
    assert posted.status_code == 403
    assert_not_accepted(enrolment)
    assert "_auth_user_id" not in client.session


def test_it_refuses_when_the_account_got_a_password_after_the_link_was_checked(
    enrolment: Enrolment,
) -> None:
    checked = invites.check_token(invites.make_token(enrolment))
    assert checked.ok
    User.objects.filter(pk=enrolment.trainee_id).update(password=make_password(PASSWORD))

    with pytest.raises(invites.InviteRefused) as refused:
        invites.accept(checked.enrolment, "another-password-99")

    assert refused.value.problem == InviteProblem.HAS_PASSWORD
    enrolment.trainee.refresh_from_db()
    assert enrolment.trainee.check_password(PASSWORD)


def test_it_emails_the_link_from_the_task(
    client: Client, enrolment: Enrolment, mailoutbox: list[mail.EmailMessage]
) -> None:
    send_invite_email(enrolment.pk)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["ida@example.com"]
    assert message.subject == "Your invite to Kubernetes in March"
    urls = re.findall(r"https?://\S+", message.body)
    enrolment.refresh_from_db()  # the task stamped the invite on its own copy
    assert urls == [SITE + link(enrolment)]
    assert client.get(urls[0].removeprefix(SITE)).status_code == 200


def test_it_emails_nothing_for_an_accepted_enrolment(
    enrolment: Enrolment, mailoutbox: list[mail.EmailMessage]
) -> None:
    invites.accept(enrolment, PASSWORD)

    send_invite_email(enrolment.pk)

    assert mailoutbox == []


def test_it_emails_nothing_for_a_removed_enrolment(
    enrolment: Enrolment, mailoutbox: list[mail.EmailMessage]
) -> None:
    enrolment.state = Enrolment.State.REMOVED
    enrolment.save()

    send_invite_email(enrolment.pk)

    assert mailoutbox == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_takes_a_trainee_from_the_invite_email_to_the_cohort_page(
    page: Page, live_server: LiveServer, enrolment: Enrolment, settings: Settings
) -> None:
    invites.send_invite(enrolment)
    assert len(mail.outbox) == 1
    links = re.findall(rf"{re.escape(SITE)}/\S+", mail.outbox[0].body)
    assert len(links) == 1
    link = live_server.url + links[0].removeprefix(SITE)

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Kubernetes in March")
    expect(page.locator(".trainee-email")).to_have_text("ida@example.com")
    expect(page.get_by_label("New password", exact=True)).to_be_focused()
    page.screenshot(path=str(ARTIFACTS / "invite.png"), full_page=True)

    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Set password and continue").click()

    expect(page).to_have_url(live_server.url + enrolment.cohort.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text("Kubernetes in March")
    expect(page.locator(".nav-user")).to_have_text("Ida Invited")
    page.screenshot(path=str(ARTIFACTS / "invite-cohort.png"), full_page=True)
    enrolment.refresh_from_db()
    assert enrolment.state == Enrolment.State.ACTIVE

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
