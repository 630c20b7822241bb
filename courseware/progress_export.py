"""A cohort's progress as CSV: one row per trainee per task, for a spreadsheet.

Columns: trainee, e-mail, exercise, task, state (``not opened`` without a result, else the
result's state: pending, failing, passed, error), first passed at, hint opened at, solution
opened at (ISO 8601, empty when never). Every task of the course is listed for every live
trainee, so the file has the same shape for everyone.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some a tab or a
carriage return first) as a formula; trainees choose their own names, so such cells are
prefixed with ``'``, as OWASP's CSV injection advice has it. Three queries, however large
the cohort.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any

from courseware.models import Cohort, Enrolment, Task, TaskResult

HEADER = (
    "trainee", "email", "exercise", "task", "state",
    "first passed at", "hint opened at", "solution opened at",
)  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NOT_OPENED = "not opened"
_LIVE = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]


def neutralise(value: str) -> str:
    """``value`` as a spreadsheet shows it rather than runs it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Line:
    """A file-like object whose write returns what it was given: csv.writer then hands
    each line back instead of buffering a whole file."""

    def write(self, value: str) -> str:
        return value


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def lines(cohort: Cohort) -> Iterator[str]:
    """The CSV file of ``cohort``'s progress, line by line."""
    writer: Any = csv.writer(_Line())
    yield writer.writerow(HEADER)
    tasks = list(
        Task.objects.filter(
            exercise__course_id=cohort.course_id,
            retired=False,
            exercise__retired=False,
            exercise__is_demo=False,
            exercise__module__retired=False,
            exercise__module__day__retired=False,
        )
        .select_related("exercise")
        .order_by(
            "exercise__module__day__position",
            "exercise__module__position",
            "exercise__position",
            "position",
        )
    )
    enrolments = list(
        cohort.enrolments.filter(state__in=_LIVE)
        .select_related("trainee")
        .order_by("trainee__last_name", "trainee__first_name", "trainee__username")
    )
    results = {
        (enrolment_id, task_id): rest
        for enrolment_id, task_id, *rest in TaskResult.objects.filter(
            enrolment__in=enrolments, task__in=tasks
        ).values_list(
            "enrolment_id", "task_id", "state", "passed_at", "hint_opened_at", "solution_opened_at"
        )
    }
    for enrolment in enrolments:
        trainee = enrolment.trainee
        name = trainee.get_full_name() or trainee.get_username()
        for task in tasks:
            state, passed, hint, solution = results.get(
                (enrolment.pk, task.pk), (NOT_OPENED, None, None, None)
            )
            row = (
                name, trainee.email, task.exercise.title, task.title, state,
                _iso(passed), _iso(hint), _iso(solution),
            )  # fmt: skip
            yield writer.writerow([neutralise(str(cell)) for cell in row])
