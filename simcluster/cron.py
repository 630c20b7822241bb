"""CronJob schedules: the five fields of cron (minute, hour, day of month, month, day of week)
with ``*``, ``*/n``, ranges, steps, lists and names (``jan``, ``mon``), and the macros
``@yearly``, ``@monthly``, ``@weekly``, ``@daily``, ``@hourly`` (pure functions).

As in cron, when both the day of the month and the day of the week are restricted, a day
matching either one is a scheduled day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Schedule", "ScheduleError", "parse_schedule"]

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}  # fmt: skip
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {month: number for number, month in enumerate(_MONTH_NAMES, 1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class ScheduleError(ValueError):
    """A schedule cron cannot read."""


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it is restricted (not ``*``)."""
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step_text and (not step_text.isdigit() or step < 1):
            raise ScheduleError(f"invalid step {step_text!r}")
        if base in ("*", "?"):
            first, last = low, high
        else:
            first_text, _, last_text = base.partition("-")
            first = _number(first_text, names)
            last = _number(last_text, names) if last_text else (high if step_text else first)
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise ScheduleError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values), text not in ("*", "?")


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    def _day(self, when: datetime) -> bool:
        weekday = (when.weekday() + 1) % 7  # Sunday is 0
        in_month = when.day in self.days
        in_week = weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week

    def matches(self, when: datetime) -> bool:
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and self._day(when)
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled minute after ``moment`` (in ``moment``'s time zone)."""
        when = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(200_000):
            if when.month not in self.months:
                year, month = (
                    (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
                )
                when = when.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day(when):
                when = (when + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if when.hour not in self.hours:
                when = (when + timedelta(hours=1)).replace(minute=0)
                continue
            if when.minute not in self.minutes:
                when += timedelta(minutes=1)
                continue
            return when
        raise ScheduleError("the schedule never runs")

    def last_between(self, after: datetime, until: datetime) -> tuple[datetime | None, int]:
        """The latest scheduled minute in (after, until], and how many there were."""
        found, count = None, 0
        when = after
        while True:
            when = self.next_after(when)
            if when > until:
                return found, count
            found, count = when, count + 1
            if count > 100:
                return found, count


def parse_schedule(text: str) -> Schedule:
    """Raises `ScheduleError` with the reason."""
    text = _MACROS.get(text.strip(), text.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {text}")
    names = ({}, {}, {}, _MONTHS, _DAYS)
    parsed = [_field(f, low, high, n) for f, (low, high), n in zip(fields, _BOUNDS, names,
                                                                   strict=True)]  # fmt: skip
    weekdays = frozenset(d % 7 for d in parsed[4][0])  # 7 is Sunday too
    return Schedule(parsed[0][0], parsed[1][0], parsed[2][0], parsed[3][0], weekdays,
                    parsed[2][1], parsed[4][1])  # fmt: skip
