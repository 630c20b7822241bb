"""Running an action once a burst of changes is over: a `Debouncer`.

A trainee's ``kubectl apply`` of a Deployment sets off dozens of events in a second (the
Deployment, its ReplicaSet, each Pod as it is scheduled, starts and becomes ready). Judging
the lab after every one would be wasted work, so `touch(key)` only records that ``key``
changed, and ``action(key)`` runs once ``quiet`` seconds passed without another touch of it
— or ``longest`` seconds after the first one, so that a lab that never stops changing is
still judged. One key never runs twice at once (a touch while it runs runs it again
afterwards); ``workers`` keys run at the same time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Debouncer"]

log = logging.getLogger(__name__)


class Debouncer:
    def __init__(
        self,
        action: Callable[[Hashable], None],
        *,
        quiet: float = 0.1,
        longest: float = 1.0,
        workers: int = 4,
    ) -> None:
        self.action = action
        self.quiet = quiet
        self.longest = longest
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="debounced")
        self._changed = threading.Condition()
        self._pending: dict[Hashable, tuple[float, float]] = {}  # key → (first, last) touch
        self._running: set[Hashable] = set()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="debouncer", daemon=True)
        self._thread.start()

    def touch(self, key: Hashable) -> None:
        now = time.monotonic()
        with self._changed:
            first, _ = self._pending.get(key, (now, now))
            self._pending[key] = (first, now)
            self._changed.notify()

    def idle(self) -> bool:
        """Nothing waits and nothing runs."""
        with self._changed:
            return not self._pending and not self._running

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        with self._changed:
            while not self._stopping:
                now = time.monotonic()
                wait: float | None = None
                for key, (first, last) in list(self._pending.items()):
                    if key in self._running:
                        continue
                    due = min(last + self.quiet, first + self.longest)
                    if due <= now:
                        del self._pending[key]
                        self._running.add(key)
                        self._pool.submit(self._run, key)
                    else:
                        wait = due - now if wait is None else min(wait, due - now)
                self._changed.wait(wait)

    def _run(self, key: Hashable) -> None:
        try:
            self.action(key)
        except Exception:
            log.exception("debounced action failed for %r", key)
        finally:
            with self._changed:
                self._running.discard(key)
                self._changed.notify()
