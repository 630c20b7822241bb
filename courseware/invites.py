"""Invites: a signed, expiring link per enrolment that lets a trainee set a password.

The token carries the enrolment's id and the time its invite was sent; sending a new
invite moves ``invited_at``, which makes every older link stale. A link stops working once
used (the enrolment is accepted), when it expires (``INVITE_MAX_AGE_DAYS``), or when the
enrolment is removed.

An invite sets up an account; it is not a password reset. It sets a password only for an
account that has no usable one (as enrolment creates them). Whoever has a password already
logs in instead and then accepts the invite with one click (``join``). A deactivated account
stays deactivated (accepting never sets ``is_active``: only an admin reactivates), and an
invite for a staff or superuser account does nothing at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from courseware.models import Enrolment

log = logging.getLogger(__name__)
SALT = "lotse.invite"


class InviteProblem(StrEnum):
    TAMPERED = "tampered"
    EXPIRED = "expired"
    USED = "used"
    STALE = "stale"  # a newer invite was sent
    REMOVED = "removed"
    DEACTIVATED = "deactivated"  # the account was deactivated; an admin reactivates it
    STAFF = "staff"  # staff and superusers are not trainees, and an invite is no reset
    HAS_PASSWORD = "has_password"  # log in first, then ``join``


@dataclass(frozen=True)
class InviteCheck:
    enrolment: Enrolment | None
    problem: InviteProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _stamp(moment: dt.datetime) -> int:
    # Microseconds, in integer arithmetic: two invites sent within one second must still
    # tell their links apart.
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def make_token(enrolment: Enrolment) -> str:
    if enrolment.invited_at is None:
        raise ValueError("the enrolment has no invite yet")
    return signing.dumps({"e": enrolment.pk, "i": _stamp(enrolment.invited_at)}, salt=SALT)


def check_token(token: str) -> InviteCheck:
    """What a link's token says: its enrolment, or why it does not work."""
    max_age = dt.timedelta(days=settings.INVITE_MAX_AGE_DAYS)
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        return InviteCheck(None, InviteProblem.EXPIRED)
    except signing.BadSignature:
        return InviteCheck(None, InviteProblem.TAMPERED)
    enrolment = (
        Enrolment.objects.select_related("cohort", "trainee").filter(pk=data.get("e")).first()
    )
    if enrolment is None:
        return InviteCheck(None, InviteProblem.REMOVED)
    return InviteCheck(enrolment, _problem(enrolment, data.get("i")))


def _problem(enrolment: Enrolment, stamp: object) -> InviteProblem | None:
    """Why an invite stamped ``stamp`` does not set up ``enrolment``'s account with a
    password, if it does not."""
    if enrolment.state == Enrolment.State.REMOVED:
        return InviteProblem.REMOVED
    if enrolment.accepted_at is not None:
        return InviteProblem.USED
    if enrolment.invited_at is None or _stamp(enrolment.invited_at) != stamp:
        return InviteProblem.STALE
    trainee = enrolment.trainee
    if not trainee.is_active:
        return InviteProblem.DEACTIVATED
    if trainee.is_staff or trainee.is_superuser:
        return InviteProblem.STAFF
    if trainee.has_usable_password():
        return InviteProblem.HAS_PASSWORD
    return None


class InviteRefused(Exception):
    """The invite stopped working between the check of its link and its acceptance."""

    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def accept(enrolment: Enrolment, password: str) -> AbstractBaseUser:
    """Accept the invite of ``enrolment`` (as its link's check found it): set the password
    of the trainee, who has none yet, and activate the enrolment. The password must have
    been validated already (SetPasswordForm does it, with the user's attributes at hand).

    Raises InviteRefused if the invite was used, re-sent or removed in the meantime, or if
    the account is deactivated, staff, or has a password by now.
    """
    with _accepting(enrolment) as locked:
        trainee = locked.trainee
        trainee.set_password(password)
        trainee.save(update_fields=["password"])
    log.info("invite accepted for enrolment %s", locked.pk)
    return trainee


def join(enrolment: Enrolment, user: AbstractBaseUser) -> None:
    """Accept the invite of ``enrolment`` for its trainee ``user``, who has a password and
    is logged in: the enrolment becomes active, the account stays as it is."""
    if user.pk != enrolment.trainee_id:
        raise ValueError("only the invited trainee joins with their own login")
    with _accepting(enrolment, also_allowed=InviteProblem.HAS_PASSWORD) as locked:
        pass  # the account stays as it is
    log.info("invite accepted by login for enrolment %s", locked.pk)


@contextmanager
def _accepting(
    enrolment: Enrolment, also_allowed: InviteProblem | None = None
) -> Iterator[Enrolment]:
    """The enrolment, locked and checked again, for the caller to finish the account; then
    marked accepted. ``also_allowed`` is a problem that the caller deals with itself."""
    if enrolment.invited_at is None:
        raise InviteRefused(InviteProblem.STALE)
    with transaction.atomic():
        # The row lock (of the enrolment and, through the join, of the trainee) serialises
        # a double submit: the second waits here, then finds accepted_at set and is refused
        # instead of accepting twice; so is an admin's change to the account meanwhile.
        locked = (
            Enrolment.objects.select_for_update()
            .select_related("cohort", "trainee")
            .filter(pk=enrolment.pk)
            .first()
        )
        if locked is None:
            raise InviteRefused(InviteProblem.REMOVED)
        # Compared with the stamp the link was checked against, so that an invite re-sent
        # while the form was open makes this (older) link stale.
        problem = _problem(locked, _stamp(enrolment.invited_at))
        if problem is not None and problem != also_allowed:
            raise InviteRefused(problem)
        yield locked
        locked.state = Enrolment.State.ACTIVE
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["state", "accepted_at"])


def invite_url(enrolment: Enrolment) -> str:
    if not settings.SITE_URL:
        raise ImproperlyConfigured("SITE_URL is required to put links into e-mails")
    path = reverse("courseware:invite", args=[make_token(enrolment)])
    return settings.SITE_URL.rstrip("/") + path


def send_invite(enrolment: Enrolment) -> None:
    """Stamp a new invite on the enrolment and e-mail its link to the trainee."""
    enrolment.invited_at = timezone.now()
    enrolment.save(update_fields=["invited_at"])
    context = {
        "enrolment": enrolment,
        "cohort": enrolment.cohort,
        "trainee": enrolment.trainee,
        "url": invite_url(enrolment),
        "days": settings.INVITE_MAX_AGE_DAYS,
    }
    send_mail(
        subject=f"Your invite to {enrolment.cohort.name}",
        message=render_to_string("email/invite.txt", context),
        from_email=None,
        recipient_list=[enrolment.trainee.email],
    )
    log.info("invite sent for enrolment %s", enrolment.pk)


def queue_invites(enrolment_ids: list[int]) -> None:
    """Send invites from a worker once the current transaction has committed."""
    from courseware.tasks import send_invite_email

    def enqueue() -> None:
        for enrolment_id in enrolment_ids:
            send_invite_email.delay(enrolment_id)

    transaction.on_commit(enqueue)
