"""Pushing events to browsers: the one helper that publishes, and the groups it uses.

A result goes to the channel-layer group of its lab (``lab.<lab id>``: the trainee's pages,
and anyone allowed to follow that lab) and of its cohort (``cohort.<cohort id>``: the
instructors' dashboard). A presenting instructor's position in the slides goes to
``present.<cohort id>`` (every deck of the cohort's course that is open). Consumers join
these groups; nothing else sends to them.

What goes where (the message types; a consumer handles ``a.b`` in its method ``a_b``):

- ``task.result``: a result changed, or a hint or solution was first opened; lab and cohort.
- ``lab.state``: a lab's provisioning state or progress changed; cohort only.
- ``help.request``: a hand went up or was marked handled; cohort, and the trainee's lab.
- ``terminal.state``: a trainee's terminal connected or went away; cohort only.
- ``present.position``: where a presenting instructor is in the slides; present.

The in-memory channel layer of development works only on the event loop that serves the
websockets, and a watcher thread has none of its own: `serve_on` names that loop (the
in-process watcher does, when the application first serves), and publishing from another
thread then runs there. Without it (Redis, or a worker) publishing uses ``async_to_sync``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from courseware.models import HelpRequest, TaskResult
from labs.models import Lab
from labs.terminal.activity import activity

__all__ = [
    "cohort_group",
    "help_payload",
    "lab_group",
    "lab_payload",
    "payload",
    "present_group",
    "publish_help",
    "publish_lab",
    "publish_position",
    "publish_result",
    "publish_terminal",
    "serve_on",
]

log = logging.getLogger(__name__)
MESSAGE_TYPE = "task.result"  # consumers handle it in task_result()
LAB_MESSAGE_TYPE = "lab.state"  # in lab_state()
HELP_MESSAGE_TYPE = "help.request"  # in help_request()
TERMINAL_MESSAGE_TYPE = "terminal.state"  # in terminal_state()
POSITION_TYPE = "present.position"  # in present_position()
_PUBLISH_TIMEOUT = 5.0

_loop: asyncio.AbstractEventLoop | None = None
_sending: set[asyncio.Task[None]] = set()  # sends scheduled on a running loop, kept alive


def lab_group(lab_id: int) -> str:
    return f"lab.{lab_id}"


def cohort_group(cohort_id: int) -> str:
    return f"cohort.{cohort_id}"


def present_group(cohort_id: int) -> str:
    """Everyone with a deck of the cohort's course open: where its instructor is."""
    return f"present.{cohort_id}"


def serve_on(loop: asyncio.AbstractEventLoop | None) -> None:
    """Publish on ``loop`` (the one serving the websockets) from other threads."""
    global _loop
    _loop = loop


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def payload(result: TaskResult) -> dict[str, Any]:
    """A result as browsers get it (the task and its exercise must be loaded)."""
    return {
        "task": result.task.key,
        "exercise": result.task.exercise.slug,
        "enrolment": result.enrolment_id,
        "state": result.state,
        "checks": result.details,
        "passed_at": _time(result.passed_at),
        "changed_at": _time(result.changed_at),
        "evaluated_at": _time(result.evaluated_at),
        "opened_at": _time(result.opened_at),
        "hint_opened_at": _time(result.hint_opened_at),
        "solution_opened_at": _time(result.solution_opened_at),
    }


def publish_result(result: TaskResult, lab_id: int | None) -> None:
    """Send ``result`` to the groups of its lab (when the trainee has one) and of its
    cohort. A channel layer that cannot be reached is logged, not raised: the result is
    recorded, and a reconnecting page or the next change brings it to the browsers."""
    message = {"type": MESSAGE_TYPE, "result": payload(result)}
    groups = [cohort_group(result.enrolment.cohort_id)]
    if lab_id is not None:
        groups.insert(0, lab_group(lab_id))
    _publish(groups, message, f"the result of {result.task.key}")


def lab_payload(lab: Lab | None) -> dict[str, Any]:
    """A lab's state as the dashboard shows it; a trainee without a lab has state "none"."""
    if lab is None:
        return {"id": None, "state": "none", "label": "No lab", "step": "",
                "steps_done": 0, "steps_total": 0, "progress": 0, "error": ""}  # fmt: skip
    return {
        "id": lab.pk,
        "state": lab.state,
        "label": lab.get_state_display(),
        "step": lab.step,
        "steps_done": lab.steps_done,
        "steps_total": lab.steps_total,
        "progress": lab.progress,
        "error": lab.last_error,
    }


