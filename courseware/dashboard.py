"""The instructor's class dashboard: a cohort's trainees × tasks, built as plain data.

`build` reads everything the page and the websocket's snapshot show in a fixed number of
SQL queries, however many trainees and tasks (tests/test_dashboard.py counts them at two
sizes): the course's days, its tasks, the live enrolments with their trainees and labs, all
their results, and the open help requests: five queries, and one cache read for the
terminals' activity (``labs.terminal.activity``). Everything else — the cells, the current
exercise, progress, who is stuck, the failing check of a raised hand — is worked out from
those rows in Python, here and in ``courseware.dashboard_grid`` (the grid's dataclasses,
and how rows are judged stuck, sorted and filtered). No HTTP here: views render a `Grid`,
the consumer sends `snapshot(grid)`.

**Stuck** (docs/dashboard.md): a trainee with a failing (or erring) task who has not typed
in a terminal for ``STUCK_AFTER_MINUTES``. The clock starts at the later of their last
input and the last change of a failing result, so a trainee who never typed since their
result changed counts from that change, and one who is typing away is not stuck.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from courseware import hands
from courseware.dashboard_grid import (
    SORTS,
    Cell,
    Column,
    DayChoice,
    ExerciseGroup,
    Grid,
    Hand,
    Trainee,
    cells,
    iso,
    matching,
    order,
    stuck_since,
)
from courseware.models import Cohort, Day, Enrolment, HelpRequest, Task, TaskResult
from labs.models import Lab
from labs.terminal.activity import activity

# The grid's data and its sorting and filtering live in courseware.dashboard_grid; they are
# named here too, so that callers have one module to ask.
__all__ = ["SORTS", "Grid", "build", "cells", "matching", "order", "snapshot", "terminals"]
_LIVE = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]


def build(
    cohort: Cohort,
    day: int | None = None,
    whole: bool = False,
    now: dt.datetime | None = None,
) -> Grid:
    """The dashboard of ``cohort``: the tasks of day ``day`` (1-based, among the course's
    days), of the whole course with ``whole``, or else of today's day (the whole course
    when the cohort does not run today)."""
    now = now or timezone.now()
    days = list(Day.objects.filter(course_id=cohort.course_id, retired=False).order_by("position"))
    today = cohort.today(days, now)
    choices = [DayChoice(number, d.title, d == today) for number, d in enumerate(days, start=1)]
    chosen: Day | None = None
    if not whole:
        if day is not None and 1 <= day <= len(days):
            chosen = days[day - 1]
        elif day is None:
            chosen = today
    tasks = _tasks(cohort)
    if (
        day is None
        and chosen is not None
        and all(t.exercise.module.day_id != chosen.pk for t in tasks)
    ):
        # A day of talks has nothing to show: the whole course rather than an empty grid.
        chosen = None
    groups = _groups([t for t in tasks if chosen is None or t.exercise.module.day_id == chosen.pk])
    trainees = _trainees(cohort, tasks)
    keys = {column.key for group in groups for column in group.columns}
    stuck_after = dt.timedelta(minutes=settings.STUCK_AFTER_MINUTES)
    for trainee in trainees:
        results = list(trainee.results.values())
        trainee.passed = sum(1 for c in results if c.key in keys and c.passed_at is not None)
        trainee.stuck_since = stuck_since(results, trainee.last_input)
        trainee.stuck = trainee.stuck_since is not None and now - trainee.stuck_since >= stuck_after
    return Grid(
        cohort=cohort,
        days=choices,
        day=choices[days.index(chosen)] if chosen is not None else None,
        groups=groups,
        trainees=order(trainees, "stuck"),
        hands=_hands(cohort, tasks, trainees),
        now=now,
        stuck_after=stuck_after,
        exercises={task.exercise.slug: task.exercise.title for task in tasks},
    )


def _tasks(cohort: Cohort) -> list[Task]:
    """Every task of the course that trainees work on, in course order (one query)."""
    return list(
        Task.objects.filter(
            exercise__course_id=cohort.course_id,
            retired=False,
            exercise__retired=False,
            exercise__is_demo=False,
            exercise__module__retired=False,
            exercise__module__day__retired=False,
        )
        .select_related("exercise__module")
        .order_by(
            "exercise__module__day__position",
            "exercise__module__position",
            "exercise__position",
            "position",
        )
    )


def _groups(tasks: list[Task]) -> list[ExerciseGroup]:
    by_exercise: dict[int, list[Task]] = {}
    for task in tasks:
        by_exercise.setdefault(task.exercise_id, []).append(task)
    return [
        ExerciseGroup(
            slug=group[0].exercise.slug,
            title=group[0].exercise.title,
            columns=tuple(
                Column(task.pk, task.key, task.title, number)
                for number, task in enumerate(group, start=1)
            ),
        )
        for group in by_exercise.values()
    ]


def _trainees(cohort: Cohort, tasks: list[Task]) -> list[Trainee]:
    """The live enrolments with their labs, results and terminal activity (two queries and
    one cache read)."""
    enrolments = list(cohort.enrolments.filter(state__in=_LIVE).select_related("trainee", "lab"))
    rows: dict[int, Trainee] = {}
    for enrolment in enrolments:
        user = enrolment.trainee
        name = user.get_full_name() or user.get_username()
        rows[enrolment.pk] = Trainee(
            enrolment_id=enrolment.pk,
            name=name,
            sort_name=" ".join([user.last_name, user.first_name, user.get_username()]).casefold(),
            email=user.email,
            invite_state=enrolment.state,
            invited_at=enrolment.invited_at,
            accepted_at=enrolment.accepted_at,
            lab=getattr(enrolment, "lab", None),
        )
    by_id = {task.pk: task for task in tasks}
    latest: dict[int, tuple[dt.datetime, str]] = {}
    results = TaskResult.objects.filter(
        enrolment__cohort=cohort, enrolment__state__in=_LIVE, task_id__in=list(by_id)
    ).values_list(
        "enrolment_id", "task_id", "state", "details", "changed_at", "passed_at",
        "evaluated_at", "opened_at", "hint_opened_at", "solution_opened_at",
    )  # fmt: skip
    for row in results:
        (
            enrolment_id,
            task_id,
            state,
            details,
            changed,
            passed,
            evaluated,
            opened,
            hint,
            solution,
        ) = row
        task = by_id[task_id]
        rows[enrolment_id].results[task.key] = Cell(
            key=task.key,
            exercise=task.exercise.slug,
            state=state,
            checks=tuple(details or ()),
            changed_at=changed,
            passed_at=passed,
            evaluated_at=evaluated,
            opened_at=opened,
            hint_opened_at=hint,
            solution_opened_at=solution,
        )
        # The current exercise: that of the result changed or opened last.
        moment = max(changed, opened)
        if enrolment_id not in latest or moment > latest[enrolment_id][0]:
            latest[enrolment_id] = (moment, task.exercise.title)
    for enrolment_id, (_, title) in latest.items():
        rows[enrolment_id].current_exercise = title
    lab_ids = {row.lab.pk: row for row in rows.values() if row.lab is not None}
    for lab_id, seen in activity(list(lab_ids)).items():
        lab_ids[lab_id].connected = seen.connected
        lab_ids[lab_id].last_input = seen.last_input
    return list(rows.values())


def _hands(cohort: Cohort, tasks: list[Task], trainees: list[Trainee]) -> list[Hand]:
    """The open help requests, oldest first, each with the failing check of its exercise's
    first failing task (from the results already read: one query in all)."""
    requests = HelpRequest.objects.filter(
        enrolment__cohort=cohort, enrolment__state__in=_LIVE, handled_at__isnull=True
    ).select_related("enrolment__trainee", "exercise", "task", "handled_by")
    rows = {trainee.enrolment_id: trainee for trainee in trainees}
    queue = []
    for request in requests:
        row = rows.get(request.enrolment_id)
        exercise_tasks = [task for task in tasks if task.exercise_id == request.exercise_id]
        known = {}
        if row is not None:
            for task in exercise_tasks:
                cell = row.results.get(task.key)
                if cell is not None:
                    known[task.pk] = (cell.state, list(cell.checks))
        _, failing = hands.trouble_of(exercise_tasks, known)
        queue.append(Hand(request, failing))
    return queue


def snapshot(grid: Grid) -> dict[str, Any]:
    """The grid's state as the dashboard's websocket sends it on connect (and on request):
    every trainee, every result of theirs (all tasks, not only the grid's columns), the
    open hands, and what the page needs to judge "stuck" itself as time passes."""
    return {
        "type": "snapshot",
        "now": grid.now.isoformat(),
        "stuck_after_minutes": settings.STUCK_AFTER_MINUTES,
        "exercises": grid.exercises,
        "trainees": [trainee.payload() for trainee in grid.trainees],
        "results": [
            cell.payload(trainee.enrolment_id)
            for trainee in grid.trainees
            for cell in trainee.results.values()
        ],
        "help": [hand.payload() for hand in grid.hands],
    }


def terminals(cohort: Cohort) -> dict[str, Any]:
    """The terminals' activity of the cohort's trainees (one query, one cache read): what
    the page asks for every 30 s: typing is kept in the cache, not published."""
    labs = dict(
        Lab.objects.filter(enrolment__cohort=cohort, enrolment__state__in=_LIVE).values_list(
            "pk", "enrolment_id"
        )
    )
    seen = activity(list(labs))
    return {
        "type": "terminals",
        "now": timezone.now().isoformat(),
        "terminals": {
            str(enrolment): {
                "connected": seen[lab].connected if lab in seen else False,
                "last_input": iso(seen[lab].last_input) if lab in seen else None,
            }
            for lab, enrolment in labs.items()
        },
    }
