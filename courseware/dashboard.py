"""The instructor's class dashboard: a cohort's trainees × tasks, built as plain data.

`build` reads everything the page and the websocket's snapshot show in a fixed number of
SQL queries, however many trainees and tasks (tests/test_dashboard.py counts them at two
sizes): the course's days, its tasks, the live enrolments with their trainees and labs, all
their results, and the open help requests: five queries, and one cache read for the
terminals' activity (``labs.terminal.activity``). Everything else — the cells, the current
exercise, progress, who is stuck, the failing check of a raised hand — is worked out here
from those rows, in Python. No HTTP here: views render a `Grid`, the consumer sends
`snapshot(grid)`.

**Stuck** (docs/dashboard.md): a trainee with a failing (or erring) task who has not typed
in a terminal for ``STUCK_AFTER_MINUTES``. The clock starts at the later of their last
input and the last change of a failing result, so a trainee who never typed since their
result changed counts from that change, and one who is typing away is not stuck.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from courseware import events, hands
from courseware.models import Cohort, Day, Enrolment, HelpRequest, Task, TaskResult
from labs.models import Lab
from labs.terminal.activity import activity

NOT_OPENED = "none"  # a task whose exercise the trainee has not opened: no result row
_LIVE = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]
_TROUBLE = (TaskResult.State.FAILING, TaskResult.State.ERROR)
_LABELS = {NOT_OPENED: "Not opened", **dict(TaskResult.State.choices)}
SORTS = {
    "stuck": "Stuck first",
    "progress": "Least progress first",
    "-progress": "Most progress first",
    "name": "Name",
}


def _time(value: dt.datetime | None) -> str | None:
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
            "passed_at": _time(self.passed_at),
            "changed_at": _time(self.changed_at),
            "evaluated_at": _time(self.evaluated_at),
            "opened_at": _time(self.opened_at),
            "hint_opened_at": _time(self.hint_opened_at),
            "solution_opened_at": _time(self.solution_opened_at),
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
                "invited_at": _time(self.invited_at),
                "accepted_at": _time(self.accepted_at),
            },
            "lab": self.lab_state,
            "terminal": {"connected": self.connected, "last_input": _time(self.last_input)},
            "current_exercise": self.current_exercise,
            "passed": self.passed,
            "stuck": self.stuck,
            "stuck_since": _time(self.stuck_since),
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
    the page asks for every 30 s, since activity is kept in the cache, not published."""
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
                "last_input": _time(seen[lab].last_input) if lab in seen else None,
            }
            for lab, enrolment in labs.items()
        },
    }
