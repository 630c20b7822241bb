"""When the simulated cluster's work happens: at once and in order, or after a delay.

Controllers react to a change *soon*: the work is queued and the queue is drained, in the
order it was queued, before the write that caused it returns (so a test or a client that reads
right after a write sees the cluster settled). A queued item that is already waiting is not
queued twice, as a controller's work queue holds each key once.

What takes time on a real node (pulling an image, starting or stopping a container, a finite
command's run) is *paced*: ``after(seconds)`` waits ``seconds × pace`` of real time, so pace 1
is a realistic cluster (a pod is Ready about a second after it is created), 0.1 a fast one, and
0 makes every step immediate but still ordered. A back-off (an image pull or a crashed
container retried) never waits less than `BACKOFF_FLOOR`, so a failing pod does not spin at
pace 0. Deadlines and schedules that users write as wall-clock time (a CronJob's schedule, a
rollout's progress deadline, a Job's activeDeadlineSeconds) are not paced: ``at_real``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["BACKOFF_FLOOR", "Clock"]

log = logging.getLogger(__name__)

BACKOFF_FLOOR = 1.0  # seconds of real time, at any pace

Work = Callable[..., None]


class Clock:
    """Runs controller work on the server's loop; ``lock`` is the store's lock, held while the
    queue drains so that the cluster settles atomically."""

    def __init__(self, lock: threading.RLock, pace: float | None) -> None:
        self.lock = lock
        self.pace = pace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[tuple[Hashable | None, Work, tuple[Any, ...]]] = deque()
        self._queued: set[Hashable] = set()
        self._draining = False
        self._parked: list[tuple[float, Work, tuple[Any, ...]]] = []

    # -- the loop -----------------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run timers on ``loop`` from now on, including those set before it ran."""
        with self.lock:
            self._loop = loop
            parked, self._parked = self._parked, []
        for seconds, work, args in parked:
            self._arm(seconds, work, args)

    def detach(self) -> None:
        with self.lock:
            self._loop = None

    # -- scheduling ---------------------------------------------------------------------------

    def seconds(self, simulated: float) -> float:
        """The real seconds that ``simulated`` seconds of a node's work take at this pace."""
        return max(0.0, simulated * (self.pace or 0.0))

    def soon(self, work: Work, *args: Any, key: Hashable | None = None) -> None:
        """Run ``work(*args)`` at once, after what is already queued; with ``key``, not again
        while an item of that key waits."""
        with self.lock:
            if key is not None:
                if key in self._queued:
                    return
                self._queued.add(key)
            self._queue.append((key, work, args))
            if self._draining:
                return
            self._draining = True
            try:
                while self._queue:
                    queued_key, queued, queued_args = self._queue.popleft()
                    if queued_key is not None:
                        self._queued.discard(queued_key)
                    _guarded(queued, queued_args)
            finally:
                self._draining = False

    def after(self, simulated: float, work: Work, *args: Any, backoff: bool = False) -> None:
        """Run ``work(*args)`` once ``simulated`` seconds of the node's time have passed: soon
        when that is no real time at all; ``backoff`` waits at least `BACKOFF_FLOOR`."""
        seconds = self.seconds(simulated)
        if backoff:
            seconds = max(seconds, BACKOFF_FLOOR)
        if seconds <= 0:
            self.soon(work, *args)
        else:
            self._arm(seconds, work, args)

    def at_real(self, seconds: float, work: Work, *args: Any) -> None:
        """Run ``work(*args)`` after ``seconds`` of wall-clock time, whatever the pace."""
        if seconds <= 0:
            self.soon(work, *args)
        else:
            self._arm(seconds, work, args)

    def _arm(self, seconds: float, work: Work, args: tuple[Any, ...]) -> None:
        with self.lock:
            loop = self._loop
            if loop is None:
                self._parked.append((seconds, work, args))
                return
        with contextlib.suppress(RuntimeError):  # the loop is closing: the cluster is stopping
            loop.call_soon_threadsafe(loop.call_later, seconds, self.soon, work, *args)


def _guarded(work: Work, args: tuple[Any, ...]) -> None:
    try:
        work(*args)
    except Exception:
        log.exception("simulated cluster: a controller failed")
