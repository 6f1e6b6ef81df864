"""What a scheduled job is: a name, a schedule and an async function of a ``JobContext``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from kith.core.uow import UnitOfWork
from kith.jobs.model import Period, Schedule


@dataclass(frozen=True)
class JobContext:
    """One run: ``uow`` is inside the write transaction that also holds the run's claim, so the
    job's writes and its ``job_runs`` row commit (or roll back) together."""

    uow: UnitOfWork
    org_id: str
    period: Period
    now: datetime  # the instant the run is for (``clock.now()``, or `kith jobs run --at`)
    tz: tzinfo  # the org's timezone (UTC when unset)
    force: bool = False


JobFn = Callable[[JobContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Job:
    name: str
    schedule: Schedule
    fn: JobFn
    description: str
    label: str | None = None  # how `kith jobs list` shows the schedule, when not the schedule's own label

    @property
    def schedule_label(self) -> str:
        return self.label or self.schedule.label
