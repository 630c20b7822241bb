"""Websocket consumers: the web edge of the terminal.

``TerminalConsumer`` serves ``ws/labs/<lab id>/terminal/?n=<number>``. Who may connect is
decided in ``connect()`` by ``courseware.access.terminal_access`` — the same module that
decides for the pages — before any backend is touched; a refusal closes with 4403 and a
reason. Origins are checked by ``AllowedHostsOriginValidator`` in ``courseware.asgi``.

The wire protocol (docs/terminal.md): binary frames carry terminal bytes both ways; text
frames carry JSON control messages. The browser starts with ``hello`` (its size, and the
session and sequence number it saw last, to resume), then sends keystrokes as binary and
``resize`` as JSON; the server answers ``attached``, then output as binary, and
``message``/``exit``/``skip`` as JSON. The shell itself lives in ``labs.terminal.sessions``
and outlives the socket.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from courseware.access import TerminalMode, terminal_access
from courseware.models import Enrolment
from labs import terminal as terminals
from labs.models import Lab
from labs.terminal.base import DEFAULT_SIZE, TerminalError
from labs.terminal.sessions import (
    PROTOCOL_ERROR,
    REFUSED,
    TERMINALS_PER_LAB,
    UNAVAILABLE,
    Limits,
    Refused,
    Session,
    registry,
)

log = logging.getLogger(__name__)

# A close reason travels in the close frame, which holds 123 bytes.
_REASON_BYTES = 123


def _admit(user: Any, lab_id: int) -> tuple[TerminalMode | None, Lab | None]:
    lab = (
        Lab.objects.select_related("enrolment__cohort", "enrolment__trainee", "cluster")
        .filter(pk=lab_id)
        .first()
    )
    if lab is None:
        return None, None
    return terminal_access(user, lab), lab


def _number(query: bytes) -> int | None:
    values = parse_qs(query.decode("latin-1")).get("n", ["1"])
    try:
        number = int(values[0])
    except ValueError:
        return None
    return number if 1 <= number <= TERMINALS_PER_LAB else None


def _size(message: dict[str, Any]) -> tuple[int, int] | None:
    cols, rows = message.get("cols", DEFAULT_SIZE[0]), message.get("rows", DEFAULT_SIZE[1])
    if type(cols) is not int or type(rows) is not int or cols < 1 or rows < 1:
        return None
    return cols, rows


class TerminalConsumer(AsyncWebsocketConsumer):
    session: Session | None = None
    mode: TerminalMode | None = None
    lab: Lab | None = None
    number = 1
    greeted = False

    # -- the hot path ------------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' generic loop races the client against the channel layer with a new task
        # per message, and closes stale database connections in a thread before each one.
        # A terminal uses no channel layer and its frames touch no database: it reads the
        # client directly (docs/terminal.md, "Performance").
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    await self.websocket_receive(message)
                else:
                    await self.dispatch(message)
        except StopConsumer:
            pass

    # -- the door ---------------------------------------------------------------------------

    async def connect(self) -> None:
        lab_id = self.scope["url_route"]["kwargs"]["lab"]
        mode, lab = await database_sync_to_async(_admit)(self.scope.get("user"), lab_id)
        number = _number(self.scope.get("query_string", b""))
        await self.accept()
        if mode is None or lab is None:
            # The same answer whether the lab exists or not: nothing to learn by probing.
            await self._refuse(REFUSED, "You may not use this terminal.")
            return
        if number is None:
            await self._refuse(
                PROTOCOL_ERROR, f"Terminal numbers run from 1 to {TERMINALS_PER_LAB}."
            )
            return
        if mode == "write" and lab.state != Lab.State.READY:
            await self._refuse(
                UNAVAILABLE, f"Your lab is not ready (it is {lab.get_state_display().lower()})."
            )
            return
        self.mode, self.lab, self.number = mode, lab, number

    async def _refuse(self, code: int, text: str) -> None:
        await self.control({"type": "message", "text": text})
        await self.end(code, text)

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            self.session.detach(self)
        elif self.lab is not None:
            registry.stop_waiting((self.lab.pk, self.number), self._watch)

    # -- frames from the browser ------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.mode is None:
            return  # refused: the close is on its way
        size = len(bytes_data) if bytes_data is not None else len(text_data or "")
        if size > settings.LAB_TERMINAL_MAX_FRAME_BYTES:
            await self.message(
                f"Refused a frame of {size} bytes: the limit is "
                f"{settings.LAB_TERMINAL_MAX_FRAME_BYTES} (LAB_TERMINAL_MAX_FRAME_BYTES)."
            )
            return
        if bytes_data is not None:
            if self.session is None:
                await self.end(PROTOCOL_ERROR, "expected a hello (a JSON text frame) first")
                return
            refusal = await self.session.input(self, bytes_data)
            if refusal:
                await self.message(refusal)
            return
        try:
            message = json.loads(text_data or "")
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            await self.message("Ignored a malformed control frame: expected JSON with a type.")
            return
        if kind == "hello" and not self.greeted:
            self.greeted = True
            await self._hello(message)
        elif kind == "resize" and self.session is not None:
            size = _size(message)
            if size is None:
                await self.message("Ignored a resize without whole numbers for cols and rows.")
            else:
                await self.session.resize(self, *size)
        else:
            await self.message(f"Ignored a control frame of type {str(kind)[:40]!r} here.")

    async def _hello(self, message: dict[str, Any]) -> None:
        size = _size(message)
        session_id, seq = message.get("session"), message.get("seq")
        if (
            size is None
            or not isinstance(session_id, str | None)
            or not isinstance(seq, int | None)
        ):
            await self.end(PROTOCOL_ERROR, "malformed hello: cols, rows, session, seq")
            return
        assert self.lab is not None
        key = (self.lab.pk, self.number)
        if self.mode == "read":
            session = registry.get(key)
            if session is None:
                registry.wait_for(key, self._watch)
                await self.control({"type": "waiting"})
                await self.message("The trainee has no terminal open; it shows here when they do.")
                return
        else:
            try:
                session = await self._open(key, size)
            except Refused as refused:
                await self._refuse(refused.code, refused.message)
                return
            except TerminalError as exc:
                await self._refuse(UNAVAILABLE, f"The terminal cannot start: {exc.message}")
                return
        self.session = session
        try:
            await session.attach(self, write=self.mode == "write", session=session_id, seq=seq)
        except Refused as refused:
            self.session = None
            await self._refuse(refused.code, refused.message)
            return
        if self.mode == "write":
            await session.resize(self, *size)

    async def _watch(self, session: Session) -> None:
        """The trainee opened the terminal this watcher waited for."""
        self.session = session
        try:
            await session.attach(self, write=False, session=None, seq=None)
        except Refused:
            self.session = None

    async def _open(self, key: tuple[int, int], size: tuple[int, int]) -> Session:
        assert self.lab is not None
        backend = terminals.backend()
        lab = self.lab

        async def start() -> Any:
            prepared = await database_sync_to_async(backend.prepare)(lab)
            return await backend.start(prepared, *size)

        enrolment: Enrolment = lab.enrolment
        return await registry.open(
            key, enrolment.trainee_id, start, Limits.from_settings(), backend.description
        )

    # -- what a session sends (labs.terminal.sessions.Viewer) -------------------------------

    async def output(self, data: bytes) -> None:
        await self.base_send({"type": "websocket.send", "bytes": data})

    async def control(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message))

    async def message(self, text: str) -> None:
        await self.control({"type": "message", "text": text})

    async def end(self, code: int, reason: str) -> None:
        encoded = reason.encode()[:_REASON_BYTES]
        await self.close(code=code, reason=encoded.decode(errors="ignore"))
