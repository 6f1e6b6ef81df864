"""The worker loop: relay the outbox, deliver what is due, sleep when idle; repeat until stopped.

Invariants: every step is its own short transaction, so stopping or killing the worker at any
point loses nothing (the relay's cursor moves with its writes; a claimed delivery comes due again
when its lease ends). An unexpected error is logged and the loop goes on after a pause; it never
takes the API process down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from kith.automations.consumer import AutomationConsumer
from kith.automations.runs import Config as AutomationConfig
from kith.automations.runs import Executor as AutomationExecutor
from kith.config import Settings
from kith.core.db import Database
from kith.core.outbox import Relay
from kith.core.uow import UnitOfWork
from kith.imports.service import step as imports_step
from kith.jobs.scheduler import Scheduler
from kith.realtime import broker as _realtime  # noqa: F401  (registers the NOTIFY commit hook: see below)
from kith.webhooks.delivery import Config, Deliverer
from kith.webhooks.fanout import WebhookConsumer

log = logging.getLogger("kith.worker")

# Commit hooks register when their module is imported. ``kith serve`` imports every module through
# the app; a standalone ``kith worker`` imports only what it runs, so modules whose hooks must run on
# the worker's commits are imported above: kith.realtime.broker NOTIFYs realtime subscribers on
# every API process of the events committed here (else they learn of them on a 1 s fallback poll).

# Pause after an unexpected error (database down, …) before trying again.
ERROR_PAUSE_SECONDS = 1.0
# Bound on rounds in run_once(), so a receiver that keeps failing instantly cannot loop it forever.
MAX_ROUNDS = 10_000


class Worker:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.relay = Relay(lambda: UnitOfWork(db), [WebhookConsumer(), AutomationConsumer()],
                           window=timedelta(seconds=settings.outbox_window_seconds))
        self.deliverer = Deliverer(lambda: UnitOfWork(db), Config.from_settings(settings))
        self.automations = AutomationExecutor(db, AutomationConfig.from_settings(settings))
        self.jobs = Scheduler(lambda: UnitOfWork(db), settings.jobs_check_seconds)  # docs/jobs.md
        self._stop = asyncio.Event()

    async def tick(self) -> int:
        """One round: relay one batch per org, then send one batch of due deliveries, then do one batch
        of due automation runs."""
        return (await self.relay.step() + await self.deliverer.step() + await self.automations.step()
                + await imports_step(self.db) + await self.jobs.step())

    async def run_once(self) -> int:
        """Work until nothing is left to do *now* (retries scheduled later stay queued)."""
        done = 0
        for _ in range(MAX_ROUNDS):
            n = await self.tick()
            done += n
            if n == 0:
                break
        return done

    async def run(self) -> None:
        """Until ``stop()``: tick, and sleep ``worker_poll_seconds`` whenever a round found nothing."""
        log.info("worker started on %s", self.db.backend)
        try:
            while not self._stop.is_set():
                try:
                    busy = await self.tick()
                except Exception:
                    log.exception("worker round failed; retrying")
                    await self._sleep(ERROR_PAUSE_SECONDS)
                    continue
                if not busy:
                    await self._sleep(self.settings.worker_poll_seconds)
                else:
                    # a backlog keeps the worker busy round after round: give the loop a turn each
                    # round, else an embedded worker on SQLite (statements in the loop's thread) would
                    # hold every request until the backlog is gone
                    await asyncio.sleep(0)
        finally:
            await self.deliverer.aclose()
            await self.automations.aclose()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: wait_for can swallow a cancel on 3.11
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    async def aclose(self) -> None:
        await self.deliverer.aclose()
        await self.automations.aclose()


@contextlib.asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[Worker]:
    """Run a worker in the background of the current event loop for the duration of the block."""
    worker = Worker(db, settings)
    task = asyncio.create_task(worker.run(), name="kith-worker")
    try:
        yield worker
    finally:
        worker.stop()
        # asyncio.wait neither raises on time-out nor swallows a cancellation (wait_for may, on 3.11);
        # a worker still busy after 10 s is cancelled, and its error (if any) surfaces here.
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