def publish_lab(lab: Lab, cohort_id: int) -> None:
    """Send a lab's state to its cohort's dashboards (provisioning steps included: they
    draw the progress bar)."""
    message = {"type": LAB_MESSAGE_TYPE, "enrolment": lab.enrolment_id, "lab": lab_payload(lab)}
    _publish([cohort_group(cohort_id)], message, f"the state of lab {lab.namespace}")


def help_payload(request: HelpRequest, failing: str = "") -> dict[str, Any]:
    """A raised hand as the dashboard and the trainee's page show it (the enrolment's
    trainee, the exercise, the task and who handled it must be loaded). ``failing``: the
    sentence of the check that fails, for the instructor's queue."""
    trainee = request.enrolment.trainee
    handler = request.handled_by
    return {
        "id": request.pk,
        "enrolment": request.enrolment_id,
        "trainee": trainee.get_full_name() or trainee.get_username(),
        "exercise": request.exercise.slug,
        "exercise_title": request.exercise.title,
        "task": f"{request.exercise.slug}/{request.task.slug}" if request.task else None,
        "task_title": request.task.title if request.task else "",
        "failing": failing,
        "created_at": _time(request.created_at),
        "handled_at": _time(request.handled_at),
        "handled_by": (handler.get_full_name() or handler.get_username()) if handler else "",
    }


def publish_help(request: HelpRequest, lab_id: int | None, failing: str = "") -> None:
    """Send a raised hand (or its handling) to the cohort's dashboards and to the trainee's
    pages."""
    message = {"type": HELP_MESSAGE_TYPE, "help": help_payload(request, failing)}
    groups = [cohort_group(request.enrolment.cohort_id)]
    if lab_id is not None:
        groups.append(lab_group(lab_id))
    _publish(groups, message, f"help request {request.pk}")


def _publish(groups: list[str], message: dict[str, Any], what: str) -> None:
    try:
        _send(groups, message)
    except Exception:
        log.exception("could not publish %s", what)


async def publish_terminal(lab_id: int) -> None:
    """Send whether the lab's trainee has a terminal connected now (all their terminals
    together) and when they last typed, to the cohort's dashboards."""
    try:
        found = await database_sync_to_async(_terminal_message)(lab_id)
        layer = get_channel_layer()
        if found is not None and layer is not None:
            await layer.group_send(cohort_group(found[0]), found[1])
    except Exception:
        log.exception("could not publish the terminal state of lab %s", lab_id)


def _terminal_message(lab_id: int) -> tuple[int, dict[str, Any]] | None:
    row = Lab.objects.filter(pk=lab_id).values_list("enrolment_id", "enrolment__cohort_id").first()
    if row is None:
        return None
    seen = activity([lab_id]).get(lab_id)
    terminal = {
        "connected": seen is not None and seen.connected,
        "last_input": _time(seen.last_input) if seen is not None else None,
    }
    message = {
        "type": TERMINAL_MESSAGE_TYPE,
        "now": _time(timezone.now()),
        "terminals": {str(row[0]): terminal},
    }
    return row[1], message


async def publish_position(cohort_id: int, position: dict[str, Any] | None) -> None:
    """Send a leader's position (None: the presentation ended) to the cohort's decks."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            present_group(cohort_id), {"type": POSITION_TYPE, "position": position}
        )


def _send(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send() -> None:
        for group in groups:
            await layer.group_send(group, message)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    loop = _loop
    if loop is not None and loop.is_running() and running is not loop:
        asyncio.run_coroutine_threadsafe(send(), loop).result(_PUBLISH_TIMEOUT)
        return
    if running is not None:
        # Synchronous code on the thread of a running loop, which async_to_sync refuses:
        # the loop sends as soon as this code gives it back control.
        task = running.create_task(send())
        _sending.add(task)
        task.add_done_callback(_sent)
        return
    async_to_sync(send)()


def _sent(task: asyncio.Task[None]) -> None:
    _sending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("could not publish", exc_info=task.exception())
