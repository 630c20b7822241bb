"""Login, logout, password reset and change: Django's views with Lotse's pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core import mail
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.utils import timezone
from pytest_django import Settings

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "lighthouse-keeper-77-shines"


def input_tag(html: str, name: str) -> str:
    tags = re.findall(rf'<input [^>]*name="{name}"[^>]*>', html)
    assert len(tags) == 1, tags
    return tags[0]


def test_it_shows_the_login_page(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "<h1>Log in</h1>" in response.text
    assert '<label for="id_username">' in response.text
    assert 'autocomplete="username"' in input_tag(response.text, "username")
    assert " autofocus" in input_tag(response.text, "username")
    assert 'autocomplete="current-password"' in input_tag(response.text, "password")
    assert 'href="/accounts/password_reset/"' in response.text
    assert 'href="/static/css/lotse.css"' in response.text


def test_it_logs_in_and_goes_where_it_was_asked_to(client: Client, trainee: User) -> None:
    response = client.post(
        "/accounts/login/",
        {
            "username": "tina_trainee",
            "password": PASSWORD,
            "next": "/accounts/password_change/",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/"
    assert client.session["_auth_user_id"] == str(trainee.pk)


def test_it_logs_in_to_the_home_page(client: Client, trainee: User) -> None:
    response = client.post("/accounts/login/", {"username": "tina_trainee", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_explains_a_wrong_password(client: Client, trainee: User) -> None:
    response = client.post("/accounts/login/", {"username": "tina_trainee", "password": "wrong"})

    assert response.status_code == 200
    assert 'class="form-errors" role="alert"' in response.text
    assert "Please enter a correct username and password" in response.text
    assert 'value="tina_trainee"' in response.text
    assert "_auth_user_id" not in client.session


def test_it_shows_who_is_logged_in_with_a_logout_button(client: Client, trainee: User) -> None:
    trainee.last_name = "Trainee"
    trainee.save()
    client.force_login(trainee)

    response = client.get("/accounts/password_change/")

    assert response.status_code == 200
    assert '<a class="nav-user" href="/accounts/password_change/"' in response.text
    assert "Tina Trainee</a>" in response.text
    assert '<form class="logout-form" method="post" action="/accounts/logout/">' in response.text
    assert ">Log in</a>" not in response.text


def test_it_offers_anonymous_visitors_a_login_link(client: Client) -> None:
    response = client.get("/accounts/password_reset/")

    assert '<a href="/accounts/login/">Log in</a>' in response.text
    assert "logout-form" not in response.text


def test_it_logs_out_by_post_only(client: Client, trainee: User) -> None:
    client.force_login(trainee)

    by_get = client.get("/accounts/logout/")
    still_in = "_auth_user_id" in client.session
    by_post = client.post("/accounts/logout/")

    assert by_get.status_code == 405
    assert still_in
    assert by_post.status_code == 302
    assert by_post["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_it_renders_the_logged_out_page(client: Client, settings: Settings) -> None:
    settings.LOGOUT_REDIRECT_URL = None

    response = client.post("/accounts/logout/")

    assert response.status_code == 200
    assert "You are logged out" in response.text


def test_it_resets_a_password_through_the_emailed_link(
    client: Client, trainee: User, mailoutbox: list[mail.EmailMessage]
) -> None:
    form = client.get("/accounts/password_reset/")
    sent = client.post("/accounts/password_reset/", {"email": "tina_trainee@example.com"})

    email_input = input_tag(form.text, "email")
    assert 'type="email"' in email_input
    assert 'autocomplete="email"' in email_input
    assert " autofocus" in email_input
    assert sent.status_code == 302
    assert client.get(sent["Location"]).status_code == 200
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["tina_trainee@example.com"]
    assert message.subject == "Reset your Lotse password"
    assert "You log in with: tina_trainee" in message.body
    links = re.findall(r"https?://\S+", message.body)
    assert len(links) == 1
    # The link names the site's own address, whatever Host the request came with.
    assert links[0].startswith(f"{django_settings.SITE_URL}/accounts/reset/")
    path = links[0].removeprefix(django_settings.SITE_URL)

    confirm = client.get(path, follow=True)
    assert confirm.status_code == 200
    assert "Choose a new password" in confirm.text
    assert 'autocomplete="new-password" autofocus' in input_tag(confirm.text, "new_password1")
    set_password_url = confirm.redirect_chain[-1][0]
    done = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert done.status_code == 302
    assert "Your password is set" in client.get(done["Location"]).text
    trainee.refresh_from_db()
    assert trainee.check_password(NEW_PASSWORD)
    assert Client().login(username="tina_trainee", password=NEW_PASSWORD)
    assert "This link does not work" in client.get(path, follow=True).text


def test_it_keeps_a_weak_reset_password_out(
    client: Client, trainee: User, mailoutbox: list[mail.EmailMessage]
) -> None:
    client.post("/accounts/password_reset/", {"email": "tina_trainee@example.com"})
    link = re.findall(r"https?://\S+", mailoutbox[0].body)[0]
    set_password_url = client.get(link, follow=True).redirect_chain[-1][0]

    response = client.post(set_password_url, {"new_password1": "tina", "new_password2": "tina"})

    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.text
    trainee.refresh_from_db()
    assert trainee.check_password(PASSWORD)


def test_it_sends_nothing_to_an_unknown_address_but_says_the_same(
    client: Client, trainee: User, mailoutbox: list[mail.EmailMessage]
) -> None:
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mailoutbox == []


def test_it_changes_the_password_of_a_logged_in_user(
    client: Client, trainee: User, other_trainee: User
) -> None:
    client.force_login(trainee)

    form = client.get("/accounts/password_change/")
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert 'autocomplete="current-password" autofocus' in input_tag(form.text, "old_password")
    assert response.status_code == 302
    assert "Your password is changed" in client.get(response["Location"]).text
    trainee.refresh_from_db()
    other_trainee.refresh_from_db()
    assert trainee.check_password(NEW_PASSWORD)
    assert other_trainee.check_password(PASSWORD)


def test_it_logs_in_with_the_email_address_in_any_case(client: Client, trainee: User) -> None:
    assert client.login(username=trainee.email.upper(), password=PASSWORD)


def test_it_refuses_an_email_address_two_accounts_share(client: Client, trainee: User) -> None:
    make_user("twin", email=trainee.email)

    assert not client.login(username=trainee.email.upper(), password=PASSWORD)
    assert client.login(username="twin", password=PASSWORD)
    assert client.login(username=trainee.username, password=PASSWORD)


# -- throttling: ten wrong passwords lock the login out from that address ----------------


def fail_logins(client: Client, login: str, times: int, **extra: str) -> list[int]:
    """Post a wrong password ``times`` times; the status codes of the answers."""
    return [
        client.post(
            "/accounts/login/", {"username": login, "password": "wrong"}, **extra
        ).status_code
        for _ in range(times)
    ]


def test_it_refuses_even_the_right_password_after_ten_wrong_ones(
    client: Client, trainee: User
) -> None:
    failures = fail_logins(client, "tina_trainee", 10)

    response = client.post("/accounts/login/", {"username": "tina_trainee", "password": PASSWORD})

    # The tenth failure locks: its answer is already the lockout page.
    assert failures == [200] * 9 + [429]
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "<h1>Too many failed logins</h1>" in response.text
    assert "Try again in\n    15 minutes" in response.text
    assert 'href="/static/css/lotse.css"' in response.text
    assert "_auth_user_id" not in client.session


def test_it_lets_the_ninth_failure_be_followed_by_a_login(client: Client, trainee: User) -> None:
    assert fail_logins(client, "tina_trainee", 9) == [200] * 9

    response = client.post("/accounts/login/", {"username": "tina_trainee", "password": PASSWORD})

    assert response.status_code == 302
    assert AccessAttempt.objects.count() == 0  # a success clears the count


def test_it_counts_email_logins_under_the_username(client: Client, trainee: User) -> None:
    fail_logins(client, "tina_trainee", 5)
    fail_logins(client, "TINA_TRAINEE@example.com", 5)

    by_name = client.post("/accounts/login/", {"username": "tina_trainee", "password": PASSWORD})
    by_email = client.post(
        "/accounts/login/", {"username": "Tina_Trainee@Example.com", "password": PASSWORD}
    )

    assert (by_name.status_code, by_email.status_code) == (429, 429)
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {"tina_trainee"}


def test_it_locks_the_login_out_from_that_address_only(client: Client, trainee: User) -> None:
    fail_logins(client, "tina_trainee", 10, REMOTE_ADDR="198.51.100.7")

    elsewhere = Client().post(
        "/accounts/login/",
        {"username": "tina_trainee", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.8",
    )
    other_login = Client().post(
        "/accounts/login/",
        {"username": "tom_trainee", "password": "wrong"},
        REMOTE_ADDR="198.51.100.7",
    )

    assert elsewhere.status_code == 302
    assert other_login.status_code == 200


def test_it_lets_the_login_in_again_after_the_cool_off(client: Client, trainee: User) -> None:
    fail_logins(client, "tina_trainee", 10)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))

    response = client.post("/accounts/login/", {"username": "tina_trainee", "password": PASSWORD})

    assert response.status_code == 302


def test_it_throttles_the_admin_login_too(client: Client, admin: User) -> None:
    for _ in range(10):
        client.post("/admin/login/", {"username": "ada_admin", "password": "wrong"})

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "ada_admin", "password": PASSWORD}
    )

    assert response.status_code == 429
    assert "Too many failed logins" in response.text


def test_it_honours_the_configured_limit_and_cool_off(
    client: Client, trainee: User, settings: Settings
) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=2)
    fail_logins(client, "tina_trainee", 3)

    response = client.post("/accounts/login/", {"username": "tina_trainee", "password": PASSWORD})

    assert response.status_code == 429
    assert response["Retry-After"] == "120"
    assert "Try again in\n    2 minutes" in response.text


def test_it_trusts_x_forwarded_for_only_from_configured_proxies(
    client: Client, trainee: User, settings: Settings
) -> None:
    # Without a trusted proxy the header is the client's own word: changing it does not help.
    fail_logins(client, "tina_trainee", 10, HTTP_X_FORWARDED_FOR="203.0.113.1")
    spoofed = client.post(
        "/accounts/login/",
        {"username": "tina_trainee", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.2",
    )
    assert spoofed.status_code == 429

    # Behind one proxy, the entry it appended is the client's address.
    settings.TRUSTED_PROXY_COUNT = 1
    AccessAttempt.objects.all().delete()
    fail_logins(client, "tina_trainee", 10, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.1")
    same_client = client.post(
        "/accounts/login/",
        {"username": "tina_trainee", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.1",
    )
    other_client = client.post(
        "/accounts/login/",
        {"username": "tina_trainee", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.2",
    )

    assert same_client.status_code == 429
    assert other_client.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_it_shows_the_lockout_page_through_the_async_middleware(trainee: User) -> None:
    # The ASGI server runs the middleware chain async, which takes another path in axes.
    async def eleven_attempts() -> HttpResponse:
        client = AsyncClient()
        for _ in range(10):
            await client.post("/accounts/login/", {"username": "tina_trainee", "password": "x"})
        return await client.post(
            "/accounts/login/", {"username": "tina_trainee", "password": PASSWORD}
        )

    response = async_to_sync(eleven_attempts)()

    assert response.status_code == 429
    assert "<h1>Too many failed logins</h1>" in response.text
