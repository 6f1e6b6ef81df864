"""An idle worker tick (nothing due) reads, and never waits for or takes SQLite's write lock."""

from __future__ import annotations

import asyncio
import sqlite3

from kith.config import Settings
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.webhooks.delivery import Config, Deliverer


async def test_an_idle_claim_does_not_wait_for_the_write_lock(db: Database, db_url: str) -> None:
    deliverer = Deliverer(lambda: UnitOfWork(db), Config.from_settings(Settings(database_url=db_url)))
    try:
        if db.backend != "sqlite":
            assert await deliverer.claim() == []
            return
        assert await deliverer.claim() == []  # the worker's connection is open (pragmas applied)
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            assert await asyncio.wait_for(deliverer.claim(), timeout=2) == []
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    finally:
        await deliverer.aclose()
