"""Celery tasks for labs: thin wrappers over ``labs.provisioning`` that take ids.

``acks_late`` everywhere: a worker killed mid-task leaves the message unacknowledged, so
the broker hands it to another worker, and provisioning's create-or-patch makes the rerun
safe. Errors that retrying can fix are retried with exponential backoff and jitter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from courseware.models import Cohort
from labs import provisioning
from labs.kube import ClusterError
from labs.models import Cluster, Lab

log = logging.getLogger(__name__)


class RetryableClusterError(Exception):
    """A cluster failure worth another try later (the task's autoretry catches it)."""


RETRY = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (RetryableClusterError,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 6,
}


def _run(work: Callable[[int], Lab], lab_id: int) -> str:
    try:
        lab = work(lab_id)
    except ClusterError as exc:
        if exc.retryable:
            raise RetryableClusterError(exc.message) from None
        return f"failed: {exc.message}"
    return lab.state


@shared_task(**RETRY)
def provision_lab(lab_id: int) -> str:
    return _run(provisioning.provision, lab_id)


@shared_task(**RETRY)
def teardown_lab(lab_id: int) -> str:
    return _run(provisioning.teardown, lab_id)


@shared_task(**RETRY)
def reset_lab(lab_id: int) -> str:
    return _run(provisioning.reset, lab_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def provision_cohort(cohort_id: int, enrolment_ids: list[int] | None = None) -> dict:
    run = provisioning.provision_cohort(cohort_id, enrolment_ids)
    return {"done": len(run.done), "failed": run.failed}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reset_cohort(cohort_id: int, enrolment_ids: list[int] | None = None) -> dict:
    run = provisioning.reset_cohort(cohort_id, enrolment_ids)
    return {"done": len(run.done), "failed": run.failed}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def teardown_cohort(cohort_id: int, enrolment_ids: list[int] | None = None) -> dict:
    run = provisioning.teardown_cohort(cohort_id, enrolment_ids)
    return {"done": len(run.done), "failed": run.failed}


@shared_task
def schedule_labs() -> dict:
    """Beat: provision cohorts that start soon, tear down cohorts that ended a while ago."""
    now = timezone.now()
    soon = now + timedelta(hours=settings.LAB_PROVISION_LEAD_HOURS)
    long_ago = now - timedelta(hours=settings.LAB_TEARDOWN_GRACE_HOURS)
    starting = Cohort.objects.filter(cluster__isnull=False, starts_at__lte=soon, ends_at__gt=now)
    to_provision = [
        cohort.pk
        for cohort in starting
        if cohort.enrolments.exclude(state="removed")
        .exclude(lab__state__in=[Lab.State.READY, Lab.State.PROVISIONING])
        .exists()
    ]
    to_teardown = list(
        Cohort.objects.filter(ends_at__lte=long_ago)
        .filter(enrolments__lab__state__in=[s for s in Lab.State if s != Lab.State.DELETED])
        .values_list("pk", flat=True)
        .distinct()
    )
    for cohort_id in to_provision:
        provision_cohort.delay(cohort_id)
    for cohort_id in to_teardown:
        teardown_cohort.delay(cohort_id)
    return {"provision": to_provision, "teardown": to_teardown}


@shared_task
def sweep_orphans(remove: bool = False) -> dict[str, list[str]]:
    """Beat: namespaces labelled by Lotse that no live lab owns; reported, or removed."""
    found: dict[str, list[str]] = {}
    for cluster in Cluster.objects.all():
        try:
            names = provisioning.orphans(cluster)
        except ClusterError as exc:
            log.warning("orphan sweep of %s failed: %s", cluster.name, exc.message)
            continue
        for namespace in names:
            log.warning("orphaned lab namespace %s on %s", namespace, cluster.name)
            if remove:
                provisioning.remove_orphan(cluster, namespace)
        found[cluster.name] = names
    return found
