"""Terminal activity for the instructor dashboard's stuck detection: per lab, when its
trainee last typed and whether a terminal of theirs is connected now.

Kept in Django's cache (Redis in production, so every ASGI process sees every other's),
written by the sessions at most every ``LAB_TERMINAL_ACTIVITY_SECONDS`` per terminal and at
connect and disconnect: never a write per keystroke, never a database row. A connected
terminal renews its entry every ``HEARTBEAT`` seconds; an entry not renewed in time (its
process died) reads as disconnected."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.dispatch import Signal

# Terminal numbers run from 1 to this (labs.terminal.sessions imports it from here).
TERMINALS_PER_LAB = 9
HEARTBEAT = 60  # seconds between renewals of a connected terminal's entry
_KEEP = 7 * 24 * 3600  # seconds an entry is kept after its last write


# Sent (with ``lab_id``) when a terminal of a lab connects or goes away, not as its trainee
# types: whoever shows who is connected (the instructor's dashboard) listens, and reads the
# lab's merged state with `activity`.
connection_changed = Signal()


def _key(lab_id: int, number: int) -> str:
    return f"lotse:terminal:{lab_id}:{number}"


@dataclass(frozen=True)
class Activity:
    last_input: dt.datetime | None
    connected: bool


async def record(
    lab_id: int,
    number: int,
    *,
    last_input: float | None,
    connected: bool,
    announce: bool = False,
) -> None:
    """Store one terminal's state; ``last_input`` is a Unix time. With ``announce`` (a
    connection came or went) `connection_changed` is sent once it is stored."""
    value = {
        "last_input": last_input,
        # Connected until this time unless renewed: a process that died stops renewing.
        "connected_until": time.time() + 2 * HEARTBEAT if connected else 0.0,
    }
    await cache.aset(_key(lab_id, number), value, timeout=_KEEP)
    if announce:
        await connection_changed.asend(sender=None, lab_id=lab_id)


def activity(lab_ids: list[int]) -> dict[int, Activity]:
    """The activity of each lab (all its terminals together) in one cache read; labs
    without any recorded activity are left out."""
    keys = {_key(lab, n): lab for lab in lab_ids for n in range(1, TERMINALS_PER_LAB + 1)}
    found = cache.get_many(list(keys))
    now = time.time()
    merged: dict[int, tuple[float | None, bool]] = {}
    for key, value in found.items():
        lab = keys[key]
        last, connected = merged.get(lab, (None, False))
        typed = value.get("last_input")
        if typed is not None and (last is None or typed > last):
            last = typed
        merged[lab] = (last, connected or value.get("connected_until", 0) > now)
    return {
        lab: Activity(
            last_input=dt.datetime.fromtimestamp(last, tz=dt.UTC) if last is not None else None,
            connected=connected,
        )
        for lab, (last, connected) in merged.items()
    }
