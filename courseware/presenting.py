"""Present mode: where a cohort's instructor is in the slides, and how the class fares on the
exercises those slides lead to.

**The position** is one per cohort, kept in Django's cache (Redis in production, so every
ASGI process reads the same): the module and reveal.js's indices (horizontal, vertical,
fragment). Whoever leads last wins; a position not moved for ``_KEEP`` seconds is
forgotten, so a class that ended does not greet tomorrow's with yesterday's slide. Frames
from browsers are validated here (`read_frame`) before anything is stored or sent.

**The class stats** are per task of the module's exercises: how many of the cohort's
trainees passed it (ever: ``passed_at``) and how many are stuck on it (`is_stuck`). Four
queries and one cache read, whatever the size of the class.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from courseware.models import Cohort, Enrolment, Exercise, Module, Task, TaskResult
from labs.terminal.activity import activity

_KEEP = 12 * 3600
_LIVE = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]
_MAX_INDEX = 10_000


class BadFrame(ValueError):
    """A frame from a browser that is not a position Lotse can show; the message says why."""


@dataclass(frozen=True)
class Position:
    module: str
    h: int
    v: int
    f: int | None
    url: str
    title: str
    by: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _key(cohort_id: int) -> str:
    return f"lotse:present:{cohort_id}"


def current(cohort_id: int) -> Position | None:
    data = cache.get(_key(cohort_id))
    return Position(**data) if data else None


def move(cohort_id: int, position: Position) -> None:
    cache.set(_key(cohort_id), position.as_json(), timeout=_KEEP)


def stop(cohort_id: int) -> None:
    cache.delete(_key(cohort_id))


def _index(frame: dict[str, Any], name: str, *, lowest: int = 0) -> int:
    value = frame.get(name)
    # bool is an int to Python, not a slide index to anyone.
    if type(value) is not int or not lowest <= value < _MAX_INDEX:
        raise BadFrame(
            f"'{name}' must be a slide index (a whole number from {lowest}), not {value!r}."
        )
    return value


def read_frame(frame: Any, cohort: Cohort, leader: str) -> Position:
    """The position a leader's ``{"type": "position", "module": ..., "h": .., "v": .., "f": ..}``
    names, in ``cohort``'s course."""
    if not isinstance(frame, dict):
        raise BadFrame("A position is a JSON object.")
    slug = frame.get("module")
    if not isinstance(slug, str) or not slug:
        raise BadFrame("'module' must name a module of the course.")
    module = (
        Module.objects.filter(course_id=cohort.course_id, slug=slug, retired=False)
        .select_related("course")
        .first()
    )
    if module is None:
        raise BadFrame(f"The course has no module {slug!r}.")
    return Position(
        module=module.slug,
        h=_index(frame, "h"),
        v=_index(frame, "v"),
        # reveal.js has no fragment index on a slide without fragments (-1 or absent).
        f=_index(frame, "f", lowest=-1) if frame.get("f") is not None else None,
        url=module.get_absolute_url(),
        title=module.title,
        by=leader,
    )


# -- class stats --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskStats:
    key: str
    title: str
    passed: int
    stuck: int


@dataclass(frozen=True)
class ExerciseStats:
    slug: str
    title: str
    trainees: int
    tasks: list[TaskStats]


def is_stuck(
    changed_at: dt.datetime, last_input: dt.datetime | None, now: dt.datetime, minutes: int
) -> bool:
    """A failing task is stuck when neither it nor the trainee's terminal moved for
    ``minutes``: the trainee is not typing their way through it. The dashboard's rule
    (``dashboard_grid.stuck_since``), for one task."""
    quiet_since = max(changed_at, last_input) if last_input is not None else changed_at
    return now - quiet_since >= dt.timedelta(minutes=minutes)


def module_stats(cohort: Cohort, module_slug: str) -> list[ExerciseStats]:
    """How ``cohort``'s trainees fare on the tasks of the module's exercises (demonstrations
    have no tasks to pass and are left out)."""
    exercises = list(
        Exercise.objects.filter(
            course_id=cohort.course_id,
            module__slug=module_slug,
            module__retired=False,
            retired=False,
            is_demo=False,
        ).order_by("position")
    )
    if not exercises:
        return []
    trainees = cohort.enrolments.filter(state__in=_LIVE).count()
    tasks = list(
        Task.objects.filter(exercise__in=exercises, retired=False)
        .select_related("exercise")
        .annotate(
            passed=Count(
                "results",
                filter=Q(
                    results__enrolment__cohort=cohort,
                    results__enrolment__state__in=_LIVE,
                    results__passed_at__isnull=False,
                ),
            )
        )
        .order_by("exercise__position", "position")
    )
    failing = list(
        TaskResult.objects.filter(
            task__in=[task.pk for task in tasks],
            enrolment__cohort=cohort,
            enrolment__state__in=_LIVE,
            state__in=[TaskResult.State.FAILING, TaskResult.State.ERROR],
        ).values_list("task_id", "changed_at", "enrolment__lab__id")
    )
    typed = activity([lab for _, _, lab in failing if lab is not None])
    now = timezone.now()
    minutes = settings.STUCK_AFTER_MINUTES
    stuck: dict[int, int] = {}
    for task_id, changed_at, lab in failing:
        last = typed[lab].last_input if lab in typed else None
        if is_stuck(changed_at, last, now, minutes):
            stuck[task_id] = stuck.get(task_id, 0) + 1
    return [
        ExerciseStats(
            slug=exercise.slug,
            title=exercise.title,
            trainees=trainees,
            tasks=[
                TaskStats(
                    key=task.key, title=task.title, passed=task.passed, stuck=stuck.get(task.pk, 0)
                )
                for task in tasks
                if task.exercise_id == exercise.pk
            ],
        )
        for exercise in exercises
    ]


def stats_json(stats: list[ExerciseStats]) -> list[dict[str, Any]]:
    return [asdict(exercise) for exercise in stats]
