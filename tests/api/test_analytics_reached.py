"""The all-time stage funnel reads ``deals.stages_reached`` (kith.analytics.moves keeps it; migration
0023 backfilled the ``deal_stages_reached`` table, 0024 moved it onto the deal): after every path
that moves a deal — move-stage, won / lost / reopen, a stage deleted with a target, lead conversion,
imports with and without events, erasing and trashing — each deal's value is the set of stages of
its move rows in ``deal_stage_moves``, and the funnel it gives equals the one worked out from every
move row (``repo.funnel_from_moves``), before and after the stages are reordered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from kith.analytics import repo
from kith.analytics.repo import Scope
from kith.analytics.tables import deal_stage_moves
from kith.core.db import Database
from kith.core.migrate import alembic_config
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.imports import model as import_model
from tests.api.deal_support import V1, deal, ok, pipeline, stage_named, verb
from tests.api.test_imports import csv_bytes, run
from tests.conftest import Org

m, d = deal_stage_moves.c, deals.c
# 0023's table, as a downgrade to 0023 leaves it
_old_reached = sa.table("deal_stages_reached", sa.column("deal_id"), sa.column("stage_ids"))


async def reached(db: Database) -> dict[str, set[str]]:
    """deal id → its ``stages_reached``, for the deals (live or trashed) that have one."""
    async with db.engine.connect() as conn:
        q = sa.select(d.id, d.stages_reached).where(d.stages_reached.is_not(None))
        return {x.id: set(x.stages_reached.split()) for x in await conn.execute(q)}


async def reached_in_0023(db: Database) -> dict[str, set[str]]:
    """deal id → its stages in 0023's ``deal_stages_reached`` table."""
    async with db.engine.connect() as conn:
        return {x.deal_id: set(x.stage_ids.split()) for x in await conn.execute(sa.select(_old_reached))}


async def consistent(db: Database) -> dict[str, set[str]]:
    """Each deal's ``stages_reached`` holds exactly the stages its move rows left or entered; a deal
    without a move has none (NULL). Returns them."""
    want: dict[str, set[str]] = {}
    async with db.engine.connect() as conn:
        for x in await conn.execute(sa.select(m.deal_id, m.from_stage_id, m.to_stage_id)
                                    .where(m.from_stage_id.is_not(None))):
            want.setdefault(x.deal_id, set()).update((x.from_stage_id, x.to_stage_id))
    got = await reached(db)
    assert got == want
    return got


async def funnels(db: Database, org: Org, **scope: Any) -> list[dict[str, Any]]:
    """The all-time funnel of the default pipeline, asserted equal to the one from every move row."""
    uow = UnitOfWork(db)
    async with uow.transaction():
        pid = await repo.pipeline_id(uow, org.id, None)
        assert pid is not None
        positions = {s["id"]: s["position"] for s in await repo.stages_of(uow, org.id, pid) if s["outcome"] is None}
        s = Scope(org.id, pipeline_id=pid, **scope)
        fast = await repo.funnel(uow, s, positions)
        slow = await repo.funnel_from_moves(uow, s, positions)
    assert fast == [f for f in slow if not f["won"]]  # won deals count apart (won_in_cohort)
    return fast


async def reached_counts(client: httpx.AsyncClient, org: Org) -> list[tuple[str, int]]:
    out = await ok(await client.get(f"{V1}/analytics/conversion-rates", headers=org.admin.h))
    return [(s["name"], s["reached"]) for s in out["stages"]]


