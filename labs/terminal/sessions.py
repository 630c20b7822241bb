"""Terminal sessions: a shell that outlives its websocket.

A session is one running shell of one lab (a lab may have several, numbered from 1), held
by this process's ``registry``. Its output goes to the attached viewers — at most one
writer (the lab's trainee) and any number of read-only watchers (instructors) — and into a
bounded replay buffer. Output is numbered by byte: the sequence number of a byte is its
offset in everything the shell has written, so a client that knows how many bytes it has
seen resumes exactly where it stopped, and the hot path carries no header at all.

- A disconnect leaves the shell running for ``grace`` seconds; a reconnect within that time
  (a reload, a network blip) replays what was missed from the buffer.
- A second writer takes over: the first is told why, then closed.
- Limits: input rate (a token bucket), idle time (with a warning first), sessions per
  trainee. Each refusal is a sentence for the terminal.
- Activity (``labs.terminal.activity``) is recorded at most every few seconds, not per
  keystroke.

Sessions live in one process and one event loop: see docs/terminal.md on several processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from labs.terminal import activity
from labs.terminal.base import Exit, Terminal, clamp_size

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own; the browser shows the reason).
EXITED = 1000
PROTOCOL_ERROR = 4400
REFUSED = 4403
IDLE = 4408
TAKEN_OVER = 4409
TOO_MANY = 4429
UNAVAILABLE = 4503

_FLOOD = 1024  # bytes in one read from which more output is likely on its way
Key = tuple[int, int]  # (lab id, terminal number)
TERMINALS_PER_LAB = activity.TERMINALS_PER_LAB


class Viewer(Protocol):
    """A socket attached to a session (the consumer)."""

    async def output(self, data: bytes) -> None: ...

    async def control(self, message: dict[str, Any]) -> None: ...

    async def end(self, code: int, reason: str) -> None: ...


Watch = Callable[["Session"], Coroutine[Any, Any, None]]


class Refused(Exception):
    """A session that cannot be opened or attached: the close code and a sentence."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    replay_bytes: int
    grace: float
    idle: float
    idle_warning: float
    input_rate: int
    input_burst: int
    per_trainee: int
    activity_every: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            replay_bytes=settings.LAB_TERMINAL_REPLAY_BYTES,
            grace=settings.LAB_TERMINAL_GRACE_SECONDS,
            idle=settings.LAB_TERMINAL_IDLE_SECONDS,
            idle_warning=settings.LAB_TERMINAL_IDLE_WARNING_SECONDS,
            input_rate=settings.LAB_TERMINAL_INPUT_RATE,
            input_burst=settings.LAB_TERMINAL_INPUT_BURST,
            per_trainee=settings.LAB_TERMINAL_MAX_PER_TRAINEE,
            activity_every=settings.LAB_TERMINAL_ACTIVITY_SECONDS,
        )


