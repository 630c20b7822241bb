"""Progress: the one module that writes task results (``courseware.models.TaskResult``).

**Which tasks are judged.** For each lab, the tasks of the exercises its trainee has opened:
the first visit of an exercise page creates the rows of its tasks (`open_exercise`), in the
state "pending", and from then on they are judged. Tasks of exercises not opened yet are
not, so that a later exercise cannot turn green by accident (an object left over from an
earlier one, say). Demonstrations have no checks and no rows; retired tasks are left as
they were. Labs are judged while their cohort runs and the lab is ready.

**Gated exercises.** In an exercise with ``gated: true``, a task is locked until the one
before it has passed (ever: ``passed_at``); a locked task is not judged, and its row stays
"pending". Tasks are judged in order, so the pass of one unlocks and judges the next in the
same run.

**Three occasions, one path.** The watcher judges from its watch cache when a lab's objects
change; "Check now" and the periodic sweep fetch the objects through the API. All three end
in `evaluate_lab`, which judges with `judge` (the function the content tests call too),
records what changed, and publishes it (``courseware.events``). A result records the live
state and the differences per check; ``passed_at`` keeps the first pass for good, so a task
stays done when the trainee deletes its objects later, while the live state shows that.

**Content re-syncs** keep Task rows (matched by id), so results survive them. A re-sync
that changes a task's checks makes its results "pending" again (`checks_changed`): a state
found under the old checks is stale. The watcher notices the new checks and judges them
within a poll; the record of an earlier pass is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from courseware import events
from courseware.models import Cohort, Enrolment, Exercise, Task, TaskResult
from labs import snapshots
from labs.checks import Check, Snapshot, TaskOutcome, evaluate_task, kinds_needed
from labs.kube import ClusterError, Kube
from labs.models import Cluster, Lab

log = logging.getLogger(__name__)

_LIVE = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]


# -- what is judged -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskWork:
    """One opened task of a lab: its checks (as stored) and, in a gated exercise, the task
    that must pass before it is judged."""

    task_id: int
    key: str
    checks_json: str
    after: int | None = None

    @property
    def checks(self) -> tuple[Check, ...]:
        return _parse(self.checks_json)


@dataclass(frozen=True)
class LabWork:
    """A lab and the tasks judged in it, in course order."""

    lab_id: int
    enrolment_id: int
    cohort_id: int
    cluster_id: int
    namespace: str
    tasks: tuple[TaskWork, ...]

    @cached_property
    def kinds(self) -> frozenset[str]:
        return kinds_of(task.checks for task in self.tasks)


@lru_cache(maxsize=4096)
def _parse(checks_json: str) -> tuple[Check, ...]:
    return tuple(Check.from_json(data) for data in json.loads(checks_json))


def kinds_of(checks: Iterable[Iterable[Check]]) -> frozenset[str]:
    """Every kind the checks read."""
    return frozenset(kind for group in checks for check in group for kind in kinds_needed(check))


def kinds_for(task: Task) -> frozenset[str]:
    """The kinds ``task``'s checks read: what to fetch before `judge`."""
    return kinds_of([_parse(_dump(task.checks))])


def judge(task: Task, snapshot: Snapshot) -> TaskOutcome:
    """How ``task`` fares against a lab's objects: what the watcher, the sweep and "Check
    now" record, and what a content test asserts after applying a solution."""
    return evaluate_task(_parse(_dump(task.checks)), snapshot)


def objects_for(lab: Lab, kinds: Iterable[str], kube: Kube | None = None) -> Snapshot:
    """The lab's objects of ``kinds``, fetched through the API; a cluster that cannot be
    reached at all is an error of every kind."""
    kinds = set(kinds)
    try:
        kube = kube or Kube.for_cluster(lab.cluster)
    except ClusterError as exc:
        return Snapshot({}, dict.fromkeys(kinds, exc.message))
    return snapshots.fetch(kube, lab.namespace, kinds)


def _dump(checks: Any) -> str:
    return json.dumps(checks, sort_keys=True, separators=(",", ":"))


