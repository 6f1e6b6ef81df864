"""Every path that sets a deal's stage writes its ``deal_stage_moves`` row in the same transaction
(kith.analytics.moves): create, move-stage, won / lost / reopen, a stage deleted with a target,
lead conversion, an automation's "create deal", imports with and without events; a refused verb
writes none; erasing a deal for good drops its rows. ``consistent`` checks the table against the
event log it mirrors after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.analytics.tables import deal_stage_moves
from kith.config import Settings
from kith.core.db import Database
from kith.core.events import events
from kith.deals.tables import deals
from kith.imports import model as import_model
from kith.worker.runner import Worker
from tests.api.deal_support import V1, contact, deal, ok, pipeline, stage_named, verb
from tests.api.test_imports import csv_bytes, run
from tests.conftest import Org, problem

m = deal_stage_moves.c


async def moves_of(db: Database, deal_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(deal_stage_moves).order_by(m.moved_at, m.id)
    if deal_id is not None:
        q = q.where(m.deal_id == deal_id)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q)]


async def consistent(db: Database) -> None:
    """One row per deal.created / deal.stage-moved event of a deal that exists, with the event's id,
    stages and time, and the deal's pipeline and creation time; no other row but ``dsm_`` ones."""
    e, d = events.c, deals.c
    q = (sa.select(e.id, e.type, e.org_id, e.subject_id, e.occurred_at, e.data, d.pipeline_id, d.created_at)
         .select_from(events.join(deals, sa.and_(d.org_id == e.org_id, d.id == e.subject_id)))
         .where(e.type.in_(("deal.created", "deal.stage-moved"))))
    async with db.engine.connect() as conn:
        evts = {r.id: r for r in await conn.execute(q)}
    rows = {r["id"]: r for r in await moves_of(db) if not r["id"].startswith("dsm_")}
    assert set(rows) == set(evts)
    for event_id, ev in evts.items():
        row = rows[event_id]
        src, dst = ((None, ev.data["after"]["stage_id"]) if ev.type == "deal.created"
                    else (ev.data["from_stage_id"], ev.data["to_stage_id"]))
        assert (row["org_id"], row["deal_id"], row["from_stage_id"], row["to_stage_id"], row["moved_at"],
                row["pipeline_id"], row["deal_created_at"]) == (
            ev.org_id, ev.subject_id, src, dst, ev.occurred_at, ev.pipeline_id, ev.created_at)


def path(rows: list[dict[str, Any]], p: dict[str, Any]) -> list[tuple[str | None, str]]:
    name = {s["id"]: s["name"] for s in p["stages"]}
    return [(name.get(r["from_stage_id"] or ""), name[r["to_stage_id"]]) for r in rows]


