"""Present mode over a websocket: ``ws/cohorts/<cohort id>/present/``.

Admits the cohort's instructors and admins as *leaders* and its trainees as *followers*
(``courseware.access``), and refuses everyone else in ``connect`` with close code 4403.
Everyone joins the cohort's present group first and is then sent where the class is, so
a deck opened late (or reconnecting) starts from the truth.

Messages from the server (JSON):
- ``{"type": "position", "position": {...} | null}``: where the leader is
  (``courseware.presenting.Position``), or null when nobody presents;
- to leaders only, ``{"type": "stats", "module": slug, "exercises": [...]}``: the class on the
  tasks of the module's exercises (``presenting.module_stats``), sent when a leader asks and
  again whenever a result of the cohort changes (at most once per ``STATS_EVERY`` seconds);
- ``{"type": "error", "message": ...}``: a frame that was not understood, and why.

Messages from leaders: ``{"type": "position", "module", "h", "v", "f"}``, ``{"type": "stop"}``
and ``{"type": "stats", "module"}``. Followers only listen.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from courseware import access, events, presenting
from courseware.models import Cohort

REFUSED = 4403
STATS_EVERY = 1.0
_MAX_FRAME = 4096

Role = Literal["lead", "follow"]


def _admit(user: Any, cohort_id: int) -> tuple[Role | None, Cohort | None, str]:
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if user is None or cohort is None or not user.is_authenticated:
        return None, None, ""
    name = user.get_full_name() or user.get_username()
    if access.can_manage_cohort(user, cohort):
        return "lead", cohort, name
    if access.own_enrolment(user, cohort) is not None:
        return "follow", cohort, name
    return None, None, ""


def _position(cohort_id: int) -> dict[str, Any] | None:
    position = presenting.current(cohort_id)
    return position.as_json() if position else None


class PresentConsumer(AsyncWebsocketConsumer):
    role: Role | None = None
    cohort: Cohort | None = None
    leader = ""
    groups_joined: list[str]
    watched: str | None = None  # the module a leader's speaker view shows stats for
    stats_due: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        self.groups_joined = []
        cohort_id = int(self.scope["url_route"]["kwargs"]["cohort"])
        role, cohort, name = await database_sync_to_async(_admit)(self.scope.get("user"), cohort_id)
        if role is None or cohort is None:
            await self.close(code=REFUSED)
            return
        self.role, self.cohort, self.leader = role, cohort, name
        self.groups_joined.append(events.present_group(cohort.pk))
        if role == "lead":
            # Results of the cohort, to keep the speaker view's stats live.
            self.groups_joined.append(events.cohort_group(cohort.pk))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        position = await database_sync_to_async(_position)(cohort.pk)
        await self._send({"type": "position", "position": position})

    async def disconnect(self, code: int) -> None:
        if self.stats_due is not None:
            self.stats_due.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.cohort is None:
            return
        if text_data is None or len(text_data) > _MAX_FRAME:
            await self._error("Send JSON text frames of at most 4 KB.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("A frame must be JSON.")
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if self.role != "lead":
            await self._error(
                "Only the cohort's instructors lead the slides; followers only listen."
            )
            return
        if kind == "position":
            await self._move(frame)
        elif kind == "stop":
            await database_sync_to_async(presenting.stop)(self.cohort.pk)
            await events.publish_position(self.cohort.pk, None)
        elif kind == "stats":
            module = frame.get("module")
            self.watched = module if isinstance(module, str) else None
            await self._send_stats()
        else:
            await self._error(f"Unknown message type {kind!r}: expected position, stop or stats.")

    async def _move(self, frame: dict[str, Any]) -> None:
        assert self.cohort is not None
        try:
            position = await database_sync_to_async(presenting.read_frame)(
                frame, self.cohort, self.leader
            )
        except presenting.BadFrame as error:
            await self._error(str(error))
            return
        await database_sync_to_async(presenting.move)(self.cohort.pk, position)
        await events.publish_position(self.cohort.pk, position.as_json())

    async def present_position(self, event: dict[str, Any]) -> None:
        await self._send({"type": "position", "position": event["position"]})

    async def task_result(self, event: dict[str, Any]) -> None:
        """A result of the cohort changed: refresh the stats, at most once a second."""
        if self.watched is None or self.stats_due is not None:
            return
        loop = asyncio.get_running_loop()
        self.stats_due = loop.call_later(STATS_EVERY, lambda: loop.create_task(self._due()))

    async def lab_state(self, event: dict[str, Any]) -> None:
        """The cohort's group carries the dashboard's events too; the stats need none."""

    async def help_request(self, event: dict[str, Any]) -> None:
        """As ``lab_state``."""

    async def terminal_state(self, event: dict[str, Any]) -> None:
        """As ``lab_state``."""

    async def _due(self) -> None:
        self.stats_due = None
        await self._send_stats()

    async def _send_stats(self) -> None:
        if self.cohort is None or self.watched is None:
            return
        stats = await database_sync_to_async(presenting.module_stats)(self.cohort, self.watched)
        await self._send(
            {"type": "stats", "module": self.watched, "exercises": presenting.stats_json(stats)}
        )

    async def _error(self, message: str) -> None:
        await self._send({"type": "error", "message": message})

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message))
