"""The labs of a cohort: which trainees have one, and the lab operations run for them.

``labs`` provisions, resets and tears down labs by id and knows nothing of cohorts; this
module decides which labs a cohort operation means (its live trainees, or some of them),
creates their rows, and queues the work once the current transaction has committed.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from courseware.models import Cohort, Enrolment
from labs import provisioning, tasks
from labs.models import Lab


class Operation(StrEnum):
    PROVISION = "provision"
    TEARDOWN = "teardown"
    RESET = "reset"


_TASKS = {
    Operation.PROVISION: tasks.provision_labs,
    Operation.TEARDOWN: tasks.teardown_labs,
    Operation.RESET: tasks.reset_labs,
}


def live_enrolments(cohort: Cohort) -> QuerySet[Enrolment]:
    return cohort.enrolments.exclude(state=Enrolment.State.REMOVED).select_related(
        "trainee", "cohort"
    )


def ensure_labs(cohort: Cohort, enrolment_ids: list[int] | None = None) -> list[Lab]:
    """The labs of the cohort's live trainees (or of those of ``enrolment_ids``), their rows
    created where missing. Raises ``LabUnavailable`` when the cohort has no cluster."""
    enrolments = live_enrolments(cohort)
    if enrolment_ids is not None:
        enrolments = enrolments.filter(pk__in=enrolment_ids)
    with transaction.atomic():
        return [provisioning.ensure_lab(enrolment) for enrolment in enrolments]


def labs_to_tear_down(cohort: Cohort, enrolment_ids: list[int] | None = None) -> list[int]:
    labs = Lab.objects.filter(enrolment__cohort=cohort).exclude(state=Lab.State.DELETED)
    if enrolment_ids is not None:
        labs = labs.filter(enrolment_id__in=enrolment_ids)
    return list(labs.values_list("pk", flat=True))


def lab_ids_for(
    operation: Operation, cohort: Cohort, enrolment_ids: list[int] | None = None
) -> list[int]:
    if operation == Operation.TEARDOWN:
        return labs_to_tear_down(cohort, enrolment_ids)
    return [lab.pk for lab in ensure_labs(cohort, enrolment_ids)]


def queue(operation: Operation, cohort: Cohort, enrolment_ids: list[int] | None = None) -> int:
    """Queue ``operation`` for the cohort's labs (all, or those of ``enrolment_ids``) to run
    after the current transaction commits; returns how many labs it covers."""
    lab_ids = lab_ids_for(operation, cohort, enrolment_ids)
    if lab_ids:
        task = _TASKS[operation]
        transaction.on_commit(lambda: task.delay(lab_ids))
    return len(lab_ids)


def is_due(cohort: Cohort, now: dt.datetime | None = None) -> bool:
    """Whether the cohort's labs should exist now: it has a cluster and runs, or starts
    within ``LAB_PROVISION_LEAD_HOURS`` (what ``schedule`` provisions)."""
    now = now or timezone.now()
    soon = now + dt.timedelta(hours=settings.LAB_PROVISION_LEAD_HOURS)
    return cohort.cluster_id is not None and cohort.starts_at <= soon and cohort.ends_at > now


def provision_new_trainees(cohort: Cohort, enrolment_ids: list[int]) -> bool:
    """After trainees joined ``cohort``: when its labs are due, queue theirs to be
    provisioned once the current transaction commits. Returns whether it queued.

    The lab rows are made by the task, not here, so that an import of many trainees runs
    the same queries as one of a few."""
    if not enrolment_ids or not is_due(cohort):
        return False
    from courseware.tasks import provision_trainee_labs

    cohort_id, ids = cohort.pk, list(enrolment_ids)
    transaction.on_commit(lambda: provision_trainee_labs.delay(cohort_id, ids))
    return True


def provision_trainee_labs(cohort_id: int, enrolment_ids: list[int]) -> int:
    """The worker's half of ``provision_new_trainees``: if the cohort's labs are still due,
    make the trainees' lab rows and queue their provisioning. Returns how many labs."""
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None or not is_due(cohort):
        return 0
    return queue(Operation.PROVISION, cohort, enrolment_ids)


def schedule(now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Beat's work: provision the labs of cohorts that start soon (or run and lack labs),
    tear down those of cohorts that ended a while ago."""
    now = now or timezone.now()
    soon = now + dt.timedelta(hours=settings.LAB_PROVISION_LEAD_HOURS)
    long_ago = now - dt.timedelta(hours=settings.LAB_TEARDOWN_GRACE_HOURS)
    starting = Cohort.objects.filter(cluster__isnull=False, starts_at__lte=soon, ends_at__gt=now)
    to_provision = [
        cohort
        for cohort in starting
        if live_enrolments(cohort)
        .exclude(lab__state__in=[Lab.State.READY, Lab.State.PROVISIONING])
        .exists()
    ]
    to_teardown = list(
        Cohort.objects.filter(ends_at__lte=long_ago)
        .filter(enrolments__lab__state__in=[s for s in Lab.State if s != Lab.State.DELETED])
        .distinct()
    )
    for cohort in to_provision:
        queue(Operation.PROVISION, cohort)
    for cohort in to_teardown:
        queue(Operation.TEARDOWN, cohort)
    return {
        "provision": [cohort.pk for cohort in to_provision],
        "teardown": [cohort.pk for cohort in to_teardown],
    }
