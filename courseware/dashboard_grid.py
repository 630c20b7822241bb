"""The class dashboard's grid as data: its columns, cells, rows (one per trainee), raised
hands, and how rows are judged stuck, sorted and filtered. Plain dataclasses and functions:
``courseware.dashboard`` fills them from the database, the views render them, the
websocket sends their payloads (shaped as ``courseware.events`` shapes what it publishes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from courseware import events
from courseware.models import Cohort, HelpRequest, TaskResult
from labs.models import Lab

NOT_OPENED = "none"  # a task whose exercise the trainee has not opened: no result row
_TROUBLE = (TaskResult.State.FAILING, TaskResult.State.ERROR)
_LABELS = {NOT_OPENED: "Not opened", **dict(TaskResult.State.choices)}
SORTS = {
    "stuck": "Stuck first",
    "progress": "Least progress first",
    "-progress": "Most progress first",
    "name": "Name",
}


def iso(value: dt.datetime | None) -> str | None:
    """A time as the websocket sends it (ISO 8601), or None."""
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Column:
    """One task of the grid."""

    task_id: int
    key: str  # "exercise/task", as results name it
    title: str
    number: int  # 1-based, within its exercise


@dataclass(frozen=True)
class ExerciseGroup:
    slug: str
    title: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Cell:
    """A trainee's result of one task, as the grid shows it."""

    key: str
    exercise: str
    state: str = NOT_OPENED
    checks: tuple[dict[str, Any], ...] = ()
    changed_at: dt.datetime | None = None
    passed_at: dt.datetime | None = None
    evaluated_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    hint_opened_at: dt.datetime | None = None
    solution_opened_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        return _LABELS.get(self.state, self.state)

    @property
    def explanation(self) -> list[str]:
        """The sentences of the checks that do not pass, each with what differs."""
        lines = []
        for check in self.checks:
            if check.get("state") == "passed":
                continue
            lines.append(check.get("check", ""))
            lines.extend(f"  {difference}" for difference in check.get("differences") or [])
        return lines

    @property
    def title(self) -> str:
        """The hover text: state, explanation, last change, what was opened."""
        lines = [self.label, *self.explanation]
        if self.changed_at and self.state != NOT_OPENED:
            lines.append(f"Changed {timezone.localtime(self.changed_at):%H:%M:%S}")
        if self.passed_at and self.state != TaskResult.State.PASSED:
            lines.append(f"Passed at {timezone.localtime(self.passed_at):%H:%M}")
        if self.hint_opened_at:
            lines.append("Hint opened")
        if self.solution_opened_at:
            lines.append("Solution opened")
        return "\n".join(lines)

    def payload(self, enrolment_id: int) -> dict[str, Any]:
        """The cell as ``courseware.events.payload`` has a result (the dashboard's script
        takes both alike)."""
        return {
            "task": self.key,
            "exercise": self.exercise,
            "enrolment": enrolment_id,
            "state": self.state,
            "checks": list(self.checks),
            "passed_at": iso(self.passed_at),
            "changed_at": iso(self.changed_at),
            "evaluated_at": iso(self.evaluated_at),
            "opened_at": iso(self.opened_at),
            "hint_opened_at": iso(self.hint_opened_at),
            "solution_opened_at": iso(self.solution_opened_at),
        }


@dataclass
class Trainee:
    """One row: an enrolment, its lab and terminal, and every result of the trainee (keyed
    by task key; the grid shows those of its columns)."""

    enrolment_id: int
    name: str
    sort_name: str
    email: str
    invite_state: str
    invited_at: dt.datetime | None
    accepted_at: dt.datetime | None
    lab: Lab | None
    connected: bool = False
    last_input: dt.datetime | None = None
    results: dict[str, Cell] = field(default_factory=dict)
    current_exercise: str = ""  # its title
    passed: int = 0  # tasks of the grid's columns passed (ever)
    stuck_since: dt.datetime | None = None
    stuck: bool = False

    def cell(self, column: Column, exercise: str) -> Cell:
        return self.results.get(column.key) or Cell(key=column.key, exercise=exercise)

    @property
    def lab_state(self) -> dict[str, Any]:
        return events.lab_payload(self.lab)

    def payload(self) -> dict[str, Any]:
        return {
            "enrolment": self.enrolment_id,
            "name": self.name,
            "sort_name": self.sort_name,
            "email": self.email,
            "invite": {
                "state": self.invite_state,
                "invited_at": iso(self.invited_at),
                "accepted_at": iso(self.accepted_at),
            },
            "lab": self.lab_state,
            "terminal": {"connected": self.connected, "last_input": iso(self.last_input)},
            "current_exercise": self.current_exercise,
            "passed": self.passed,
            "stuck": self.stuck,
            "stuck_since": iso(self.stuck_since),
        }


@dataclass(frozen=True)
class Hand:
    """An open help request in the queue, with the failing check's sentence."""

    request: HelpRequest
    failing: str

    def payload(self) -> dict[str, Any]:
        return events.help_payload(self.request, self.failing)


@dataclass(frozen=True)
class DayChoice:
    number: int  # 1-based position among the course's days: ?day=N
    title: str
    is_today: bool


@dataclass
class Grid:
    cohort: Cohort
    days: list[DayChoice]
    day: DayChoice | None  # None: the whole course
    groups: list[ExerciseGroup]
    trainees: list[Trainee]
    hands: list[Hand]
    now: dt.datetime
    stuck_after: dt.timedelta
    exercises: dict[str, str]  # slug → title, every exercise of the course with tasks

    @property
    def columns(self) -> int:
        return sum(len(group.columns) for group in self.groups)


def stuck_since(results: list[Cell], last_input: dt.datetime | None) -> dt.datetime | None:
    """Since when the trainee has done nothing about a failing task: the later of their
    last terminal input and the last change of a failing (or erring) result; None when no
    task of theirs fails."""
    failing = [cell.changed_at for cell in results if cell.state in _TROUBLE and cell.changed_at]
    if not failing:
        return None
    since = max(failing)
    return max(since, last_input) if last_input is not None else since


def cells(grid: Grid, trainee: Trainee) -> list[tuple[Column, Cell]]:
    """The trainee's row of the grid: a cell per column, in order."""
    return [
        (column, trainee.cell(column, group.slug))
        for group in grid.groups
        for column in group.columns
    ]


def order(trainees: list[Trainee], sort: str) -> list[Trainee]:
    """The rows in the order ``sort`` names (see ``SORTS``); unknown: stuck first. Stuck
    first means the longest stuck at the top, then everyone else by name."""
    if sort == "name":
        return sorted(trainees, key=lambda t: t.sort_name)
    if sort == "progress":
        return sorted(trainees, key=lambda t: (t.passed, t.sort_name))
    if sort == "-progress":
        return sorted(trainees, key=lambda t: (-t.passed, t.sort_name))
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(
        trainees,
        key=lambda t: (not t.stuck, t.stuck_since if t.stuck else far_future, t.sort_name),
    )


def matching(trainees: list[Trainee], query: str = "", only_stuck: bool = False) -> list[Trainee]:
    """The rows a filter leaves: names (or e-mail addresses) containing ``query``, and
    only the stuck ones with ``only_stuck``."""
    needle = query.strip().casefold()
    return [
        t
        for t in trainees
        if (not only_stuck or t.stuck)
        and (not needle or needle in t.name.casefold() or needle in t.email.casefold())
    ]