def order(p: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    """The stage list of ``p`` as a PATCH body sends it, in the order of ``names``."""
    return [{"id": (s := stage_named(p, n))["id"], "name": s["name"], "outcome": s["outcome"]} for n in names]


async def test_moves_won_lost_and_reopen_add_their_stages(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    s = {x["name"]: x["id"] for x in p["stages"]}
    a = await deal(client, org.rep, expected_close_date="2026-12-31")
    await ok(await verb(client, org.rep, a["id"], "move-stage", {"stage_id": s["proposal"]}))
    await ok(await verb(client, org.admin, a["id"], "won", {}))
    await ok(await verb(client, org.admin, a["id"], "reopen", {"stage_id": s["qualification"]}))
    b = await deal(client, org.rep)
    await ok(await verb(client, org.admin, b["id"], "lost", {"reason": "price"}))
    c = await deal(client, org.rep)  # never moved: NULL, counted at its current stage
    rows = await consistent(db)
    assert rows[a["id"]] == {s["appointment"], s["proposal"], s["closed won"], s["qualification"]}
    assert rows[b["id"]] == {s["appointment"], s["closed lost"]}
    assert c["id"] not in rows
    # a: proposal (position 2) though back in qualification; b and c: appointment
    assert await funnels(db, org) == [{"furthest": 0, "won": False, "count": 2},
                                      {"furthest": 2, "won": False, "count": 1}]
    assert await reached_counts(client, org) == [("appointment", 3), ("qualification", 1), ("proposal", 1),
                                                 ("negotiation", 0)]
    assert await funnels(db, org, owner_id=org.other_rep.user_id) == []


async def test_reordering_the_stages_changes_the_funnel_not_the_rows(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    p = await pipeline(client, org)
    s = {x["name"]: x["id"] for x in p["stages"]}
    a = await deal(client, org.rep)
    await ok(await verb(client, org.rep, a["id"], "move-stage", {"stage_id": s["proposal"]}))
    await ok(await verb(client, org.rep, a["id"], "move-stage", {"stage_id": s["qualification"]}))
    assert await reached_counts(client, org) == [("appointment", 1), ("qualification", 1), ("proposal", 1),
                                                 ("negotiation", 0)]
    before = await consistent(db)
    body = {"stages": order(p, "proposal", "negotiation", "appointment", "qualification", "closed won",
                            "closed lost")}
    await ok(await client.patch(f"{V1}/pipelines/{p['id']}/stages", json=body, headers=org.admin.h))
    assert await consistent(db) == before
    # now qualification comes last: a reached every open stage up to it
    assert await funnels(db, org) == [{"furthest": 3, "won": False, "count": 1}]
    assert await reached_counts(client, org) == [("proposal", 1), ("negotiation", 1), ("appointment", 1),
                                                 ("qualification", 1)]


async def test_a_stage_deleted_with_a_target_adds_the_target(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    p = await pipeline(client, org)
    s = {x["name"]: x["id"] for x in p["stages"]}
    held = await deal(client, org.rep)
    await ok(await verb(client, org.rep, held["id"], "move-stage", {"stage_id": s["proposal"]}))
    fresh = await deal(client, org.rep)  # moved only by the deletion
    body = {"stages": order(p, "appointment", "qualification", "negotiation", "closed won", "closed lost"),
            "move_deals_to": {s["proposal"]: s["negotiation"]}}
    await ok(await client.patch(f"{V1}/pipelines/{p['id']}/stages", json=body, headers=org.admin.h))
    body = {"stages": order(p, "qualification", "negotiation", "closed won", "closed lost"),
            "move_deals_to": {s["appointment"]: s["qualification"]}}
    await ok(await client.patch(f"{V1}/pipelines/{p['id']}/stages", json=body, headers=org.admin.h))
    rows = await consistent(db)
    assert rows[held["id"]] == {s["appointment"], s["proposal"], s["negotiation"]}  # deleted ids stay
    assert rows[fresh["id"]] == {s["appointment"], s["qualification"]}
    assert await reached_counts(client, org) == [("qualification", 2), ("negotiation", 1)]
    await funnels(db, org)


async def test_lead_conversion_and_imports_start_without_stages(client: httpx.AsyncClient, db: Database, org: Org,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api._lead_helpers import new_lead, set_status

    lead = await new_lead(client, org.rep, score=60)
    await set_status(db, lead["id"], "qualified")
    converted = (await ok(await client.post(f"{V1}/leads/{lead['id']}/convert", json={}, headers=org.rep.h)))["deal"]
    await run(client, db, org.admin.h, csv_bytes([["Deal Name", "Stage"], ["Small", "Negotiation"]]), object="deals")
    monkeypatch.setattr(import_model, "RECORD_EVENTS_MAX_ROWS", 0)  # record_created, no events
    await run(client, db, org.admin.h, csv_bytes([["Deal Name", "Stage"], ["Large", "Proposal"]]), object="deals")
    assert await consistent(db) == {}
    assert await reached_counts(client, org) == [("appointment", 3), ("qualification", 2), ("proposal", 2),
                                                 ("negotiation", 1)]
    p = await pipeline(client, org)
    await ok(await verb(client, org.rep, converted["id"], "move-stage",
                        {"stage_id": stage_named(p, "qualification")["id"]}))
    assert set(await consistent(db)) == {converted["id"]}
    await funnels(db, org)


async def test_trash_keeps_the_stages_and_erasing_drops_them(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    made = await deal(client, org.rep)
    await ok(await verb(client, org.rep, made["id"], "move-stage", {"stage_id": stage_named(p, "negotiation")["id"]}))
    await ok(await client.delete(f"{V1}/deals/{made['id']}", headers=org.admin.h), 204)
    assert made["id"] in await consistent(db)
    assert await funnels(db, org) == []  # the trash does not count
    await ok(await client.delete(f"{V1}/deals/{made['id']}", params={"permanent": "true"}, headers=org.admin.h), 204)
    assert await consistent(db) == {}


async def test_the_migration_backfills_what_the_hook_wrote(client: httpx.AsyncClient, db: Database, db_url: str,
                                                           org: Org, other_org: Org) -> None:
    p = await pipeline(client, org)
    s = {x["name"]: x["id"] for x in p["stages"]}
    a = await deal(client, org.rep, expected_close_date="2026-12-31")
    for stage in ("qualification", "proposal", "qualification"):
        await ok(await verb(client, org.rep, a["id"], "move-stage", {"stage_id": s[stage]}))
    await ok(await verb(client, org.admin, a["id"], "won", {}))
    b = await deal(client, org.rep)
    await ok(await verb(client, org.rep, b["id"], "move-stage", {"stage_id": s["negotiation"]}))
    c = await deal(client, org.rep)  # moved by the deletion
    body = {"stages": order(p, "qualification", "proposal", "negotiation", "closed won", "closed lost"),
            "move_deals_to": {s["appointment"]: s["proposal"]}}
    await ok(await client.patch(f"{V1}/pipelines/{p['id']}/stages", json=body, headers=org.admin.h))
    theirs = await deal(client, other_org.rep)
    await ok(await verb(client, other_org.rep, theirs["id"], "move-stage",
                        {"stage_id": stage_named(await pipeline(client, other_org), "proposal")["id"]}))
    erased = await deal(client, org.rep)
    await ok(await verb(client, org.rep, erased["id"], "move-stage", {"stage_id": s["negotiation"]}))
    await ok(await client.delete(f"{V1}/deals/{erased['id']}", params={"permanent": "true"}, headers=org.admin.h),
             204)
    written = await consistent(db)
    assert set(written) == {a["id"], b["id"], c["id"], theirs["id"]} and len(written[a["id"]]) == 4
    funnel = await funnels(db, org)

    await db.dispose()
    cfg = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, cfg, "0023")  # 0024's downgrade refills the table
    assert await reached_in_0023(db) == written
    await db.dispose()
    await asyncio.to_thread(command.downgrade, cfg, "0022")
    await asyncio.to_thread(command.upgrade, cfg, "0023")  # 0023 backfills the table from the moves
    assert await reached_in_0023(db) == written
    await db.dispose()
    await asyncio.to_thread(command.upgrade, cfg, "head")  # 0024 moves it onto the deals
    assert await consistent(db) == written
    assert await funnels(db, org) == funnel


async def test_the_column_stays_out_of_deal_events_exports_and_answers(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    """``deals.stages_reached`` is analytics' bookkeeping: no event, webhook payload, export or API
    answer carries it, before or after the deal has moved."""
    from tests.api.deal_support import events_of

    p = await pipeline(client, org)
    d = await deal(client, org.rep)
    moved = await ok(await verb(client, org.rep, d["id"], "move-stage",
                                {"stage_id": stage_named(p, "proposal")["id"]}))
    assert (await reached(db))[d["id"]]  # the column is kept…
    for kind in ("deal.created", "deal.stage-moved"):
        for e in await events_of(db, kind, d["id"]):
            assert "stages_reached" not in str(e["data"]), (kind, e["data"])  # …and never shown
    assert "stages_reached" not in moved
    got = await ok(await client.get(f"{V1}/deals/{d['id']}", headers=org.rep.h))
    assert "stages_reached" not in got
    export = await client.get(f"{V1}/exports", params={"object": "deals", "format": "csv"}, headers=org.admin.h)
    assert export.status_code == 200 and "stages_reached" not in export.text.splitlines()[0]
