"""Pushing events to browsers: the one helper that publishes, and the groups it uses.

A result goes to the channel-layer group of its lab (``lab.<lab id>``: the trainee's pages,
and anyone allowed to follow that lab) and of its cohort (``cohort.<cohort id>``: the
instructors' dashboard). A presenting instructor's position in the slides goes to
``present.<cohort id>`` (every deck of the cohort's course that is open). Consumers join
these groups; nothing else sends to them.

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
from channels.layers import get_channel_layer

from courseware.models import TaskResult

__all__ = [
    "cohort_group",
    "lab_group",
    "payload",
    "present_group",
    "publish_position",
    "publish_result",
    "serve_on",
]

log = logging.getLogger(__name__)
MESSAGE_TYPE = "task.result"  # consumers handle it in task_result()
POSITION_TYPE = "present.position"  # consumers handle it in present_position()
_PUBLISH_TIMEOUT = 5.0

_loop: asyncio.AbstractEventLoop | None = None


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
    }


def publish_result(result: TaskResult, lab_id: int) -> None:
    """Send ``result`` to the groups of its lab and of its cohort. A channel layer that
    cannot be reached is logged, not raised: the result is recorded, and a reconnecting
    page or the next change brings it to the browsers."""
    message = {"type": MESSAGE_TYPE, "result": payload(result)}
    groups = [lab_group(lab_id), cohort_group(result.enrolment.cohort_id)]
    try:
        _send(groups, message)
    except Exception:
        log.exception("could not publish the result of %s", result.task.key)


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

    loop = _loop
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(send(), loop).result(_PUBLISH_TIMEOUT)
            return
    async_to_sync(send)()
