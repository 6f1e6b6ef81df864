"""Migration 0021 backfills ``deal_stage_moves`` from the event log with exactly the rows the live
commit hook writes (kith.analytics.moves), on both backends: one per deal.stage-moved and
deal.created event of a deal that still exists, and a ``dsm_`` creation row for a deal that has no
deal.created event (an import too large for events), starting in the stage its first move left."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from kith.analytics.tables import deal_stage_moves
from kith.core.db import Database
from kith.core.events import events
from kith.core.migrate import alembic_config
from kith.imports import model as import_model
from tests.api.deal_support import deal, ok, pipeline, stage_named, verb
from tests.api.test_imports import csv_bytes, run
from tests.conftest import Org


async def all_moves(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        q = sa.select(deal_stage_moves).order_by(deal_stage_moves.c.id)
        return [dict(r._mapping) for r in await conn.execute(q)]


async def test_the_backfill_writes_the_rows_the_commit_hook_wrote(
        client: httpx.AsyncClient, db: Database, db_url: str, org: Org, other_org: Org,
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = await pipeline(client, org)
    s = {x["name"]: x["id"] for x in p["stages"]}
    won = await deal(client, org.rep, expected_close_date="2026-12-31")
    await ok(await verb(client, org.rep, won["id"], "move-stage", {"stage_id": s["qualification"]}))
    await ok(await verb(client, org.admin, won["id"], "won", {}))
    await deal(client, other_org.rep)
    erased = await deal(client, org.rep)
    await ok(await verb(client, org.rep, erased["id"], "move-stage", {"stage_id": s["proposal"]}))
    await ok(await client.delete(f"{'/api/v1'}/deals/{erased['id']}", params={"permanent": "true"},
                                 headers=org.admin.h), 204)
    monkeypatch.setattr(import_model, "RECORD_EVENTS_MAX_ROWS", 0)
    body = await run(client, db, org.admin.h, csv_bytes([["Deal Name", "Stage"], ["Imported", "Proposal"]]),
                     object="deals")
    assert body["counts"]["created"] == 1
    # a deal that lost its deal.created event, then moved: it started where its first move left
    lone = await deal(client, org.rep, stage_id=s["qualification"])
    async with db.engine.begin() as conn:
        await conn.execute(events.delete().where(events.c.subject_id == lone["id"], events.c.type == "deal.created"))
        await conn.execute(deal_stage_moves.delete().where(deal_stage_moves.c.deal_id == lone["id"]))
    await ok(await verb(client, org.rep, lone["id"], "move-stage", {"stage_id": s["negotiation"]}))

    written = await all_moves(db)
    assert len(written) == 6  # won: 3, other org: 1, imported: 1, lone: its move only
    await db.dispose()
    cfg = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, cfg, "0020")
    await asyncio.to_thread(command.upgrade, cfg, "head")

    backfilled = await all_moves(db)
    lone_start = {**next(r for r in written if r["deal_id"] == lone["id"]), "id": f"dsm_{lone['id']}",
                  "from_stage_id": None, "to_stage_id": s["qualification"]}
    lone_start["moved_at"] = lone_start["deal_created_at"]
    assert backfilled == sorted([*written, lone_start], key=lambda r: r["id"])
    assert not any(r["deal_id"] == erased["id"] for r in backfilled)
    assert stage_named(p, "closed won")["id"] in {r["to_stage_id"] for r in backfilled}
