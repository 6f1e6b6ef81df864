"""The worker for real: `kith worker` processes killed with SIGKILL mid-batch lose nothing, two
workers on one PostgreSQL deliver each event once, an event that commits late (with an id below
ones already relayed) is still delivered, and `kith serve`'s in-process worker runs only when asked."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.config import Settings
from kith.core import clock
from kith.core.db import Database
from kith.entrypoints.app import create_app
from kith.webhooks.tables import webhook_deliveries
from kith.worker.runner import Worker
from tests.conftest import Org
from tests.receiver import Receiver, serve

V1 = "/api/v1"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, max_body_bytes=64 * 1024, webhooks_allow_private=True,
                    webhook_timeout_seconds=2.0)


def worker_env(db_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "KITH_DATABASE_URL": db_url, "KITH_WEBHOOKS_ALLOW_PRIVATE": "true",
            # Short lease (timeout + 5 s) and quick retries: a request slowed by this busy machine is
            # retried within the test's patience; what is tested is that nothing is lost.
            "KITH_WORKER_LEASE": "2", "KITH_WEBHOOK_TIMEOUT": "3", "KITH_WEBHOOK_BACKOFF": ",".join(["1"] * 20),
            "KITH_WEBHOOK_DISABLE_AFTER": "100000", **extra}


class Workers:
    """`kith worker` subprocesses, logs in tmp_path, all killed at the end."""

    def __init__(self, db_url: str, logs: Path) -> None:
        self.db_url, self.logs, self.procs = db_url, logs, []  # type: ignore[var-annotated]

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker{len(self.procs)}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([sys.executable, "-m", "kith.entrypoints.cli", "worker", "--db", self.db_url, *args],
                                env=worker_env(self.db_url, **env), stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((proc, log))
        return proc

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.logs.glob("worker*.log")))

    def close(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            log.close()


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(db_url, tmp_path)
    try:
        yield w
    finally:
        w.close()


async def hook(client: httpx.AsyncClient, org: Org, url: str, events: list[str] | None = None) -> dict[str, Any]:
    r = await client.post(f"{V1}/webhooks", json={"url": url, "events": events or ["contact.created"]},
                          headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def contacts(client: httpx.AsyncClient, org: Org, n: int, prefix: str = "c") -> list[str]:
    """Create ``n`` contacts; the ids of their ``contact.created`` events."""
    names = [f"{prefix}{i}" for i in range(n)]
    for name in names:
        r = await client.post(f"{V1}/contacts", json={"name": name}, headers=org.admin.h)
        assert r.status_code == 201, r.text
    return names


async def wait_until(check: Any, timeout: float, what: str) -> None:
    """Poll without blocking the event loop (an in-process worker may need it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def names_received(rx: Receiver) -> list[str]:
    with rx.lock:
        return [r.json["data"]["after"]["name"] for r in rx.received]


async def delivery_statuses(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(webhook_deliveries.c.status, sa.func.count())
                                  .group_by(webhook_deliveries.c.status))
        return {r[0]: r[1] for r in rows}


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_loses_nothing(client: httpx.AsyncClient, org: Org, db: Database,
                                                       workers: Workers) -> None:
    with serve(delay=0.5) as rx:  # slow answers: the kill lands while requests are in flight
        await hook(client, org, rx.url)
        first = await contacts(client, org, 40, "a")
        proc = workers.start()
        await wait_until(lambda: len(rx.received) >= 1, 60, f"a first delivery: {workers.output()}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        more = await contacts(client, org, 10, "b")  # written while no worker runs
        workers.start()
        expected = set(first + more)
        try:
            await wait_until(lambda: expected <= set(names_received(rx)), 90, "every event after the restart")
        except AssertionError:
            missing = expected - set(names_received(rx))
            raise AssertionError(f"missing {sorted(missing)}; deliveries {await delivery_statuses(db)}; "
                                 f"{len(rx.received)} received; logs: {workers.output()}") from None
        deadline = time.monotonic() + 30
        while (await delivery_statuses(db)) != {"succeeded": 50} and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    assert await delivery_statuses(db) == {"succeeded": 50}
    assert set(names_received(rx)) == expected  # at least once each, nothing else


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_workers_on_postgresql_deliver_each_event_once(client: httpx.AsyncClient, org: Org,
                                                                 db: Database, workers: Workers) -> None:
    with serve(delay=0.01) as rx:
        await hook(client, org, rx.url)
        # A generous timeout: the receiver shares this test process's CPU (and GIL) with the API.
        workers.start(KITH_WEBHOOK_TIMEOUT="10")
        workers.start(KITH_WEBHOOK_TIMEOUT="10")
        await asyncio.sleep(1.0)  # both up and polling
        names = await contacts(client, org, 120)
        try:
            await wait_until(lambda: len(set(names_received(rx))) >= 120, 90, "120 deliveries")
        except AssertionError:
            raise AssertionError(f"deliveries {await delivery_statuses(db)}; {len(rx.received)} received; "
                                 f"logs: {workers.output()}") from None
        await asyncio.sleep(1.0)  # time for a duplicate to show up, if there were one
        got = names_received(rx)
    assert sorted(got) == sorted(names), "an event was delivered twice or not at all"
    assert (await delivery_statuses(db)).get("succeeded", 0) >= 119


async def test_an_event_committed_late_with_a_smaller_id_is_still_delivered(
        client: httpx.AsyncClient, org: Org, db: Database, settings: Settings) -> None:
    """Ids are taken before commit: a slow transaction can commit an event whose id sorts before
    events the relay has already passed. The relay's sweep finds it."""
    worker = Worker(db, settings)
    t0 = clock.now()
    try:
        with serve() as rx:
            with clock.frozen(t0 - timedelta(seconds=10)):
                await hook(client, org, rx.url)
            with clock.frozen(t0):
                await contacts(client, org, 1, "early-id-later-")  # relayed first
                await worker.run_once()
            assert names_received(rx) == ["early-id-later-0"]
            with clock.frozen(t0 - timedelta(seconds=5)):  # an id below the one already relayed
                await contacts(client, org, 1, "late-")
            with clock.frozen(t0 + timedelta(seconds=1)):
                await worker.run_once()
            with clock.frozen(t0 + timedelta(seconds=7)):  # the next sweep
                await worker.run_once()
            assert sorted(names_received(rx)) == ["early-id-later-0", "late-0"]
            with clock.frozen(t0 + timedelta(seconds=20)):
                assert await worker.run_once() == 0  # and only once
    finally:
        await worker.aclose()


async def test_the_in_process_worker_runs_only_when_enabled(db: Database, settings: Settings, org: Org) -> None:
    with serve() as rx:
        for enabled in (False, True):
            app = create_app(replace(settings, embedded_worker=enabled, worker_poll_seconds=0.05), db=db)
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
                running = [t for t in asyncio.all_tasks() if t.get_name() == "kith-worker"]
                assert bool(running) is enabled
                if enabled:
                    await hook(c, org, rx.url)
                    await contacts(c, org, 1, "embedded-")
                    await wait_until(lambda: names_received(rx) == ["embedded-0"], 30, "the in-process worker")
            assert not [t for t in asyncio.all_tasks() if t.get_name() == "kith-worker"]


@pytest.mark.slow
async def test_kith_worker_once_delivers_what_is_due_and_exits(client: httpx.AsyncClient, org: Org,
                                                               workers: Workers) -> None:
    with serve() as rx:
        await hook(client, org, rx.url)
        await contacts(client, org, 3)
        proc = workers.start("--once")
        code = await asyncio.get_running_loop().run_in_executor(None, lambda: proc.wait(timeout=60))
        assert code == 0, workers.output()
        assert sorted(names_received(rx)) == ["c0", "c1", "c2"]
