"""The class dashboard at size: the grid for 100 trainees × 50 tasks against 10 × 5 (SQL
queries and the time to serve the page), and the time from a check result recorded through
``courseware.progress`` to the instructor's websocket.

    DEBUG=1 .venv/bin/python bench/dashboard.py [--results 200] [--renders 7] [--redis URL]

Everything runs in one process against a throwaway SQLite database, as ``./dev start``
does: two running cohorts, each on a course of its own whose one day holds the tasks
(exercises of five tasks each, every task checking a Pod). Every trainee has a ready lab,
terminal activity, a result for about two thirds of the tasks (passed, failing with its
difference, pending, error; some hints and solutions opened) and every seventh a raised
hand. The page is served by Django's test client (the whole request: session, user,
access, the grid, the template); its queries are counted and its time is the median of
``--renders`` requests after one warm-up.

The latency: the instructor's websocket (the real ASGI application, driven by Channels'
WebsocketCommunicator) is connected to the big cohort's dashboard; a result is recorded by
``progress.evaluate_lab`` (what the watcher, the sweep and "Check now" call) in a worker
thread, alternating a lab between having its pod and not, and the clock runs from just
before that call until the websocket has the new state. The in-memory channel layer, or
Redis with ``--redis`` (as production, where the recording process is another).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from measure import percentile, throwaway_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHECK = [
    {"kind": "Pod", "apiVersion": "v1", "name": "my-pod", "expect": {"status.phase": "Running"}}
]


def make_cohort(name: str, trainees: int, tasks: int, instructor: Any) -> Any:
    """A running cohort of ``trainees`` × ``tasks`` with the state described above."""
    import datetime as dt
    import random

    from django.contrib.auth.models import User
    from django.utils import timezone

    from courseware.models import (
        Course,
        Day,
        Enrolment,
        Exercise,
        HelpRequest,
        Module,
        Task,
        TaskResult,
    )
    from labs.models import Cluster, Lab
    from tests.factories import make_cohort as cohort_of

    rng = random.Random(name)
    course = Course.objects.create(slug=f"course-{name}", title=f"Course {name}")
    day = Day.objects.create(course=course, slug="day-1", title="Day I", position=0)
    module = Module.objects.create(
        course=course, day=day, slug="m", title="Module", position=0, source_path="m.md"
    )
    made = []
    for number in range(tasks // 5):
        exercise = Exercise.objects.create(
            course=course, module=module, slug=f"exercise-{number}", title=f"Exercise {number}",
            minutes=10, position=number,
        )  # fmt: skip
        made += [
            Task.objects.create(
                exercise=exercise,
                slug=f"task-{n}",
                title=f"Task {n} of exercise {number}",
                position=n,
                checks=CHECK,
            )
            for n in range(5)
        ]
    cohort = cohort_of(course, name)
    cohort.instructors.add(instructor)
    cluster, _ = Cluster.objects.get_or_create(name="bench")
    now = timezone.now()
    failing = [{"check": "Pod my-pod exists and its status.phase is Running", "state": "failing",
                "differences": ["Pod my-pod: status.phase is Pending, want Running"]}]  # fmt: skip
    for number in range(trainees):
        user = User.objects.create_user(
            f"{name}-{number:03d}", f"{name}-{number:03d}@example.com", "x",
            first_name=rng.choice(["Ada", "Ben", "Cem", "Dora"]), last_name=f"Trainee {number}",
        )  # fmt: skip
        enrolment = Enrolment.objects.create(
            cohort=cohort, trainee=user, state=Enrolment.State.ACTIVE
        )
        Lab.objects.create(
            enrolment=enrolment, cluster=cluster, namespace=f"lab-{name}-{number}",
            state=Lab.State.READY, steps_done=12, steps_total=12,
        )  # fmt: skip
        results = []
        for task in made[: rng.randint(len(made) // 3, len(made))]:
            state = rng.choice(["passed", "passed", "failing", "pending", "error"])
            changed = now - dt.timedelta(minutes=rng.randint(0, 30))
            results.append(
                TaskResult(
                    enrolment=enrolment,
                    task=task,
                    state=state,
                    changed_at=changed,
                    opened_at=changed,
                    details=[] if state == "passed" else failing,
                    passed_at=changed if state == "passed" else None,
                    hint_opened_at=changed if rng.random() < 0.2 else None,
                    solution_opened_at=changed if rng.random() < 0.05 else None,
                )
            )
        TaskResult.objects.bulk_create(results)
        if number % 7 == 0:
            HelpRequest.objects.create(enrolment=enrolment, exercise=made[0].exercise)
    return cohort


def record_activity(cohort: Any) -> None:
    from asgiref.sync import async_to_sync

    from labs.models import Lab
    from labs.terminal import activity

    for number, lab_id in enumerate(
        Lab.objects.filter(enrolment__cohort=cohort).values_list("pk", flat=True)
    ):
        async_to_sync(activity.record)(
            lab_id, 1, last_input=time.time() - 60 * (number % 12), connected=number % 3 > 0
        )


def serve(cohort: Any, client: Any, renders: int) -> tuple[int, int, float, int]:
    """Queries of the grid alone and of the whole page, the page's median time (s), and its
    size in bytes."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from courseware import dashboard

    url = f"/cohorts/{cohort.slug}/dashboard/"
    assert client.get(url).status_code == 200  # warm-up: templates compiled, caches filled
    # DEBUG logs every query in a deque of at most 9000: the set-up filled it, and a full
    # deque would count nothing.
    reset_queries()
    # Counted at once: the captured slice is read from the connection's log, which the next
    # request clears.
    with CaptureQueriesContext(connection) as built:
        dashboard.build(cohort)
    built_queries = len(built)
    with CaptureQueriesContext(connection) as page:
        response = client.get(url)
    page_queries = len(page)
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return built_queries, page_queries, statistics.median(times), len(response.content)


