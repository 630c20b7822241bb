"""What an instructor does to one trainee from the dashboard: reset the lab, re-run the
checks, send the invite again. Plain functions that answer with a sentence for the page;
the views only decide who may call them (``courseware.access.can_manage_cohort``).

They reuse what the admin's actions run — ``courseware.cohort_labs.queue`` for the lab,
``courseware.tasks.check_lab`` for the checks, ``courseware.invites.queue_invites`` for the
invite — queued for after the commit, and each leaves a line in the admin's history of the
enrolment, as the admin's actions do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import formats, timezone

from courseware import progress
from courseware.cohort_labs import Operation
from courseware.cohort_labs import queue as queue_lab_operation
from courseware.invites import queue_invites
from courseware.models import Enrolment
from labs.models import Lab


@dataclass(frozen=True)
class Outcome:
    """A sentence for the instructor, and the HTTP status a script gets with it (202: the
    work is queued; 409: nothing was done, and the sentence says why)."""

    message: str
    status: int = 202

    @property
    def ok(self) -> bool:
        return self.status < 400


def name_of(enrolment: Enrolment) -> str:
    trainee = enrolment.trainee
    return trainee.get_full_name() or trainee.get_username()


def _lab(enrolment: Enrolment) -> Lab | None:
    return Lab.objects.filter(enrolment=enrolment).first()


def reset_consequence(enrolment: Enrolment) -> list[str]:
    """What a reset deletes and what it keeps, for the confirmation step."""
    lab = _lab(enrolment)
    if lab is None or lab.state == Lab.State.DELETED:
        return [
            f"{name_of(enrolment)} has no lab now: a new one is provisioned.",
            "Their check results and progress are kept.",
        ]
    return [
        f"The namespace {lab.namespace} is deleted with everything in it: the pods, "
        "deployments, services, config maps, secrets and every other object "
        f"{name_of(enrolment)} made there.",
        "The terminal's shell ends, and kubeconfigs downloaded for this lab stop working.",
        "A fresh lab is then provisioned with the same name; the terminal opens again "
        "once it is ready.",
        "Their check results and progress are kept (the checks judge the empty lab anew).",
    ]


def reset_lab(enrolment: Enrolment, by: AbstractBaseUser) -> Outcome:
    """Tear the trainee's lab down and provision it anew (a lab is made if there is none)."""
    cohort = enrolment.cohort
    if enrolment.state == Enrolment.State.REMOVED:
        return Outcome(f"{name_of(enrolment)} was removed from the cohort: no lab.", 409)
    if cohort.cluster_id is None:
        return Outcome(f"{cohort.name} has no cluster set: there is nowhere to put a lab.", 409)
    with transaction.atomic():
        queue_lab_operation(Operation.RESET, cohort, [enrolment.pk])
        _log(by, enrolment, "Started resetting the lab (from the dashboard)")
    return Outcome(
        f"Resetting the lab of {name_of(enrolment)}: it is deleted and provisioned anew. "
        "Its state shows in the row."
    )


def rerun_checks(enrolment: Enrolment) -> Outcome:
    """Judge the trainee's opened tasks through the API now (what "Check now" and the sweep
    run), queued for a worker; the results reach the dashboard like any other."""
    lab = _lab(enrolment)
    if lab is None or lab.state != Lab.State.READY:
        state = lab.get_state_display().lower() if lab else "missing"
        return Outcome(
            f"The lab of {name_of(enrolment)} is not ready ({state}): nothing to check.", 409
        )
    if progress.lab_work(lab.pk) is None:
        return Outcome(
            f"{name_of(enrolment)} has not opened an exercise yet: nothing to check.", 409
        )
    from courseware.tasks import check_lab

    lab_id = lab.pk
    transaction.on_commit(lambda: check_lab.delay(lab_id))
    return Outcome(f"Checking the opened tasks of {name_of(enrolment)}; the row follows.")


def resend_invite(enrolment: Enrolment, by: AbstractBaseUser) -> Outcome:
    """A new invite by e-mail, for a trainee who has not accepted one yet; the older links
    stop working when it is sent."""
    if enrolment.state != Enrolment.State.INVITED or enrolment.accepted_at is not None:
        if enrolment.accepted_at is not None:
            when = formats.date_format(timezone.localtime(enrolment.accepted_at), "j M Y, H:i")
            reason = f"accepted the invite on {when}"
        else:
            reason = f"is {enrolment.get_state_display().lower()}"
        return Outcome(f"{name_of(enrolment)} {reason}: no invite sent.", 409)
    with transaction.atomic():
        queue_invites([enrolment.pk])
        _log(by, enrolment, "Sent the invite again (from the dashboard)")
    return Outcome(f"A new invite goes out to {enrolment.trainee.email}; older links stop working.")


def _log(user: AbstractBaseUser, enrolment: Enrolment, message: str) -> None:
    queryset = Enrolment.objects.filter(pk=enrolment.pk)
    LogEntry.objects.log_actions(user.pk, queryset, CHANGE, message, single_object=True)
