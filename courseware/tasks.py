"""Celery tasks of the course domain: thin wrappers that take ids."""

from __future__ import annotations

from celery import shared_task

from courseware import cohort_labs, invites, progress
from courseware.models import Enrolment


@shared_task(
    autoretry_for=(OSError,),  # SMTP down or refusing: try again later
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def send_invite_email(enrolment_id: int) -> None:
    enrolment = (
        Enrolment.objects.select_related("cohort", "trainee")
        .exclude(state=Enrolment.State.REMOVED)
        .filter(pk=enrolment_id, accepted_at__isnull=True)
        .first()
    )
    if enrolment is None:
        return  # removed or already accepted since it was queued: nothing to send
    invites.send_invite(enrolment)


@shared_task
def schedule_labs() -> dict[str, list[int]]:
    """Beat: provision cohorts that start soon, tear down cohorts that ended a while ago."""
    return cohort_labs.schedule()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def provision_trainee_labs(cohort_id: int, enrolment_ids: list[int]) -> int:
    """Trainees who joined a cohort whose labs are due: their labs, made and provisioned."""
    return cohort_labs.provision_trainee_labs(cohort_id, enrolment_ids)


@shared_task(acks_late=True)
def check_lab(lab_id: int, task_ids: list[int] | None = None) -> int:
    """Judge a lab's opened tasks (or those of ``task_ids``) through the API: "Check now".
    Returns how many results changed."""
    return len(progress.check_lab(lab_id, task_ids))


@shared_task
def sweep_checks() -> list[int]:
    """Beat: queue the sweep of every running cohort's labs."""
    cohort_ids = progress.running_cohorts()
    for cohort_id in cohort_ids:
        sweep_cohort_checks.delay(cohort_id)
    return cohort_ids


@shared_task(acks_late=True)
def sweep_cohort_checks(cohort_id: int) -> int:
    """Judge the opened tasks of one running cohort's labs through the API."""
    return progress.sweep_cohort(cohort_id)
