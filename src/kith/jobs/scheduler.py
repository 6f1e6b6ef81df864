"""The worker's job step: every ``check_seconds`` (monotonic time, so a frozen test clock cannot
stall it), run each org's due jobs. Cheap when nothing is due: one read of the orgs and one
indexed read of ``job_runs`` per org. A failing job is logged and retried at the next check; it
never stops the worker or the other jobs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import sqlalchemy as sa

from kith.core import clock
from kith.core.uow import UnitOfWork
from kith.jobs import service
from kith.orgs.tables import orgs

log = logging.getLogger("kith.jobs")

DEFAULT_CHECK_SECONDS = 30.0  # a 15-minute reminder tick is then at most 30 s late


class Scheduler:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], check_seconds: float = DEFAULT_CHECK_SECONDS) -> None:
        self.uow_factory = uow_factory
        self.check_seconds = check_seconds
        self._next_check = 0.0

    async def step(self) -> int:
        """Run what is due, unless checked less than ``check_seconds`` ago; the number of runs."""
        if self.check_seconds <= 0 or time.monotonic() < self._next_check:
            return 0
        self._next_check = time.monotonic() + self.check_seconds
        return await self.run_due()

    async def run_due(self) -> int:
        now = clock.now()
        async with self.uow_factory().transaction() as uow:
            found = [(r.id, (r.settings or {}).get("timezone"))
                     for r in await uow.execute(sa.select(orgs.c.id, orgs.c.settings).order_by(orgs.c.id))]
        ran = 0
        for org_id, tz in found:
            for name in await service.due_jobs(self.uow_factory(), org_id, tz, now):
                try:
                    outcome = await service.run_job(self.uow_factory(), org_id, name, at=now)
                except Exception:
                    log.exception("job %s failed for org %s; it is tried again at the next check", name, org_id)
                    continue
                if outcome["ran"]:
                    ran += 1
                    log.info("job %s ran for %s (%s): %s", name, org_id, outcome["period_key"], outcome["result"])
                await asyncio.sleep(0)  # requests go first between jobs (on SQLite a job runs in the loop's thread)
        return ran