def _judged_results() -> QuerySet[TaskResult]:
    """The results that are judged: of opened, live tasks in ready labs of live enrolments."""
    return TaskResult.objects.filter(
        task__retired=False,
        task__exercise__retired=False,
        task__exercise__is_demo=False,
        enrolment__state__in=_LIVE,
        enrolment__lab__state=Lab.State.READY,
    )


def _running(results: QuerySet[TaskResult]) -> QuerySet[TaskResult]:
    now = timezone.now()
    return results.filter(enrolment__cohort__starts_at__lte=now, enrolment__cohort__ends_at__gt=now)


def _works(results: QuerySet[TaskResult]) -> list[LabWork]:
    rows = results.order_by(
        "enrolment__lab__id",
        "task__exercise__module__day__position",
        "task__exercise__module__position",
        "task__exercise__position",
        "task__position",
    ).values_list(
        "enrolment__lab__id",
        "enrolment_id",
        "enrolment__cohort_id",
        "enrolment__lab__cluster_id",
        "enrolment__lab__namespace",
        "task_id",
        "task__exercise__slug",
        "task__slug",
        "task__exercise_id",
        "task__exercise__gated",
        "task__checks",
    )
    labs: dict[int, tuple[tuple[int, int, int, str], list[TaskWork]]] = {}
    previous: tuple[int, int] | None = None  # (exercise, task) of the row before
    for (
        lab_id, enrolment_id, cohort_id, cluster_id, namespace,
        task_id, exercise_slug, task_slug, exercise_id, gated, checks,
    ) in rows:  # fmt: skip
        _, tasks = labs.setdefault(lab_id, ((enrolment_id, cohort_id, cluster_id, namespace), []))
        after = previous[1] if gated and tasks and previous and previous[0] == exercise_id else None
        tasks.append(TaskWork(task_id, f"{exercise_slug}/{task_slug}", _dump(checks), after))
        previous = (exercise_id, task_id)
    return [LabWork(lab_id, *head, tasks=tuple(tasks)) for lab_id, (head, tasks) in labs.items()]


def labs_to_watch() -> list[LabWork]:
    """Every lab the watcher judges now: ready labs of running cohorts, with opened tasks."""
    return _works(_running(_judged_results()))


def lab_work(lab_id: int) -> LabWork | None:
    """The judged tasks of one lab (whatever its cohort's dates), or None when it has none."""
    works = _works(_judged_results().filter(enrolment__lab__id=lab_id))
    return works[0] if works else None


# -- judging and recording ----------------------------------------------------------------------


def evaluate_lab(
    work: LabWork, snapshot: Snapshot, only: Collection[int] | None = None
) -> list[TaskResult]:
    """Judge the lab's tasks (those in ``only``, when given) against ``snapshot``, record
    the results and publish those that changed. Locked tasks of gated exercises are skipped.
    Returns the changed results."""
    now = timezone.now()
    changed: list[TaskResult] = []
    with transaction.atomic():
        results = {
            result.task_id: result
            for result in TaskResult.objects.select_related("task__exercise", "enrolment")
            .select_for_update(of=("self",))
            .filter(enrolment_id=work.enrolment_id, task_id__in=[t.task_id for t in work.tasks])
        }
        passed = {task_id for task_id, result in results.items() if result.passed_at}
        judged = []
        for task in work.tasks:
            result = results.get(task.task_id)
            if result is None or (task.after is not None and task.after not in passed):
                continue
            if only is not None and task.task_id not in only:
                continue
            outcome = evaluate_task(task.checks, snapshot)
            judged.append(result.pk)
            if _record(result, outcome, now):
                changed.append(result)
            if result.passed_at:
                passed.add(task.task_id)
        if changed:
            TaskResult.objects.bulk_update(changed, ["state", "details", "passed_at", "changed_at"])
        if judged:
            TaskResult.objects.filter(pk__in=judged).update(
                evaluated_at=now, evaluations=F("evaluations") + 1
            )
    for result in changed:
        events.publish_result(result, work.lab_id)
    return changed


