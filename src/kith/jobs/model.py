"""Schedules and periods, the pure part of scheduled jobs (seed 004 §10). No I/O.

A schedule cuts time into contiguous *periods*; a job runs at most once per (org, job, period),
so its period ``key`` is the idempotency key stored in ``job_runs``. Invariants (property-tested):

- ``period(at).start <= at < period(at).end``;
- periods are contiguous: ``period(p.end).start == p.end``, and keys differ between neighbours;
- the key is a pure function of the period (the same instant always gives the same key).

Kinds:
- ``Every(minutes)``: slots of ``minutes`` aligned on UTC midnight; key ``2026-12-03T13:30Z``.
- ``Daily(at)``: from ``at`` (local time in the org's timezone, or UTC) on day D to ``at`` on D+1;
  key ``2026-12-03`` (the local date D). Local wall-clock times that do not exist or repeat on a
  DST change are resolved by ``zoneinfo``'s fold=0 rule; periods stay contiguous.
- ``Weekly(weekday, at)``: from ``at`` on that weekday to the next one; key ``2026-W49`` (the ISO
  week of the period's first day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime  # timezone-aware UTC
    end: datetime  # the next period's start
    day: date | None = None  # the local date of a daily/weekly period's start


class Schedule(Protocol):
    @property
    def label(self) -> str: ...

    def period(self, at: datetime, tz: tzinfo) -> Period:
        """The period holding the instant ``at`` (aware); ``tz`` is the org's (or owner's) zone."""
        ...


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("schedules need timezone-aware datetimes")
    return at.astimezone(UTC)


def zone(name: str | None, fallback: str | None = None) -> tzinfo:
    """The zone called ``name``, else ``fallback``, else UTC (an unknown name falls through)."""
    for candidate in (name, fallback):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


@dataclass(frozen=True)
class Every:
    minutes: int

    def __post_init__(self) -> None:
        if not 1 <= self.minutes <= 1440 or 1440 % self.minutes:
            raise ValueError("minutes must divide a day (1..1440)")

    @property
    def label(self) -> str:
        return f"every {self.minutes} minutes"

    def period(self, at: datetime, tz: tzinfo) -> Period:
        step = timedelta(minutes=self.minutes)
        start = _EPOCH + ((_aware(at) - _EPOCH) // step) * step
        return Period(start.strftime("%Y-%m-%dT%H:%MZ"), start, start + step)


def _local_start(day: date, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Daily:
    at: time = time(0, 0)
    utc: bool = False  # True: in UTC whatever the org's timezone

    @property
    def label(self) -> str:
        where = "UTC" if self.utc else "org local time"
        return f"daily at {self.at:%H:%M} {where}"

    def period(self, at: datetime, tz: tzinfo) -> Period:
        tz = UTC if self.utc else tz
        instant = _aware(at)
        day = instant.astimezone(tz).date()
        # The local date's start may lie after the instant (before `at`) or, across a DST change,
        # the day after's start may already have passed: step until start <= instant < end.
        while _local_start(day, self.at, tz) > instant:
            day -= timedelta(days=1)
        while _local_start(day + timedelta(days=1), self.at, tz) <= instant:
            day += timedelta(days=1)
        start, end = _local_start(day, self.at, tz), _local_start(day + timedelta(days=1), self.at, tz)
        return Period(day.isoformat(), start, end, day)


@dataclass(frozen=True)
class Weekly:
    weekday: int = 0  # Monday
    at: time = time(0, 0)

    @property
    def label(self) -> str:
        return f"weekly on {WEEKDAYS[self.weekday].title()} at {self.at:%H:%M} org local time"

    def period(self, at: datetime, tz: tzinfo) -> Period:
        instant = _aware(at)
        local = instant.astimezone(tz).date()
        day = local - timedelta(days=(local.weekday() - self.weekday) % 7)
        week = timedelta(days=7)
        while _local_start(day, self.at, tz) > instant:
            day -= week
        while _local_start(day + week, self.at, tz) <= instant:
            day += week
        year, number, _ = day.isocalendar()
        return Period(f"{year}-W{number:02d}", _local_start(day, self.at, tz), _local_start(day + week, self.at, tz),
                      day)


# "Nightly" is a daily run shortly after UTC midnight: the analytics snapshot covers UTC days.
NIGHTLY = Daily(time(0, 30), utc=True)
