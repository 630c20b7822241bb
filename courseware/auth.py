"""Logging in: with a username or an e-mail address, in any letter case, and throttled.

Trainees are created from enrolment lists by e-mail, and they type their address the way
they remember it; an exact-username match still wins, so staff accounts with plain
usernames work as before.

Failed logins are counted by django-axes per login and client address: after
``AXES_FAILURE_LIMIT`` failures, that login is refused from that address, the right
password included, for ``AXES_COOLOFF_MINUTES``. A login typed as an e-mail address counts
under the username it resolves to, so switching between the two does not double the
attempts.
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def find_user(login: str) -> AbstractBaseUser | None:
    """The one user ``login`` names: by exact username, else by e-mail address in any case
    (an address two accounts share names neither)."""
    users = get_user_model()._default_manager
    user = users.filter(username=login).first()
    if user is None:
        matches = list(users.filter(email__iexact=login.strip())[:2])
        user = matches[0] if len(matches) == 1 else None
    return user


class EmailOrUsernameBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if username is None or password is None:
            return None
        user = find_user(username)
        if user is None:
            # Hash anyway, so that an unknown login takes as long as a wrong password.
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class LoginThrottle(AxesStandaloneBackend):
    """django-axes' lockout check, first in ``AUTHENTICATION_BACKENDS``. An authentication
    without a request (a management command, the test client's ``login()``) is no login
    attempt from the web: it is passed on to the next backend unchecked."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_name(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The name django-axes counts failures under (``AXES_USERNAME_CALLABLE``): the username
    of the account the login names, or the login itself, in lower case, for no account."""
    typed = (credentials or {}).get("username")
    if typed is None:
        typed = request.POST.get("username", "")
    typed = str(typed)
    # Axes asks several times per attempt; the answer does not change within a request.
    cache: dict[str, str] = request.__dict__.setdefault("_login_names", {})
    if typed not in cache:
        user = find_user(typed) if typed else None
        cache[typed] = user.get_username() if user else typed.strip().lower()
    return cache[typed]


def client_address(request: HttpRequest) -> str | None:
    """The client's address (``AXES_CLIENT_IP_CALLABLE``). Behind ``TRUSTED_PROXY_COUNT``
    proxies it is the entry the outermost of them appended to X-Forwarded-For; entries to
    its left came from the client and are not trusted."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if proxies and hops:
        return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR")


def locked_out(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The page for a login that is locked out (``AXES_LOCKOUT_CALLABLE``): says when to try
    again, in the site's own style, with a Retry-After header."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else None
    context = {
        "minutes": math.ceil(seconds / 60) if seconds else None,
        "until": timezone.localtime() + cool_off if cool_off else None,
        "time_zone": settings.TIME_ZONE,
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