async def latency(cohort: Any, cookie: str, count: int) -> tuple[list[float], str]:
    """Seconds from a result recorded through progress to the instructor's websocket, and
    how big and slow the snapshot on connecting was."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from courseware import events, progress
    from courseware.asgi import application
    from labs.checks import Snapshot
    from labs.models import Lab

    events.serve_on(asyncio.get_running_loop())  # the in-memory layer lives on this loop
    socket = WebsocketCommunicator(
        application.application,
        f"/ws/cohorts/{cohort.pk}/dashboard/",
        headers=[(b"host", b"localhost"), (b"origin", b"http://localhost"),
                 (b"cookie", cookie.encode())],
    )  # fmt: skip
    started = time.perf_counter()
    connected, _ = await socket.connect(timeout=30)
    assert connected
    frame = await socket.receive_output(timeout=60)
    snapshot_seconds = time.perf_counter() - started
    assert json.loads(frame["text"])["type"] == "snapshot"
    snapshot = (
        f"snapshot 100x50 over the websocket: {len(frame['text']) / 1024:.0f} KiB "
        f"in {snapshot_seconds * 1000:.0f} ms"
    )

    labs = await sync_to_async(
        lambda: list(Lab.objects.filter(enrolment__cohort=cohort).order_by("pk")[:20])
    )()
    works = [await sync_to_async(progress.lab_work)(lab.pk) for lab in labs]
    record = sync_to_async(progress.evaluate_lab, thread_sensitive=False)
    seconds = []
    for number in range(count):
        lab, work = labs[number % len(labs)], works[number % len(labs)]
        task = work.tasks[0]
        with_pod = (number // len(labs)) % 2 == 0
        pods = [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "my-pod", "namespace": lab.namespace},
                 "status": {"phase": "Running"}}] if with_pod else []  # fmt: skip
        wanted = "passed" if with_pod else "failing"
        started = time.perf_counter()
        changed = await record(work, Snapshot({"Pod": pods}), only=[task.task_id])
        assert changed, f"nothing changed for {task.key} in {lab.namespace}"
        while True:
            message = await socket.receive_json_from(timeout=10)
            result = message.get("result") or {}
            if (result.get("task"), result.get("enrolment"), result.get("state")) == (
                task.key, work.enrolment_id, wanted,
            ):  # fmt: skip
                break
        seconds.append(time.perf_counter() - started)
    await socket.disconnect()
    return seconds, snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--renders", type=int, default=7)
    parser.add_argument("--redis", default="", help="put the channel layer on this Redis")
    args = parser.parse_args()

    throwaway_django(args.redis)
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from tests.factories import make_instructor

    call_command("migrate", verbosity=0)
    instructor = make_instructor("ivan_bench")
    small = make_cohort("small", trainees=10, tasks=5, instructor=instructor)
    big = make_cohort("big", trainees=100, tasks=50, instructor=instructor)
    for cohort in (small, big):
        record_activity(cohort)
    client = Client(HTTP_HOST="localhost")
    client.force_login(instructor)

    small_built, small_page, small_time, small_size = serve(small, client, args.renders)
    big_built, big_page, big_time, big_size = serve(big, client, args.renders)
    session = client.cookies[settings.SESSION_COOKIE_NAME]
    seconds, snapshot = asyncio.run(latency(big, f"{session.key}={session.value}", args.results))

    print(f"grid 10x5: {small_built} queries to build, {small_page} to serve the page; "
          f"render {small_time * 1000:.1f} ms, {small_size / 1024:.0f} KiB")  # fmt: skip
    print(f"grid 100x50: {big_built} queries to build, {big_page} to serve the page; "
          f"render {big_time * 1000:.1f} ms, {big_size / 1024:.0f} KiB")  # fmt: skip
    print(f"render time ratio 100x50 / 10x5: {big_time / small_time:.1f} "
          f"(cells: {100 * 50 / (10 * 5):.0f}x)")  # fmt: skip
    print(snapshot)
    print(f"results: {len(seconds)}, channel layer: {'redis' if args.redis else 'in-memory'}")
    print(f"result to instructor p50 ms: {statistics.median(seconds) * 1000:.1f}")
    print(f"dashboard queries 10x5: {small_page}")
    print(f"dashboard queries 100x50: {big_page}")
    print(f"result to instructor p95 ms: {percentile(seconds, 0.95) * 1000:.1f}")


if __name__ == "__main__":
    main()
