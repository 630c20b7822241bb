"""Raised hands: a trainee asks for help with an exercise, an instructor marks it handled.

The one writer of ``HelpRequest`` rows. Each change is published through
``courseware.events`` to the cohort's dashboards and to the trainee's own pages, once it has
committed. One request is open per trainee and exercise: raising a hand again while one is
open is the same request, so a double click or a second tab never queues a trainee twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from courseware import events
from courseware.models import Cohort, Enrolment, Exercise, HelpRequest, Task, TaskResult
from labs.models import Lab

_TROUBLE = (TaskResult.State.FAILING, TaskResult.State.ERROR)


def failing_sentence(details: Iterable[Mapping[str, Any]]) -> str:
    """What the first check that is not passing says: its sentence and what differs (or
    the error), for the instructor's queue; "" when every check passes."""
    for detail in details:
        if detail.get("state") != "passed":
            differences = "; ".join(detail.get("differences") or [])
            return f"{detail.get('check', '')}: {differences}" if differences else detail["check"]
    return ""


def trouble_of(
    tasks: Iterable[Task], results: Mapping[int, tuple[str, list[Any]]]
) -> tuple[Task | None, str]:
    """The first of ``tasks`` (in order) whose result (state and details, by task id) fails
    or errs, and its failing sentence; else the first not passed yet, without a sentence."""
    waiting = None
    for task in tasks:
        state, details = results.get(task.pk, (TaskResult.State.PENDING, []))
        if state in _TROUBLE:
            return task, failing_sentence(details)
        if waiting is None and state != TaskResult.State.PASSED:
            waiting = task
    return waiting, ""


def _trouble(enrolment: Enrolment, exercise: Exercise) -> tuple[Task | None, str]:
    tasks = list(exercise.tasks.filter(retired=False).order_by("position"))
    results = {
        task_id: (state, details)
        for task_id, state, details in TaskResult.objects.filter(
            enrolment=enrolment, task__in=tasks
        ).values_list("task_id", "state", "details")
    }
    return trouble_of(tasks, results)


def can_raise(enrolment: Enrolment | None, exercise: Exercise) -> bool:
    """Hands go up in running cohorts, on exercises with tasks (not demonstrations)."""
    return (
        enrolment is not None
        and enrolment.state != Enrolment.State.REMOVED
        and enrolment.cohort.state == Cohort.State.RUNNING
        and not exercise.is_demo
    )


def raise_hand(enrolment: Enrolment, exercise: Exercise) -> tuple[HelpRequest, bool]:
    """The trainee asks for help with ``exercise``: their open request for it, made now
    unless there is one (then nothing changes). Returns it and whether it is new."""
    task, failing = _trouble(enrolment, exercise)
    existing = _open_request(enrolment, exercise)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            request = HelpRequest.objects.create(enrolment=enrolment, exercise=exercise, task=task)
    except IntegrityError:  # the same hand, raised in another tab at the same moment
        existing = _open_request(enrolment, exercise)
        assert existing is not None
        return existing, False
    _publish_on_commit(request, failing)
    return request, True


def _open_request(enrolment: Enrolment, exercise: Exercise) -> HelpRequest | None:
    return (
        HelpRequest.objects.filter(enrolment=enrolment, exercise=exercise, handled_at__isnull=True)
        .select_related("enrolment__trainee", "exercise", "task", "handled_by")
        .first()
    )


def mark_handled(request: HelpRequest, by: AbstractBaseUser) -> bool:
    """An instructor has answered the request. Whether this marked it (False when it was
    handled already, by them or someone else)."""
    now = timezone.now()
    marked = HelpRequest.objects.filter(pk=request.pk, handled_at__isnull=True).update(
        handled_at=now, handled_by=by
    )
    if not marked:
        return False
    request.handled_at, request.handled_by = now, by
    _publish_on_commit(request, "")
    return True


def latest_request(enrolment: Enrolment | None, exercise: Exercise) -> HelpRequest | None:
    """The trainee's last request for ``exercise`` (open or handled), for their page."""
    if enrolment is None:
        return None
    return (
        HelpRequest.objects.filter(enrolment=enrolment, exercise=exercise)
        .select_related("handled_by")
        .order_by("-created_at", "-pk")
        .first()
    )


def _publish_on_commit(request: HelpRequest, failing: str) -> None:
    """Publish the request as it is now (reloaded with what its payload names)."""
    lab = Lab.objects.filter(enrolment_id=request.enrolment_id).values_list("pk", flat=True)
    lab_id = lab.first()
    request = HelpRequest.objects.select_related(
        "enrolment__trainee", "exercise", "task", "handled_by"
    ).get(pk=request.pk)
    transaction.on_commit(lambda: events.publish_help(request, lab_id, failing), robust=True)


def current_requests(lab_id: int) -> list[dict[str, Any]]:
    """The last request per exercise of the lab's trainee, as their pages get them on
    (re)connecting: a hand handled while the page was away shows as handled."""
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None:
        return []
    latest: dict[int, HelpRequest] = {}
    for request in HelpRequest.objects.filter(enrolment_id=lab.enrolment_id).select_related(
        "enrolment__trainee", "exercise", "task", "handled_by"
    ):
        latest[request.exercise_id] = request  # ordered by created_at: the last one wins
    return [events.help_payload(request) for request in latest.values()]