class ReplayBuffer:
    """The last ``size`` bytes of output; ``start`` is the sequence number of the first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = bytearray()
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, data: bytes) -> None:
        self.data += data
        excess = len(self.data) - self.size
        if excess > 0:
            del self.data[:excess]  # cheap: bytearray drops its head without copying
            self.start += excess

    def since(self, seq: int) -> bytes:
        return bytes(self.data[max(seq, self.start) - self.start :])


class TokenBucket:
    """``rate`` bytes per second on average, ``burst`` at once."""

    def __init__(self, rate: int, burst: int) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()

    def take(self, amount: int) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


def _minutes(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} seconds"
    return f"{seconds / 60:g} minutes"


class Session:
    def __init__(
        self,
        registry: Registry,
        key: Key,
        owner: int,
        terminal: Terminal,
        limits: Limits,
        description: str,
    ) -> None:
        self.registry = registry
        self.key = key
        self.owner = owner
        self.terminal = terminal
        self.limits = limits
        self.description = description
        self.id = secrets.token_urlsafe(9)
        self.buffer = ReplayBuffer(limits.replay_bytes)
        self.writer: Viewer | None = None
        self.watchers: list[Viewer] = []
        self.bucket = TokenBucket(limits.input_rate, limits.input_burst)
        self.last_input = time.monotonic()
        self.last_input_wall: float | None = None
        self.size: tuple[int, int] | None = None  # the writer's, which watchers mirror
        self.ended = False
        self._closing: tuple[int, str] | None = None
        self._warned = False
        self._refused_at = 0.0
        self._activity_at = -math.inf
        self._input_recorded_at = -math.inf
        self._grace: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop = asyncio.get_running_loop()
        self._pump = self.loop.create_task(self._run())
        self._schedule()

    # -- output -----------------------------------------------------------------------------

    def viewers(self) -> list[Viewer]:
        return ([self.writer] if self.writer is not None else []) + self.watchers

    async def _run(self) -> None:
        flood = False
        try:
            while True:
                if flood:
                    # Much output at once (a long listing, a cat): one more turn of the loop
                    # lets what is ready arrive, so it goes out as one frame, not many.
                    await asyncio.sleep(0)
                data = await self.terminal.read()
                if not data:
                    break
                flood = len(data) >= _FLOOD
                self.buffer.append(data)
                for viewer in self.viewers():
                    try:
                        await viewer.output(data)
                    except Exception:
                        log.warning("terminal %s: a viewer failed; detaching it", self.key)
                        self.detach(viewer)
            ended = await self.terminal.wait()
        except Exception as exc:
            log.exception("terminal %s failed", self.key)
            ended = Exit(None, f"the terminal failed: {exc}")
        await self._finish(ended)

    async def _finish(self, ended: Exit) -> None:
        self.ended = True
        self.registry.remove(self)
        for handle in (self._grace, self._timer):
            if handle is not None:
                handle.cancel()
        code, reason = self._closing or (EXITED, ended.message)
        for viewer in self.viewers():
            with contextlib.suppress(Exception):
                await viewer.control(
                    {"type": "exit", "status": ended.status, "message": reason, "code": code}
                )
                await viewer.end(code, reason)
        self.writer, self.watchers = None, []
        await activity.record(
            *self.key, last_input=self.last_input_wall, connected=False, announce=True
        )

    async def close(self, code: int, reason: str) -> None:
        """End the shell; viewers are told ``reason`` and closed with ``code``."""
        if self.ended or self._closing:
            return
        self._closing = (code, reason)
        await self.terminal.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._pump), 5)

    async def message(self, text: str) -> None:
        for viewer in self.viewers():
            with contextlib.suppress(Exception):
                await viewer.control({"type": "message", "text": text})

    # -- viewers ----------------------------------------------------------------------------

    async def attach(
        self, viewer: Viewer, *, write: bool, session: str | None, seq: int | None
    ) -> None:
        """Send ``viewer`` what it missed (all that is buffered, or from ``seq`` when it
        resumes this very session), then stream to it. A writer takes over from the one
        before it."""
        if self.ended or self._closing:
            raise Refused(EXITED, "this terminal has just ended")
        resuming = session == self.id and seq is not None and 0 <= seq <= self.buffer.end
        position = (
            max(seq, self.buffer.start) if resuming and seq is not None else self.buffer.start
        )
        await viewer.control(
            {
                "type": "attached",
                "session": self.id,
                "seq": position,
                "fresh": not resuming,
                "lost": max(0, self.buffer.start - seq) if resuming and seq is not None else 0,
                "mode": "write" if write else "read",
                "backend": self.description,
                "size": list(self.size) if self.size else None,
            }
        )
        while position < self.buffer.end:
            if position < self.buffer.start:  # the buffer moved on while we were sending
                await viewer.control({"type": "skip", "seq": self.buffer.start})
                position = self.buffer.start
            chunk = self.buffer.since(position)
            await viewer.output(chunk)
            position += len(chunk)
        if self.ended or self._closing:
            raise Refused(EXITED, "this terminal has just ended")
        # From here on the pump sends to the viewer: no await between the last check of the
        # buffer and joining, so no byte is sent twice or skipped.
        if not write:
            self.watchers.append(viewer)
            return
        previous, self.writer = self.writer, viewer
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self._record_activity(connected=True, announce=True)
        if previous is not None and previous is not viewer:
            self._spawn(self._take_over(previous))

    async def _take_over(self, previous: Viewer) -> None:
        text = "This terminal was opened in another tab or window, which has taken it over."
        with contextlib.suppress(Exception):
            await previous.control({"type": "message", "text": text})
            await previous.end(TAKEN_OVER, "opened in another tab or window")

    def detach(self, viewer: Viewer) -> None:
        if viewer is self.writer:
            self.writer = None
            if not self.ended:
                self._record_activity(connected=False, announce=True)
                self._grace = self.loop.call_later(self.limits.grace, self._grace_over)
        elif viewer in self.watchers:
            self.watchers.remove(viewer)

    def _grace_over(self) -> None:
        self._grace = None
        if self.writer is None:
            reason = f"nobody reconnected within {_minutes(self.limits.grace)}"
            self._spawn(self.close(EXITED, reason))

    # -- input ------------------------------------------------------------------------------

    async def input(self, viewer: Viewer, data: bytes) -> str | None:
        """Pass keystrokes to the shell; a sentence instead when they are refused (None
        when the refusal was just said and need not be repeated)."""
        if viewer is not self.writer:
            return "This terminal is read-only: you are watching, your keys do not reach it."
        if not self.bucket.take(len(data)):
            now = time.monotonic()
            if now - self._refused_at < 1:
                return None
            self._refused_at = now
            return (
                f"Input refused: more than {self.limits.input_rate} bytes per second "
                f"(LAB_TERMINAL_INPUT_RATE); paste less at once."
            )
        now = time.monotonic()
        self.last_input = now
        self.last_input_wall = time.time()
        await self.terminal.write(data)
        if now - self._input_recorded_at >= self.limits.activity_every:
            self._input_recorded_at = now
            self._record_activity(connected=True)
        return None

    async def resize(self, viewer: Viewer, cols: int, rows: int) -> None:
        if viewer is not self.writer:
            return
        self.size = clamp_size(cols, rows)
        await self.terminal.resize(*self.size)
        for watcher in list(self.watchers):
            with contextlib.suppress(Exception):
                await watcher.control({"type": "size", "cols": self.size[0], "rows": self.size[1]})

    # -- timers and activity ----------------------------------------------------------------

    def _schedule(self) -> None:
        idle = self.limits.idle
        wake = math.inf
        if idle > 0:
            deadline = self.last_input + idle
            wake = deadline if self._warned else deadline - self.limits.idle_warning
        if self.writer is not None:
            wake = min(wake, self._activity_at + activity.HEARTBEAT)
        if wake < math.inf:
            self._timer = self.loop.call_later(max(0.05, wake - time.monotonic()), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.ended or self._closing:
            return
        now, idle = time.monotonic(), self.limits.idle
        if idle > 0 and now >= self.last_input + idle:
            reason = f"closed after {_minutes(idle)} without input"
            self._spawn(self.close(IDLE, reason))
            return
        if idle > 0 and now >= self.last_input + idle - self.limits.idle_warning:
            if not self._warned:
                self._warned = True
                left = _minutes(self.last_input + idle - now)
                text = f"This terminal has been idle a while: it closes in {left} unless you type."
                self._spawn(self.message(text))
        else:
            self._warned = False
        if self.writer is not None and now - self._activity_at >= activity.HEARTBEAT:
            self._record_activity(connected=True)
        self._schedule()

    def _record_activity(self, *, connected: bool, announce: bool = False) -> None:
        self._activity_at = time.monotonic()
        record = activity.record(
            *self.key, last_input=self.last_input_wall, connected=connected, announce=announce
        )
        self._spawn(record)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class Registry:
    """This process's sessions by (lab id, terminal number)."""

    def __init__(self) -> None:
        self._sessions: dict[Key, Session] = {}
        self._starting: dict[Key, tuple[int, asyncio.Future[Session]]] = {}
        self._waiting: dict[Key, list[Watch]] = {}

    def get(self, key: Key) -> Session | None:
        session = self._sessions.get(key)
        if session is not None and session.loop is not asyncio.get_running_loop():
            # A session of a loop that has gone (tests run one loop per test): forget it.
            del self._sessions[key]
            return None
        return session

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def count_for(self, owner: int) -> int:
        running = sum(
            1 for key in list(self._sessions) if (s := self.get(key)) and s.owner == owner
        )
        return running + sum(1 for who, _ in self._starting.values() if who == owner)

    async def open(
        self,
        key: Key,
        owner: int,
        start: Callable[[], Awaitable[Terminal]],
        limits: Limits,
        description: str,
    ) -> Session:
        """The running session of ``key``, or a new one from ``start()``."""
        existing = self.get(key)
        if existing is not None:
            return existing
        if key in self._starting:
            return await asyncio.shield(self._starting[key][1])
        if self.count_for(owner) >= limits.per_trainee:
            raise Refused(
                TOO_MANY,
                f"You have {limits.per_trainee} terminals open already, the most one trainee "
                "may have (LAB_TERMINAL_MAX_PER_TRAINEE): close one first.",
            )
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._starting[key] = (owner, future)
        try:
            terminal = await start()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: whoever waits on it gets it, nobody else logs it
            raise
        finally:
            del self._starting[key]
        session = Session(self, key, owner, terminal, limits, description)
        self._sessions[key] = session
        future.set_result(session)
        for watch in self._waiting.pop(key, []):
            session._spawn(watch(session))
        return session

    def wait_for(self, key: Key, watch: Watch) -> None:
        """Call ``watch(session)`` once the session of ``key`` is opened (a watcher who
        came before the trainee)."""
        self._waiting.setdefault(key, []).append(watch)

    def stop_waiting(self, key: Key, watch: Watch) -> None:
        waiting = self._waiting.get(key, [])
        if watch in waiting:
            waiting.remove(watch)

    def remove(self, session: Session) -> None:
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]

    async def close_all(self, reason: str = "the server is shutting down") -> None:
        for session in list(self._sessions.values()):
            if session.loop is asyncio.get_running_loop():
                await session.close(EXITED, reason)
        self._sessions.clear()


registry = Registry()
