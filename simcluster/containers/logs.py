"""A container's log (``kubectl logs``), from what its process prints by rule.

The log of the current run is the output of its `Outcome` up to now, in the process's own
(real) time: a server's start-up lines, what a command printed so far (``echo a; sleep 5;
echo b`` shows "b" five seconds after it started), a loop's rounds as they come, and for nginx
the access log of the requests it served. ``previous`` is the run before the last restart.
Each line carries the time it was written (``--timestamps``); ``--since`` and ``--tail`` select
by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simcluster.containers.node import Node
from simcluster.containers.programs import Outcome

__all__ = ["LogLine", "lines_of", "render"]

_MOST = 10_000  # lines kept of a chatty loop


@dataclass(frozen=True)
class LogLine:
    when: datetime
    text: str  # with its newline


def _split(chunks: list[tuple[datetime, str]]) -> list[LogLine]:
    lines, pending, since = [], "", None
    for when, text in chunks:
        if since is None:
            since = when
        pending += text
        while "\n" in pending:
            line, pending = pending.split("\n", 1)
            lines.append(LogLine(since, line + "\n"))
            since = when
    if pending:
        lines.append(LogLine(since or datetime.now(UTC), pending))
    return lines


def lines_of(
    outcome: Outcome,
    started: datetime,
    until: datetime,
    node: Node,
    pod_uid: str,
    container: str,
) -> list[LogLine]:
    """The lines a run started at ``started`` has written by ``until``."""
    chunks = [(started + timedelta(seconds=c.at), c.text) for c in outcome.chunks]
    chunks = [(when, text) for when, text in chunks if when <= until]
    loop = outcome.repeat
    if loop is not None:
        first = started + timedelta(seconds=loop.start)
        period = loop.period or 0.001
        if first <= until:
            rounds = int((until - first).total_seconds() // period) + 1
            rounds = min(rounds, _MOST)
            for index in range(rounds):
                begin = first + timedelta(seconds=index * period)
                for chunk in loop.round:
                    when = begin + timedelta(seconds=chunk.at)
                    if when <= until:
                        chunks.append((when, chunk.text))
    served = [(a.when, a.text + "\n") for a in node.access_log(pod_uid, container)
              if started <= a.when <= until]  # fmt: skip
    lines = _split(sorted(chunks, key=lambda c: c[0])) + [LogLine(w, t) for w, t in served]
    lines.sort(key=lambda line: line.when)
    return lines[-_MOST:]


def render(
    lines: list[LogLine],
    *,
    timestamps: bool = False,
    tail: int | None = None,
    since: datetime | None = None,
    limit_bytes: int | None = None,
) -> str:
    if since is not None:
        lines = [line for line in lines if line.when >= since]
    if tail is not None:
        lines = lines[-tail:] if tail else []
    text = "".join(
        (line.when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z " if timestamps else "") + line.text
        for line in lines
    )
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text