def _record(result: TaskResult, outcome: TaskOutcome, now: Any) -> bool:
    """Bring ``result`` to ``outcome`` in memory; whether anything a trainee sees changed."""
    state, details = TaskResult.State(outcome.state.value), outcome.details()
    changed = (result.state, result.details) != (state, details)
    if state == TaskResult.State.PASSED and result.passed_at is None:
        result.passed_at = now
        changed = True
    if changed:
        result.state, result.details, result.changed_at = state, details, now
    result.evaluated_at = now
    result.evaluations += 1
    return changed


def check_lab(
    lab_id: int, task_ids: Collection[int] | None = None, kube: Kube | None = None
) -> list[TaskResult]:
    """Judge a lab's opened tasks (or those of ``task_ids``) with its objects fetched
    through the API: "Check now" and the sweep. Returns the changed results."""
    work = lab_work(lab_id)
    if work is None:
        return []
    lab = Lab.objects.select_related("cluster").get(pk=lab_id)
    tasks = [t for t in work.tasks if task_ids is None or t.task_id in task_ids]
    snapshot = objects_for(lab, kinds_of(t.checks for t in tasks), kube)
    return evaluate_lab(work, snapshot, only=None if task_ids is None else set(task_ids))


def sweep_cohort(cohort_id: int) -> int:
    """The sweep of one running cohort: every lab with opened tasks judged through the API
    (one client per cluster). Returns how many results changed."""
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None or cohort.state != Cohort.State.RUNNING:
        return 0
    works = _works(_judged_results().filter(enrolment__cohort_id=cohort_id))
    clients: dict[int, Kube | None] = {}
    changed = 0
    for work in works:
        if work.cluster_id not in clients:
            try:
                clients[work.cluster_id] = Kube.for_cluster(Cluster.objects.get(pk=work.cluster_id))
            except ClusterError:
                clients[work.cluster_id] = None  # objects_for reports the error per lab
        try:
            changed += len(check_lab(work.lab_id, kube=clients[work.cluster_id]))
        except Exception:
            # One broken lab must not keep the others from being swept.
            log.exception("sweep of lab %s failed", work.lab_id)
    return changed


def running_cohorts() -> list[int]:
    """The ids of running cohorts with judged results: what the sweep covers."""
    return sorted(set(_running(_judged_results()).values_list("enrolment__cohort_id", flat=True)))


def checks_changed(task_ids: Collection[int]) -> int:
    """After a re-sync changed these tasks' checks: their results are pending again (and
    judged anew); the record of a pass stays. Returns how many results."""
    if not task_ids:
        return 0
    return (
        TaskResult.objects.filter(task_id__in=task_ids)
        .exclude(state=TaskResult.State.PENDING)
        .update(state=TaskResult.State.PENDING, details=[], changed_at=timezone.now())
    )


# -- what trainees do on the pages ------------------------------------------------------------


def open_exercise(
    enrolment: Enrolment, exercise: Exercise, tasks: list[Task]
) -> dict[int, TaskResult]:
    """A trainee opened ``exercise``: its tasks are judged from now on. The results of its
    tasks by task id (one query once opened, four the first time). The new results are
    published: the instructors' dashboard shows the exercise as opened."""
    if exercise.is_demo or not tasks:
        return {}
    results = {r.task_id: r for r in TaskResult.objects.filter(enrolment=enrolment, task__in=tasks)}
    missing = [task for task in tasks if task.pk not in results]
    if missing:
        TaskResult.objects.bulk_create(
            [TaskResult(enrolment=enrolment, task=task) for task in missing],
            ignore_conflicts=True,  # opened in another tab at the same moment
        )
        results = {
            r.task_id: r
            for r in TaskResult.objects.filter(enrolment=enrolment, task__in=tasks).select_related(
                "task__exercise", "enrolment"
            )
        }
        new = [results[task.pk] for task in missing if task.pk in results]
        lab_id = Lab.objects.filter(enrolment=enrolment).values_list("pk", flat=True).first()

        def publish() -> None:
            for result in new:
                events.publish_result(result, lab_id)

        transaction.on_commit(publish, robust=True)
    return results