async def test_creating_a_deal_writes_the_stage_it_starts_in(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    p = await pipeline(client, org)
    made = await deal(client, org.rep, stage_id=stage_named(p, "qualification")["id"])
    [row] = await moves_of(db, made["id"])
    assert path([row], p) == [(None, "qualification")]
    assert (row["org_id"], row["pipeline_id"], row["owner_id"]) == (org.id, p["id"], org.rep.user_id)
    await consistent(db)


async def test_move_stage_won_lost_and_reopen_each_write_the_stage_entered(client: httpx.AsyncClient, db: Database,
                                                                          org: Org) -> None:
    p = await pipeline(client, org)
    s = {x["name"]: x["id"] for x in p["stages"]}
    won = await deal(client, org.rep, expected_close_date="2026-12-31")
    await ok(await verb(client, org.rep, won["id"], "move-stage", {"stage_id": s["proposal"]}))
    await ok(await verb(client, org.admin, won["id"], "won", {}))
    await ok(await verb(client, org.admin, won["id"], "reopen", {"stage_id": s["negotiation"]}))
    await ok(await verb(client, org.rep, won["id"], "move-stage", {"stage_id": s["closed won"]}))
    lost = await deal(client, org.rep)
    await ok(await verb(client, org.admin, lost["id"], "lost", {"reason": "price"}))
    assert path(await moves_of(db, won["id"]), p) == [
        (None, "appointment"), ("appointment", "proposal"), ("proposal", "closed won"),
        ("closed won", "negotiation"), ("negotiation", "closed won")]
    assert path(await moves_of(db, lost["id"]), p) == [(None, "appointment"), ("appointment", "closed lost")]
    await consistent(db)


async def test_the_same_stage_again_and_abandoning_write_nothing(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    p = await pipeline(client, org)
    made = await deal(client, org.rep)
    await ok(await verb(client, org.rep, made["id"], "move-stage", {"stage_id": stage_named(p, "appointment")["id"]}))
    await ok(await verb(client, org.admin, made["id"], "abandon"))
    assert len(await moves_of(db, made["id"])) == 1
    await consistent(db)


async def test_a_refused_verb_writes_no_row(client: httpx.AsyncClient, db: Database, org: Org, other_org: Org
                                           ) -> None:
    p = await pipeline(client, org)
    mine = await deal(client, org.other_rep)
    before = await moves_of(db)
    problem(await verb(client, org.admin, mine["id"], "lost", {"reason": ""}), 422)  # rule: reason required
    problem(await verb(client, org.viewer, mine["id"], "move-stage", {"stage_id": stage_named(p, "proposal")["id"]}),
            403)  # may read, may not move
    problem(await verb(client, other_org.admin, mine["id"], "move-stage",
                       {"stage_id": stage_named(p, "proposal")["id"]}), 404)  # another org
    theirs = stage_named(await pipeline(client, other_org), "proposal")["id"]
    problem(await verb(client, org.admin, mine["id"], "move-stage", {"stage_id": theirs}), 422)
    assert await moves_of(db) == before
    await consistent(db)


async def test_deleting_a_stage_moves_each_of_its_deals_with_a_row(client: httpx.AsyncClient, db: Database,
                                                                   org: Org) -> None:
    p = await pipeline(client, org)
    made = [await deal(client, org.rep) for _ in range(3)]
    body = {"stages": [{"id": s["id"], "name": s["name"], "outcome": s["outcome"]} for s in p["stages"]
                       if s["name"] != "appointment"],
            "move_deals_to": {stage_named(p, "appointment")["id"]: stage_named(p, "proposal")["id"]}}
    await ok(await client.patch(f"{V1}/pipelines/{p['id']}/stages", json=body, headers=org.admin.h))
    for d in made:
        rows = await moves_of(db, d["id"])
        assert [(r["from_stage_id"], r["to_stage_id"]) for r in rows] == [
            (None, stage_named(p, "appointment")["id"]),
            (stage_named(p, "appointment")["id"], stage_named(p, "proposal")["id"])]
    await consistent(db)


async def test_converting_a_lead_writes_the_new_deals_row(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    from tests.api._lead_helpers import new_lead, set_status

    lead = await new_lead(client, org.rep, score=60)
    await set_status(db, lead["id"], "qualified")
    out = await ok(await client.post(f"{V1}/leads/{lead['id']}/convert", json={}, headers=org.rep.h))
    [row] = await moves_of(db, out["deal"]["id"])
    assert row["from_stage_id"] is None and row["to_stage_id"] == out["deal"]["stage_id"]
    await consistent(db)


@pytest.fixture
async def worker(db: Database, settings: Settings) -> AsyncIterator[Worker]:
    w = Worker(db, settings)
    yield w
    await w.aclose()


async def test_an_automation_creating_a_deal_writes_its_row(client: httpx.AsyncClient, db: Database, org: Org,
                                                            worker: Worker) -> None:
    rule = {"name": "Deal on qualify", "trigger": "contact.qualified",
            "actions": [{"type": "create_deal", "title": "Auto deal", "value": {"amount": 100}}]}
    await ok(await client.post(f"{V1}/automations", json=rule, headers=org.admin.h), 201)
    c = await contact(client, org.rep, email="auto@acme.dev", lead_score=50)
    await ok(await client.post(f"{V1}/contacts/{c['id']}/qualify", headers=org.rep.h))
    await worker.run_once()
    async with db.engine.connect() as conn:
        deal_id = (await conn.execute(sa.select(deals.c.id).where(deals.c.contact_id == c["id"]))).scalar_one()
    [row] = await moves_of(db, deal_id)
    assert row["from_stage_id"] is None
    await consistent(db)


@pytest.mark.parametrize("with_events", [True, False], ids=["small-import", "large-import"])
async def test_imported_deals_get_the_row_of_their_starting_stage(
        client: httpx.AsyncClient, db: Database, org: Org, monkeypatch: pytest.MonkeyPatch, with_events: bool) -> None:
    if not with_events:
        monkeypatch.setattr(import_model, "RECORD_EVENTS_MAX_ROWS", 0)
    rows = [["Deal Name", "Stage", "Value"], ["One", "Proposal", "10"], ["Two", "", "20"]]
    body = await run(client, db, org.admin.h, csv_bytes(rows), object="deals")
    assert body["counts"]["created"] == 2, body
    p = await pipeline(client, org)
    got = await moves_of(db)
    assert sorted(path(got, p)) == [(None, "appointment"), (None, "proposal")]
    assert all(r["id"].startswith("dsm_") for r in got) is not with_events
    await consistent(db)


async def test_erasing_a_deal_drops_its_rows_and_the_trash_keeps_them(client: httpx.AsyncClient, db: Database,
                                                                      org: Org) -> None:
    p = await pipeline(client, org)
    made = await deal(client, org.rep)
    await ok(await verb(client, org.rep, made["id"], "move-stage", {"stage_id": stage_named(p, "proposal")["id"]}))
    await ok(await client.delete(f"{V1}/deals/{made['id']}", headers=org.admin.h), 204)
    assert len(await moves_of(db, made["id"])) == 2  # restorable: its history stays
    await ok(await client.delete(f"{V1}/deals/{made['id']}", params={"permanent": "true"}, headers=org.admin.h),
             204)
    assert await moves_of(db, made["id"]) == []
    await consistent(db)
