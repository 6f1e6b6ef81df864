"""`kith worker` on its own announces what it commits, like the worker inside `kith serve`.

On PostgreSQL every write transaction with events sends ``NOTIFY kith_events, '<org id>'`` before
it commits (kith.realtime.broker.announce), so realtime subscribers on every API process wake at
once instead of on their 1 s fallback poll. A standalone worker process never imported the module
that registers that commit hook, so its events (imports, automation runs, jobs) went unannounced.
This test LISTENs on the channel directly while a standalone `kith worker --once` runs an import.
NOTIFY exists only on PostgreSQL (SQLite subscribers poll), hence the one backend.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from kith.contacts.tables import contacts
from kith.core.db import Database
from tests.api.test_imports import csv_bytes, upload
from tests.conftest import Org
from tests.integration.test_worker import worker_env

NOTIFY_CHANNEL = "kith_events"  # kith.realtime.broker.NOTIFY_CHANNEL, spelled out: the wire contract


def _listen_while(db_url: str, run: list[str], env: dict[str, str], log: Path) -> tuple[int, list[str]]:
    """LISTEN on the channel, run the command to its end, then collect what was announced meanwhile."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with log.open("wb") as out:
            code = subprocess.run(run, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=120).returncode
        return code, [n.payload for n in conn.notifies(timeout=2.0) if n.channel == NOTIFY_CHANNEL]


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_standalone_worker_notifies_realtime_of_the_events_it_commits(
        client: httpx.AsyncClient, db: Database, db_url: str, org: Org, tmp_path: Path) -> None:
    r = await upload(client, org.admin.h, csv_bytes([["name", "email"], ["Ada", "ada@example.com"],
                                                     ["Bob", "bob@example.com"]]))
    assert r.status_code == 202 and r.json()["status"] == "queued", r.text
    cmd = [sys.executable, "-m", "kith.entrypoints.cli", "worker", "--db", db_url, "--once"]
    log = tmp_path / "worker.log"
    code, payloads = await asyncio.get_running_loop().run_in_executor(
        None, _listen_while, db_url, cmd, worker_env(db_url), log)
    assert code == 0, log.read_text()
    async with db.engine.connect() as conn:  # the worker did run the import (its events are what it announced)
        made = (await conn.execute(sa.select(sa.func.count()).select_from(contacts)
                                   .where(contacts.c.org_id == org.id))).scalar_one()
    assert made == 2, log.read_text()
    assert org.id in payloads, (payloads, log.read_text())