def record_opened(enrolment: Enrolment, task: Task, what: str) -> bool:
    """The trainee opened the task's hint or solution (``what``); only the first time
    counts. Whether this was the first time."""
    if what not in ("hint", "solution"):
        raise ValueError(f"one opens a hint or a solution, not {what!r}")
    field = f"{what}_opened_at"
    TaskResult.objects.get_or_create(enrolment=enrolment, task=task)
    first = bool(
        TaskResult.objects.filter(
            enrolment=enrolment, task=task, **{f"{field}__isnull": True}
        ).update(**{field: timezone.now()})
    )
    if first:
        # The dashboard marks the cell; the trainee's own pages ignore what they know.
        result = TaskResult.objects.select_related("task__exercise", "enrolment").get(
            enrolment=enrolment, task=task
        )
        lab_id = Lab.objects.filter(enrolment=enrolment).values_list("pk", flat=True).first()
        transaction.on_commit(lambda: events.publish_result(result, lab_id))
    return first


def request_check(enrolment: Enrolment, lab: Lab, task: Task) -> Task | None:
    """ "Check now" of ``task`` in the trainee's ``lab``: its judging through the API is
    queued for after the commit (the result is published like any other). In a gated
    exercise a locked task is not judged: the task that locks it is returned instead."""
    exercise = task.exercise
    tasks = list(Task.objects.filter(exercise=exercise, retired=False).order_by("position"))
    blocker = locked_by(exercise, task, tasks, open_exercise(enrolment, exercise, tasks))
    if blocker is not None:
        return blocker
    from courseware.tasks import check_lab

    lab_id, task_id = lab.pk, task.pk
    transaction.on_commit(lambda: check_lab.delay(lab_id, [task_id]))
    return None


def wait_before_checking(user_id: int, task_id: int) -> int:
    """Seconds the user must wait before "Check now" of this task again: 0 means go (and
    the clock starts). The cache is shared by all web processes where Redis is."""
    interval = settings.CHECK_NOW_INTERVAL_SECONDS
    key = f"lotse:check-now:{user_id}:{task_id}"
    if cache.add(key, timezone.now().timestamp(), timeout=interval):
        return 0
    since = cache.get(key)
    if since is None:
        return 0 if cache.add(key, timezone.now().timestamp(), timeout=interval) else 1
    return max(1, round(interval - (timezone.now().timestamp() - since)))


def locked_by(
    exercise: Exercise, task: Task, tasks: list[Task], results: dict[int, TaskResult]
) -> Task | None:
    """In a gated exercise (``tasks`` in order, ``results`` by task id), the task before
    ``task`` when it has not passed yet: ``task`` is locked until it has."""
    if not exercise.gated:
        return None
    index = next((i for i, t in enumerate(tasks) if t.pk == task.pk), 0)
    if index == 0:
        return None
    before = tasks[index - 1]
    done = results.get(before.pk)
    return None if done is not None and done.passed_at else before


def passed_counts(enrolment: Enrolment | None) -> dict[int, int]:
    """How many tasks of each exercise (by id) the trainee has passed: one query."""
    if enrolment is None:
        return {}
    return dict(
        TaskResult.objects.filter(enrolment=enrolment, passed_at__isnull=False, task__retired=False)
        .values_list("task__exercise_id")
        .annotate(count=Count("pk"))
        .values_list("task__exercise_id", "count")
    )


def current_results(lab_id: int) -> list[dict[str, Any]]:
    """Every result of the lab's trainee, as the websocket sends them."""
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None:
        return []
    results = (
        TaskResult.objects.filter(enrolment_id=lab.enrolment_id, task__retired=False)
        .select_related("task__exercise", "enrolment")
        .order_by("task__exercise_id", "task__position")
    )
    return [events.payload(result) for result in results]
