"""Lead → Deal conversion (seed 004 "Lead Converted to Deal", DESIGN §5.3): from ``qualified`` only,
in one transaction: the deal in the default pipeline, the sales-process workflow, the note
activity on contact and deal, the owner's notification and ``lead.converted``; any failing step
leaves nothing written.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.activities.tables import activities
from kith.auth.model import Actor
from kith.core.db import Database
from kith.core.errors import RuleViolation
from kith.core.events import event_refs
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads import convert
from kith.leads.schemas import ConvertIn
from kith.notifications.tables import notifications
from kith.pipelines.tables import pipelines
from kith.workflows.tables import workflows
from tests.api._lead_helpers import LEADS, events_of, get_lead, new_lead, rows, set_status, snapshot, verb
from tests.conftest import Org, count_rows, problem


async def qualified_lead(client: httpx.AsyncClient, db: Database, who: Any, **body: Any) -> dict[str, Any]:
    lead = await new_lead(client, who, score=60, **body)
    await set_status(db, lead["id"], "qualified")
    return lead


async def test_converting_a_qualified_lead_writes_the_deal_workflow_note_notification_and_event(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    lead = await qualified_lead(client, db, org.rep, title="Acme wants 40 seats")
    before = await count_rows(db)
    r = await verb(client, org.rep, lead["id"], "convert",
                   {"value": {"amount": "12000.50", "currency": "EUR"}, "expected_close_date": "2027-03-31"})
    assert r.status_code == 200, r.text
    out_lead, deal = r.json()["lead"], r.json()["deal"]
    assert out_lead["status"] == "converted" and out_lead["converted_to_deal_id"] == deal["id"]
    assert out_lead["converted_at"] is not None and out_lead["version"] == lead["version"] + 1
    assert await get_lead(client, org, lead["id"]) == out_lead
    [stored] = await rows(db, deals, deals.c.id == deal["id"])
    [default] = await rows(db, pipelines, pipelines.c.org_id == org.id, pipelines.c.kind == "deal",
                           pipelines.c.is_default.is_(True))
    assert (stored["lead_id"], stored["contact_id"], stored["owner_id"]) == (lead["id"], lead["contact_id"],
                                                                             org.rep.user_id)
    assert (stored["pipeline_id"], stored["status"], stored["title"]) == (default["id"], "open", "Acme wants 40 seats")
    assert (str(stored["amount"]), stored["currency"], str(stored["expected_close_date"])) == (
        "12000.50", "EUR", "2027-03-31")
    [note] = await rows(db, activities, activities.c.type == "note")
    assert (note["subject"], note["contact_id"], note["deal_id"], note["lead_id"]) == (
        "Lead converted to Deal", lead["contact_id"], deal["id"], lead["id"])
    [workflow] = await rows(db, workflows, workflows.c.deal_id == deal["id"])
    assert workflow["status"] == "active"
    [notice] = await rows(db, notifications, notifications.c.type == "lead.converted")
    assert (notice["user_id"], notice["subject_id"]) == (org.rep.user_id, deal["id"])
    assert notice["data"] == {"lead_id": lead["id"], "deal_id": deal["id"], "contact_id": lead["contact_id"]}
    [event] = await events_of(db, "lead.converted", lead["id"])
    assert event["data"]["deal_id"] == deal["id"] and event["data"]["after"]["status"] == "converted"
    async with db.engine.connect() as conn:
        indexed = set((await conn.execute(sa.select(event_refs.c.record_id).where(
            event_refs.c.event_id == event["id"]))).scalars())
    assert indexed == {lead["id"], deal["id"], lead["contact_id"]}
    after = await count_rows(db)
    changed = {t for t in after if after[t] != before[t]}
    assert after["deals"] - before["deals"] == 1 and after["leads"] == before["leads"]
    assert after["contacts"] == before["contacts"]
    assert changed <= {"deals", "deal_stage_moves", "activities", "notifications", "events", "event_refs", "workflows",
                       "workflow_tasks"}, changed


async def test_a_manager_converting_a_reps_lead_gives_the_deal_to_the_rep(client: httpx.AsyncClient,
                                                                          db: Database, org: Org) -> None:
    lead = await qualified_lead(client, db, org.rep)
    r = await verb(client, org.manager, lead["id"], "convert", {"title": "Renamed deal"})
    assert r.status_code == 200, r.text
    deal = r.json()["deal"]
    assert (deal["owner_id"], deal["title"]) == (org.rep.user_id, "Renamed deal")
    [notice] = await rows(db, notifications, notifications.c.type == "lead.converted")
    assert notice["user_id"] == org.rep.user_id
    [event] = await events_of(db, "lead.converted", lead["id"])
    assert event["actor_id"] == org.manager.user_id


@pytest.mark.parametrize("persona, status", [("admin", 200), ("manager", 200), ("rep", 200), ("other_rep", 404),
                                             ("support", 403), ("marketing", 403), ("viewer", 403)])
async def test_who_may_convert_the_reps_lead(client: httpx.AsyncClient, db: Database, org: Org, persona: str,
                                             status: int) -> None:
    lead = await qualified_lead(client, db, org.rep)
    before = await snapshot(client, db, org, [lead["id"]])
    r = await verb(client, getattr(org, persona), lead["id"], "convert")
    if status == 200:
        assert r.status_code == 200 and r.json()["lead"]["status"] == "converted", r.text
    else:
        problem(r, status)
        assert await snapshot(client, db, org, [lead["id"]]) == before


async def test_a_converted_lead_cannot_convert_again(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    lead = await qualified_lead(client, db, org.admin)
    assert (await verb(client, org.admin, lead["id"], "convert")).status_code == 200
    before = await snapshot(client, db, org, [lead["id"]])
    p = problem(await verb(client, org.admin, lead["id"], "convert"), 409)
    assert (p["from"], p["to"]) == ("converted", "converted")
    assert await snapshot(client, db, org, [lead["id"]]) == before


@pytest.mark.parametrize("body, field", [
    pytest.param({"value": {"amount": "-1", "currency": "EUR"}}, "value.amount", id="negative-amount"),
    pytest.param({"value": {"amount": "1.234", "currency": "EUR"}}, "value.amount", id="three-decimals"),
    pytest.param({"value": {"amount": "10", "currency": "XXX"}}, "value.currency", id="unknown-currency"),
    pytest.param({"value": {"amount": "ten"}}, "value.amount", id="amount-word"),
    pytest.param({"expected_close_date": "31/03/2027"}, "expected_close_date", id="bad-date"),
    pytest.param({"title": ""}, "title", id="empty-title"),
    pytest.param({"title": "t" * 201}, "title", id="long-title"),
    pytest.param({"pipeline_id": "p" * 41}, "pipeline_id", id="long-pipeline"),
    pytest.param({"stage_id": "x"}, "stage_id", id="unknown-field"),
])
async def test_bad_convert_bodies_answer_422_and_write_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                               body: dict[str, Any], field: str) -> None:
    lead = await qualified_lead(client, db, org.admin)
    before = await snapshot(client, db, org, [lead["id"]])
    p = problem(await verb(client, org.admin, lead["id"], "convert", body), 422)
    assert any(e["field"].startswith(field) for e in p["errors"]), p
    assert await snapshot(client, db, org, [lead["id"]]) == before


async def test_when_the_deal_cannot_be_created_nothing_is_written(client: httpx.AsyncClient, db: Database,
                                                                  org: Org, other_org: Org) -> None:
    lead = await qualified_lead(client, db, org.admin)
    [theirs] = await rows(db, pipelines, pipelines.c.org_id == other_org.id, pipelines.c.kind == "deal")
    before = await snapshot(client, db, org, [lead["id"]])
    for pipeline_id in (theirs["id"], "pipeline_nothing"):
        r = await verb(client, org.admin, lead["id"], "convert", {"pipeline_id": pipeline_id})
        assert r.status_code in (404, 422), r.text
        problem(r, r.status_code)
    assert await snapshot(client, db, org, [lead["id"]]) == before


@pytest.mark.parametrize("step", ["start_process", "log_activity", "notify"])
async def test_a_failure_in_any_later_step_rolls_back_the_deal_too(
        client: httpx.AsyncClient, db: Database, org: Org, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    lead = await qualified_lead(client, db, org.rep)
    before = await snapshot(client, db, org, [lead["id"]])

    async def refuse(*_: Any, **__: Any) -> Any:
        raise RuleViolation("test-refusal", f"{step} refused")

    monkeypatch.setattr(convert, step, refuse)
    actor = Actor(org_id=org.id, user_id=org.rep.user_id, roles=frozenset({"sales-rep"}),
                  team_ids=frozenset({org.rep.user_id}))
    with pytest.raises(RuleViolation):
        await convert.convert_lead(UnitOfWork(db), actor, lead["id"], ConvertIn.model_validate({}))
    assert await snapshot(client, db, org, [lead["id"]]) == before
    monkeypatch.undo()
    assert (await verb(client, org.rep, lead["id"], "convert")).status_code == 200


async def test_another_orgs_lead_cannot_be_converted(client: httpx.AsyncClient, db: Database, org: Org,
                                                     other_org: Org) -> None:
    theirs = await qualified_lead(client, db, other_org.admin)
    before = await count_rows(db)
    problem(await verb(client, org.admin, theirs["id"], "convert"), 404)
    assert await count_rows(db) == before
    assert (await client.get(f"{LEADS}/{theirs['id']}", headers=other_org.admin.h)).json()["status"] == "qualified"
