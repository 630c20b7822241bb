"""Invites: a signed, expiring link per enrolment that lets a trainee set a password.

The token carries the enrolment's id and the time its invite was sent; sending a new
invite moves ``invited_at``, which makes every older link stale. A link stops working once
used (the enrolment is accepted), when it expires (``INVITE_MAX_AGE_DAYS``), or when the
enrolment is removed.
"""

from __future__ import annotations

import datetime as dt
import logging
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
    """Why an invite stamped ``stamp`` no longer works for ``enrolment``, if it does not."""
    if enrolment.state == Enrolment.State.REMOVED:
        return InviteProblem.REMOVED
    if enrolment.accepted_at is not None:
        return InviteProblem.USED
    if enrolment.invited_at is None or _stamp(enrolment.invited_at) != stamp:
        return InviteProblem.STALE
    return None


class InviteRefused(Exception):
    """The invite stopped working between the check of its link and its acceptance."""

    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def accept(enrolment: Enrolment, password: str) -> AbstractBaseUser:
    """Accept the invite of ``enrolment`` (as its link's check found it): set the trainee's
    password, activate trainee and enrolment. The password must have been validated already
    (SetPasswordForm does it, with the user's attributes at hand).

    Raises InviteRefused if the invite was used, re-sent or removed in the meantime.
    """
    if enrolment.invited_at is None:
        raise InviteRefused(InviteProblem.STALE)
    with transaction.atomic():
        # The row lock serialises a double submit: the second waits here, then finds
        # accepted_at set and is refused instead of accepting twice.
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
        if problem is not None:
            raise InviteRefused(problem)
        trainee = locked.trainee
        trainee.set_password(password)
        trainee.is_active = True
        trainee.save(update_fields=["password", "is_active"])
        locked.state = Enrolment.State.ACTIVE
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["state", "accepted_at"])
    log.info("invite accepted for enrolment %s", locked.pk)
    return trainee


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
