"""Log in with a username or an e-mail address, in any letter case.

Trainees are created from enrolment lists by e-mail, and they type their address the way
they remember it; an exact-username match still wins, so staff accounts with plain
usernames work as before.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest


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
        users = get_user_model()._default_manager
        user = users.filter(username=username).first()
        if user is None:
            matches = list(users.filter(email__iexact=username.strip())[:2])
            # An address shared by two accounts names neither of them.
            user = matches[0] if len(matches) == 1 else None
        if user is None:
            # Hash anyway, so that an unknown login takes as long as a wrong password.
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
