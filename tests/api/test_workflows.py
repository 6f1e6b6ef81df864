"""The sales-process workflow of seed 004 §7 over HTTP (docs/workflows.md).

Starting it hands the first stage's tasks to the right people; completing a stage's tasks (and
passing the next entry guard) opens the next stage; completing closing wins the deal through the
same rules as a manual win. Refused calls change nothing (row counts compared before and after).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.core.db import Database
from kith.core.events import events
from kith.notifications.tables import notifications
from kith.pipelines.tables import stages
from tests.conftest import Org, Persona, count_rows, problem

V1 = "/api/v1"
CLOSE_DATE = "2027-01-31"


# --- helpers -------------------------------------------------------------------------------------

async def make_deal(client: httpx.AsyncClient, who: Persona, *, amount: str = "1000", close: str | None = CLOSE_DATE,
                    **extra: Any) -> dict[str, Any]:
    r = await client.post(f"{V1}/contacts", json={"name": "Dana Buyer", "email": f"dana{amount}@buyer.example"},
                          headers=who.h)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = {"title": "Big one", "contact_id": r.json()["id"],
                            "value": {"amount": amount, "currency": "USD"}, **extra}
    if close is not None:
        body["expected_close_date"] = close
    r = await client.post(f"{V1}/deals", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def start(client: httpx.AsyncClient, who: Persona, deal_id: str, body: Any = None) -> httpx.Response:
    return await client.post(f"{V1}/deals/{deal_id}/workflow", json=body, headers=who.h)


async def view(client: httpx.AsyncClient, who: Persona, deal_id: str) -> dict[str, Any]:
    r = await client.get(f"{V1}/deals/{deal_id}/workflow", headers=who.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def stage(wf: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in wf["stages"] if s["key"] == key)


def open_tasks(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for s in wf["stages"] for t in s["tasks"] if t["status"] == "open"]


async def complete(client: httpx.AsyncClient, who: Persona, task: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{V1}/activities/{task['activity_id']}/complete", headers=who.h)


async def finish_stage(client: httpx.AsyncClient, org: Org, deal_id: str) -> dict[str, Any]:
    """Complete every open task of the current stage, each by its assignee."""
    wf = await view(client, org.admin, deal_id)
    people = {p.user_id: p for p in org.people.values()}
    for task in [t for t in stage(wf, wf["current_stage"])["tasks"] if t["status"] == "open"]:
        r = await complete(client, people[task["assignee_id"]], task)
        assert r.status_code == 200, r.text
    return await view(client, org.admin, deal_id)


async def confirm(client: httpx.AsyncClient, who: Persona, deal_id: str, guard: Any = "verbal-agreement"
                  ) -> httpx.Response:
    return await client.post(f"{V1}/deals/{deal_id}/workflow/confirm", json={"guard": guard}, headers=who.h)


async def event_types(db: Database, subject_id: str | None = None) -> list[str]:
    q = sa.select(events.c.type).order_by(events.c.id)
    if subject_id is not None:
        q = q.where(events.c.subject_id == subject_id)
    async with db.engine.connect() as conn:
        return list((await conn.execute(q)).scalars())


async def event_data(db: Database, subject_id: str, type_: str) -> dict[str, Any]:
    q = sa.select(events.c.data).where(events.c.subject_id == subject_id, events.c.type == type_)
    async with db.engine.connect() as conn:
        (data,) = (await conn.execute(q)).scalars()
    return data  # type: ignore[no-any-return]


async def to_closing(client: httpx.AsyncClient, org: Org, deal_id: str) -> dict[str, Any]:
    for _ in range(3):
        wf = await finish_stage(client, org, deal_id)
        if wf["current_stage"] == "negotiation":
            assert (await confirm(client, org.rep, deal_id)).status_code == 200
    wf = await view(client, org.admin, deal_id)
    assert wf["current_stage"] == "closing", wf
    return wf


# --- templates -----------------------------------------------------------------------------------

async def test_the_sales_process_template_is_listed(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.get(f"{V1}/workflow-templates", headers=org.rep.h)
    assert r.status_code == 200, r.text
    (tpl,) = r.json()["data"]
    assert tpl["id"] == "SALES_PROCESS"
    assert [s["key"] for s in tpl["stages"]] == ["discovery", "proposal", "negotiation", "closing"]
    assert [s["entry_guard"] and s["entry_guard"]["id"] for s in tpl["stages"]] == [
        None, "discovery-complete", "proposal-sent", "verbal-agreement"]
    problem(await client.get(f"{V1}/workflow-templates", headers=org.support.h), 403)


# --- start ---------------------------------------------------------------------------------------

async def test_starting_creates_the_discovery_tasks_for_the_owner(client: httpx.AsyncClient, db: Database,
                                                                  org: Org) -> None:
    deal = await make_deal(client, org.rep)
    r = await start(client, org.rep, deal["id"])
    assert r.status_code == 201, r.text
    wf = r.json()
    assert (wf["status"], wf["current_stage"], wf["waiting_for"]) == ("active", "discovery", "tasks")
    tasks = stage(wf, "discovery")["tasks"]
    assert [(t["key"], t["assignee_id"], t["status"]) for t in tasks] == [
        ("needs-analysis-call", org.rep.user_id, "open"), ("document-pain-points", org.rep.user_id, "open")]
    assert all(not s["tasks"] for s in wf["stages"][1:])
    # The tasks are ordinary activities: in the owner's open tasks, on the deal, with workflow metadata.
    mine = (await client.get(f"{V1}/tasks/mine", headers=org.rep.h)).json()["data"]
    assert {t["id"] for t in mine} == {t["activity_id"] for t in tasks}
    assert all(t["deal_id"] == deal["id"] and t["contact_id"] == deal["contact_id"] and t["type"] == "task"
               and t["metadata"]["workflow_id"] == wf["id"] and t["metadata"]["stage"] == "discovery"
               for t in mine)
    assert "workflow.started" in await event_types(db, wf["id"])
    assert await view(client, org.rep, deal["id"]) == wf


async def test_a_deal_runs_one_active_workflow_at_a_time(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    assert (await start(client, org.rep, deal["id"], {"template_id": "SALES_PROCESS"})).status_code == 201
    before = await count_rows(db)
    problem(await start(client, org.manager, deal["id"]), 409)
    assert await count_rows(db) == before


async def test_a_closed_deal_cannot_start_a_workflow(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    r = await client.post(f"{V1}/deals/{deal['id']}/lost", json={"reason": "budget"}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    before = await count_rows(db)
    problem(await start(client, org.rep, deal["id"]), 409)
    assert await count_rows(db) == before


async def test_a_deal_without_a_workflow_answers_404(client: httpx.AsyncClient, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    problem(await client.get(f"{V1}/deals/{deal['id']}/workflow", headers=org.rep.h), 404)


# --- advancing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, approval_task", [
    pytest.param("49999.99", False, id="below-threshold"),
    pytest.param("50000.00", True, id="at-threshold"),
])
async def test_manager_approval_task_only_at_or_above_the_threshold_and_for_the_owners_manager(
        client: httpx.AsyncClient, db: Database, org: Org, amount: str, approval_task: bool) -> None:
    deal = await make_deal(client, org.rep, amount=amount)
    assert (await start(client, org.rep, deal["id"])).status_code == 201
    wf = await finish_stage(client, org, deal["id"])
    assert wf["current_stage"] == "proposal"
    assert stage(wf, "discovery")["status"] == "done" and stage(wf, "proposal")["status"] == "current"
    tasks = {t["key"]: t["assignee_id"] for t in stage(wf, "proposal")["tasks"]}
    expected = {"prepare-proposal": org.rep.user_id, "send-proposal": org.rep.user_id}
    if approval_task:
        expected["manager-approval"] = org.manager.user_id
    assert tasks == expected
    types = await event_types(db, wf["id"])
    assert types.count("workflow.stage-advanced") == 1
    if approval_task:  # the manager is told about the task assigned to them
        async with db.engine.connect() as conn:
            got = (await conn.execute(sa.select(notifications.c.type).where(
                notifications.c.user_id == org.manager.user_id))).scalars().all()
        assert "task.assigned" in got


async def test_without_a_manager_the_approval_task_goes_to_a_sales_manager(client: httpx.AsyncClient,
                                                                          org: Org) -> None:
    deal = await make_deal(client, org.other_rep, amount="90000")  # other_rep has no manager
    assert (await start(client, org.other_rep, deal["id"])).status_code == 201
    wf = await finish_stage(client, org, deal["id"])
    assert {t["key"]: t["assignee_id"] for t in stage(wf, "proposal")["tasks"]}["manager-approval"] == \
        org.manager.user_id


async def test_one_open_task_holds_the_stage(client: httpx.AsyncClient, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    assert (await complete(client, org.rep, stage(wf, "discovery")["tasks"][0])).status_code == 200
    wf = await view(client, org.rep, deal["id"])
    assert wf["current_stage"] == "discovery"
    assert [t["status"] for t in stage(wf, "discovery")["tasks"]] == ["done", "open"]


async def test_negotiation_waits_for_the_verbal_agreement(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    await finish_stage(client, org, deal["id"])
    wf = await finish_stage(client, org, deal["id"])
    assert wf["current_stage"] == "negotiation"
    wf = await finish_stage(client, org, deal["id"])
    assert (wf["current_stage"], wf["waiting_for"]) == ("negotiation", "guard:verbal-agreement")
    assert stage(wf, "closing")["entry_guard"]["holds"] is False
    r = await confirm(client, org.rep, deal["id"])
    assert r.status_code == 200, r.text
    wf = r.json()
    assert wf["current_stage"] == "closing" and len(stage(wf, "closing")["tasks"]) == 2
    assert stage(wf, "closing")["entry_guard"]["confirmed"]["by"] == org.rep.user_id
    types = await event_types(db, wf["id"])
    assert types.index("workflow.guard-confirmed") < len(types) - 1
    # Confirming again changes nothing.
    before = await count_rows(db)
    assert (await confirm(client, org.rep, deal["id"])).status_code == 200
    assert await count_rows(db) == before


async def stage_name(client: httpx.AsyncClient, db: Database, org: Org, deal_id: str) -> str:
    deal = (await client.get(f"{V1}/deals/{deal_id}", headers=org.admin.h)).json()
    async with db.engine.connect() as conn:
        name = (await conn.execute(sa.select(stages.c.name).where(stages.c.id == deal["stage_id"]))).scalar_one()
    return str(name).lower()


async def test_the_deal_follows_into_the_pipeline_stages_of_the_same_name(client: httpx.AsyncClient, db: Database,
                                                                         org: Org) -> None:
    deal = await make_deal(client, org.rep)
    first = await stage_name(client, db, org, deal["id"])
    await start(client, org.rep, deal["id"])
    assert await stage_name(client, db, org, deal["id"]) == first  # discovery has no pipeline stage
    await finish_stage(client, org, deal["id"])
    assert await stage_name(client, db, org, deal["id"]) == "proposal"
    await finish_stage(client, org, deal["id"])
    assert await stage_name(client, db, org, deal["id"]) == "negotiation"
    types = await event_types(db, deal["id"])
    assert types.count("deal.stage-moved") == 2


async def test_completing_closing_wins_the_deal(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    await to_closing(client, org, deal["id"])
    done = await finish_stage(client, org, deal["id"])
    assert (done["status"], done["deal_status"], done["waiting_for"]) == ("completed", "won", None)
    assert all(s["status"] == "done" for s in done["stages"])
    won = (await client.get(f"{V1}/deals/{deal['id']}", headers=org.rep.h)).json()
    assert won["status"] == "won" and won["won_at"] is not None
    contact = (await client.get(f"{V1}/contacts/{deal['contact_id']}", headers=org.rep.h)).json()
    assert contact["stage"] == "customer"
    all_types = await event_types(db)
    assert all_types.count("deal.won") == 1
    assert (await event_types(db, wf["id"])).count("workflow.completed") == 1
    assert (await event_types(db, wf["id"])).count("workflow.stage-advanced") == 3
    # A new workflow may start once the deal is reopened; the finished one stays as history.
    problem(await start(client, org.rep, deal["id"]), 409)


@pytest.mark.parametrize("amount, close, rule", [
    pytest.param("1000", None, "deal-won-requires-close-date", id="no-close-date"),
    pytest.param("75000", CLOSE_DATE, "high-value-deal-approval", id="high-value-unapproved"),
])
async def test_a_refused_win_refuses_the_last_task_and_writes_nothing(client: httpx.AsyncClient, db: Database,
                                                                      org: Org, amount: str, close: str | None,
                                                                      rule: str) -> None:
    deal = await make_deal(client, org.rep, amount=amount, close=close)
    await start(client, org.rep, deal["id"])
    wf = await to_closing(client, org, deal["id"])
    first, last = stage(wf, "closing")["tasks"]
    assert (await complete(client, org.rep, first)).status_code == 200
    before = await count_rows(db)
    body = problem(await complete(client, org.rep, last), 422)
    assert body["rule"] == rule
    assert await count_rows(db) == before
    wf = await view(client, org.rep, deal["id"])
    assert (wf["status"], wf["current_stage"]) == ("active", "closing")
    assert [t["status"] for t in stage(wf, "closing")["tasks"]] == ["done", "open"]
    assert (await client.get(f"{V1}/deals/{deal['id']}", headers=org.rep.h)).json()["status"] == "open"


async def test_a_deal_lost_by_hand_cancels_its_workflow(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    r = await client.post(f"{V1}/deals/{deal['id']}/lost", json={"reason": "budget"}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    got = await view(client, org.rep, deal["id"])
    assert (got["status"], got["waiting_for"], stage(got, "discovery")["status"]) == ("cancelled", None, "cancelled")
    assert "workflow.cancelled" in await event_types(db, wf["id"])
    # Its open tasks are closed with it: out of the owner's open tasks, one activity.updated each.
    assert [t["status"] for t in stage(got, "discovery")["tasks"]] == ["done", "done"]
    assert (await client.get(f"{V1}/tasks/mine", headers=org.rep.h)).json()["data"] == []
    before = await event_types(db, wf["id"])
    for task in stage(wf, "discovery")["tasks"]:
        r = await client.get(f"{V1}/activities/{task['activity_id']}", headers=org.rep.h)
        assert (r.json()["status"], r.json()["outcome"]) == ("completed", "cancelled")
        assert await event_types(db, task["activity_id"]) == ["activity.created", "activity.updated"]
        problem(await complete(client, org.rep, task), 409)
    assert await event_types(db, wf["id"]) == before
    cancelled = await event_data(db, wf["id"], "workflow.cancelled")
    assert cancelled["closed_tasks"] == sorted(t["activity_id"] for t in stage(wf, "discovery")["tasks"])


async def test_a_deal_won_by_hand_completes_its_workflow(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    r = await client.post(f"{V1}/deals/{deal['id']}/won", json={}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    assert (await view(client, org.rep, deal["id"]))["status"] == "completed"
    assert (await event_types(db, wf["id"])).count("workflow.completed") == 1


# --- forcing -------------------------------------------------------------------------------------

async def test_a_manager_may_force_the_next_stage_a_rep_may_not(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    before = await count_rows(db)
    problem(await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.rep.h), 403)
    problem(await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.viewer.h), 403)
    assert await count_rows(db) == before
    r = await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.manager.h)
    assert r.status_code == 200, r.text
    wf = r.json()
    assert wf["current_stage"] == "proposal" and stage(wf, "discovery")["forced_by"] == org.manager.user_id
    assert [t["status"] for t in stage(wf, "discovery")["tasks"]] == ["open", "open"]


async def test_no_active_workflow_to_confirm_or_force(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    before = await count_rows(db)
    problem(await confirm(client, org.rep, deal["id"]), 409)
    problem(await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.manager.h), 409)
    assert await count_rows(db) == before


# --- permissions and tenancy ---------------------------------------------------------------------

@pytest.mark.parametrize("persona, status", [
    pytest.param("admin", 201, id="admin"),
    pytest.param("manager", 201, id="manager-of-the-owner"),
    pytest.param("rep", 201, id="owner"),
    pytest.param("other_rep", 404, id="other-rep-does-not-see-it"),
    pytest.param("support", 403, id="support"),
    pytest.param("marketing", 403, id="marketing"),
    pytest.param("viewer", 403, id="viewer"),
])
async def test_who_may_start_a_workflow(client: httpx.AsyncClient, db: Database, org: Org, persona: str,
                                        status: int) -> None:
    deal = await make_deal(client, org.rep)
    before = await count_rows(db)
    r = await start(client, getattr(org, persona), deal["id"])
    if status == 201:
        assert r.status_code == 201, r.text
        return
    problem(r, status)
    assert await count_rows(db) == before


@pytest.mark.parametrize("persona, status", [
    pytest.param("admin", 200, id="admin"), pytest.param("manager", 200, id="manager"),
    pytest.param("rep", 200, id="owner"), pytest.param("viewer", 200, id="viewer"),
    pytest.param("other_rep", 404, id="other-rep"), pytest.param("support", 403, id="support"),
    pytest.param("marketing", 403, id="marketing"),
])
async def test_who_may_read_a_workflow(client: httpx.AsyncClient, org: Org, persona: str, status: int) -> None:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    r = await client.get(f"{V1}/deals/{deal['id']}/workflow", headers=getattr(org, persona).h)
    if status == 200:
        assert r.status_code == 200, r.text
    else:
        problem(r, status)


async def test_a_rep_cannot_confirm_on_another_reps_deal(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    before = await count_rows(db)
    problem(await confirm(client, org.other_rep, deal["id"]), 404)
    problem(await confirm(client, org.viewer, deal["id"]), 403)
    assert await count_rows(db) == before


async def test_another_orgs_deal_is_not_found(client: httpx.AsyncClient, db: Database, org: Org,
                                              other_org: Org) -> None:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    before = await count_rows(db)
    problem(await start(client, other_org.admin, deal["id"]), 404)
    problem(await client.get(f"{V1}/deals/{deal['id']}/workflow", headers=other_org.admin.h), 404)
    problem(await confirm(client, other_org.admin, deal["id"]), 404)
    problem(await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=other_org.admin.h), 404)
    problem(await start(client, org.admin, "deal_doesnotexist"), 404)
    assert await count_rows(db) == before


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    pytest.param({"template_id": "NOPE"}, "template_id", id="unknown-template"),
    pytest.param({"template_id": 7}, "template_id", id="wrong-type"),
    pytest.param({"template_id": "x" * 61}, "template_id", id="too-long"),
    pytest.param({"template_id": ""}, "template_id", id="empty"),
    pytest.param({"template_id": "SALES PROCESS"}, "template_id", id="bad-characters"),
    pytest.param({"template": "SALES_PROCESS"}, "template", id="unknown-field"),
    pytest.param([], None, id="not-an-object"),
])
async def test_bad_start_bodies_are_refused(client: httpx.AsyncClient, db: Database, org: Org, body: Any,
                                            field: str | None) -> None:
    deal = await make_deal(client, org.rep)
    before = await count_rows(db)
    got = problem(await start(client, org.rep, deal["id"], body), 422)
    if field is not None:
        assert field in {e["field"].split(".")[-1] for e in got.get("errors", [])} | {got.get("field")}
    assert await count_rows(db) == before


@pytest.mark.parametrize("body", [
    pytest.param({"guard": "proposal-sent"}, id="not-a-confirmation-guard"),
    pytest.param({"guard": "made-up"}, id="unknown-guard"),
    pytest.param({"guard": 1}, id="wrong-type"),
    pytest.param({"guard": "x" * 61}, id="too-long"),
    pytest.param({}, id="missing"),
    pytest.param({"guard": "verbal-agreement", "extra": True}, id="unknown-field"),
])
async def test_bad_confirm_bodies_are_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                              body: dict[str, Any]) -> None:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    before = await count_rows(db)
    r = await client.post(f"{V1}/deals/{deal['id']}/workflow/confirm", json=body, headers=org.rep.h)
    problem(r, 422)
    assert await count_rows(db) == before


async def test_an_overlong_deal_id_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(f"{V1}/deals/{'d' * 41}/workflow", headers=org.rep.h), 422)
    problem(await client.post(f"{V1}/deals/{'d' * 41}/workflow", headers=org.rep.h), 422)


# --- concurrency ---------------------------------------------------------------------------------

async def test_concurrent_starts_make_one_workflow(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    import asyncio

    deal = await make_deal(client, org.rep)
    results = await asyncio.gather(*(start(client, org.rep, deal["id"]) for _ in range(6)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 5
    assert (await count_rows(db, "workflows"))["workflows"] == 1
    assert (await count_rows(db, "workflow_tasks"))["workflow_tasks"] == 2


async def test_completing_a_stages_tasks_at_once_advances_exactly_once(client: httpx.AsyncClient, db: Database,
                                                                       org: Org) -> None:
    import asyncio

    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    results = await asyncio.gather(*(complete(client, org.rep, t) for t in stage(wf, "discovery")["tasks"]))
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    got = await view(client, org.rep, deal["id"])
    assert got["current_stage"] == "proposal" and len(stage(got, "proposal")["tasks"]) == 2
    assert (await event_types(db, wf["id"])).count("workflow.stage-advanced") == 1


# --- lead conversion (seed 004 "Lead Converted to Deal") --------------------------------------------

async def test_converting_a_lead_starts_the_sales_process(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    r = await client.post(f"{V1}/contacts", json={"name": "Lee Lead", "email": "lee@lead.example"}, headers=org.rep.h)
    lead = await client.post(f"{V1}/leads", json={"contact_id": r.json()["id"], "title": "Lee's deal", "score": 60},
                             headers=org.rep.h)
    assert lead.status_code == 201, lead.text
    lead_id = lead.json()["id"]
    for verb in ("contacted", "qualify"):
        assert (await client.post(f"{V1}/leads/{lead_id}/{verb}", headers=org.rep.h)).status_code == 200
    r = await client.post(f"{V1}/leads/{lead_id}/convert", json={"value": {"amount": "5000", "currency": "USD"}},
                          headers=org.rep.h)
    assert r.status_code == 200, r.text
    deal = r.json()["deal"]
    wf = await view(client, org.rep, deal["id"])
    assert (wf["status"], wf["current_stage"]) == ("active", "discovery")
    assert [t["assignee_id"] for t in stage(wf, "discovery")["tasks"]] == [org.rep.user_id] * 2
    assert "workflow.started" in await event_types(db, wf["id"])


# --- org templates -------------------------------------------------------------------------------

QUICK = {
    "id": "QUICK_SALE", "name": "Quick sale",
    "stages": [
        {"key": "pitch", "title": "Pitch", "tasks": [
            {"key": "call", "title": "Call them", "role": "sales-rep", "due_days": 1},
            {"key": "sign-off", "title": "Manager sign-off", "role": "sales-manager", "condition": "high-value"}]},
        {"key": "close", "title": "Close", "pipeline_stage": "negotiation",
         "entry_guard": {"id": "called", "title": "Called", "kind": "task-complete", "task_key": "call"},
         "tasks": [{"key": "invoice", "title": "Send invoice", "role": "sales-rep"}]},
    ],
}


async def test_an_admin_defines_a_template_and_a_deal_runs_it(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    r = await client.post(f"{V1}/workflow-templates", json=QUICK, headers=org.admin.h)
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == '"v1"' and r.json()["builtin"] is False
    listed = (await client.get(f"{V1}/workflow-templates", headers=org.rep.h)).json()["data"]
    assert [t["id"] for t in listed] == ["SALES_PROCESS", "QUICK_SALE"]
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"], {"template_id": "QUICK_SALE"})).json()
    assert (wf["template_id"], wf["template_name"]) == ("QUICK_SALE", "Quick sale")
    assert [t["key"] for t in stage(wf, "pitch")["tasks"]] == ["call"]
    # Changing the template does not change the running workflow.
    patched = await client.patch(f"{V1}/workflow-templates/QUICK_SALE", json={"name": "Renamed"},
                                 headers={**org.admin.h, "If-Match": '"v1"'})
    assert patched.status_code == 200 and patched.json()["version"] == 2
    wf = await finish_stage(client, org, deal["id"])
    assert (wf["template_name"], wf["current_stage"]) == ("Quick sale", "close")
    done = await finish_stage(client, org, deal["id"])
    assert (done["status"], done["deal_status"]) == ("completed", "won")
    assert (await client.delete(f"{V1}/workflow-templates/QUICK_SALE", headers=org.admin.h)).status_code == 204
    assert (await view(client, org.rep, deal["id"]))["template_name"] == "Quick sale"
    assert {"workflow_template.created", "workflow_template.updated", "workflow_template.deleted"} <= set(
        await event_types(db, "QUICK_SALE"))


@pytest.mark.parametrize("persona, status", [
    pytest.param("manager", 403, id="manager"), pytest.param("rep", 403, id="rep"),
    pytest.param("viewer", 403, id="viewer"), pytest.param("marketing", 403, id="marketing"),
])
async def test_only_crm_admins_manage_templates(client: httpx.AsyncClient, db: Database, org: Org, persona: str,
                                                status: int) -> None:
    assert (await client.post(f"{V1}/workflow-templates", json=QUICK, headers=org.admin.h)).status_code == 201
    who = getattr(org, persona)
    before = await count_rows(db)
    problem(await client.post(f"{V1}/workflow-templates", json={**QUICK, "id": "OTHER"}, headers=who.h), status)
    problem(await client.patch(f"{V1}/workflow-templates/QUICK_SALE", json={"name": "x"}, headers=who.h), status)
    problem(await client.delete(f"{V1}/workflow-templates/QUICK_SALE", headers=who.h), status)
    assert await count_rows(db) == before


async def test_built_in_templates_cannot_be_replaced_changed_or_deleted(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    before = await count_rows(db)
    problem(await client.post(f"{V1}/workflow-templates", json={**QUICK, "id": "SALES_PROCESS"},
                              headers=org.admin.h), 409)
    problem(await client.patch(f"{V1}/workflow-templates/SALES_PROCESS", json={"name": "x"}, headers=org.admin.h),
            409)
    problem(await client.delete(f"{V1}/workflow-templates/SALES_PROCESS", headers=org.admin.h), 409)
    assert await count_rows(db) == before
    got = await client.get(f"{V1}/workflow-templates/SALES_PROCESS", headers=org.rep.h)
    assert got.status_code == 200 and got.json()["builtin"] is True


async def test_templates_are_per_org(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    assert (await client.post(f"{V1}/workflow-templates", json=QUICK, headers=org.admin.h)).status_code == 201
    problem(await client.get(f"{V1}/workflow-templates/QUICK_SALE", headers=other_org.admin.h), 404)
    problem(await client.delete(f"{V1}/workflow-templates/QUICK_SALE", headers=other_org.admin.h), 404)
    deal = await make_deal(client, other_org.rep)
    got = problem(await start(client, other_org.rep, deal["id"], {"template_id": "QUICK_SALE"}), 422)
    assert got["errors"][0]["field"] == "template_id"
    # The same id is free in the other org.
    assert (await client.post(f"{V1}/workflow-templates", json=QUICK, headers=other_org.admin.h)).status_code == 201
    problem(await client.post(f"{V1}/workflow-templates", json=QUICK, headers=org.admin.h), 409)


def _with(**change: Any) -> dict[str, Any]:
    import copy

    body = copy.deepcopy(QUICK)
    body.update(change)
    return body


@pytest.mark.parametrize("body", [
    pytest.param(_with(stages=[]), id="no-stages"),
    pytest.param(_with(stages=[QUICK["stages"][0], QUICK["stages"][0]]), id="duplicate-stage"),
    pytest.param(_with(stages=[{**QUICK["stages"][0], "entry_guard": {"id": "g", "title": "G",
                                                                      "kind": "confirmation"}}]),
                 id="guard-on-first-stage"),
    pytest.param(_with(stages=[QUICK["stages"][0], {**QUICK["stages"][1], "entry_guard": {
        "id": "g", "title": "G", "kind": "task-complete", "task_key": "invoice"}}]), id="guard-on-own-task"),
    pytest.param(_with(stages=[QUICK["stages"][0], {**QUICK["stages"][1], "entry_guard": {
        "id": "g", "title": "G", "kind": "task-complete"}}]), id="task-guard-without-task"),
    pytest.param(_with(stages=[{**QUICK["stages"][0], "tasks": [{"key": "a", "title": "A", "role": "boss"}]}]),
                 id="unknown-role"),
    pytest.param(_with(stages=[{**QUICK["stages"][0], "tasks": [{"key": "a", "title": "A", "role": "sales-rep",
                                                                  "condition": "full-moon"}]}]),
                 id="unknown-condition"),
    pytest.param(_with(stages=[{**QUICK["stages"][0], "tasks": [{"key": "a", "title": "A", "role": "sales-rep",
                                                                  "due_days": 9999}]}]), id="due-days-out-of-range"),
    pytest.param(_with(stages=[{**QUICK["stages"][0], "key": "Bad Key"}]), id="bad-key"),
    pytest.param(_with(name="x" * 201), id="name-too-long"),
    pytest.param(_with(id=""), id="empty-id"),
    pytest.param(_with(on_complete="deal.mark-lost"), id="unknown-on-complete"),
    pytest.param(_with(extra=1), id="unknown-field"),
    pytest.param(_with(stages="pitch"), id="stages-wrong-type"),
])
async def test_bad_templates_are_refused(client: httpx.AsyncClient, db: Database, org: Org, body: dict[str, Any]
                                         ) -> None:
    before = await count_rows(db)
    problem(await client.post(f"{V1}/workflow-templates", json=body, headers=org.admin.h), 422)
    assert await count_rows(db) == before


async def test_template_patch_checks_and_versions(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    assert (await client.post(f"{V1}/workflow-templates", json=QUICK, headers=org.admin.h)).status_code == 201
    before = await count_rows(db)
    url = f"{V1}/workflow-templates/QUICK_SALE"
    problem(await client.patch(url, json={"name": None}, headers=org.admin.h), 422)
    problem(await client.patch(url, json={"stages": [QUICK["stages"][1]]}, headers=org.admin.h), 422)
    problem(await client.patch(url, json={"name": "x"}, headers={**org.admin.h, "If-Match": '"v7"'}), 412)
    problem(await client.patch(f"{V1}/workflow-templates/NOPE", json={"name": "x"}, headers=org.admin.h), 404)
    assert await count_rows(db) == before
    same = await client.patch(url, json={"name": "Quick sale"}, headers=org.admin.h)
    assert same.status_code == 200 and same.json()["version"] == 1


# --- finished workflows refuse every verb ----------------------------------------------------------

async def _finished(client: httpx.AsyncClient, org: Org, how: str) -> dict[str, Any]:
    deal = await make_deal(client, org.rep)
    await start(client, org.rep, deal["id"])
    if how == "completed":
        await to_closing(client, org, deal["id"])
        await finish_stage(client, org, deal["id"])
    else:
        r = await client.post(f"{V1}/deals/{deal['id']}/abandon", headers=org.rep.h)
        assert r.status_code == 200, r.text
    assert (await view(client, org.rep, deal["id"]))["status"] == how
    return deal


@pytest.mark.parametrize("how", ["completed", "cancelled"])
@pytest.mark.parametrize("verb", ["confirm", "advance", "start"])
async def test_a_finished_workflow_refuses_every_verb(client: httpx.AsyncClient, db: Database, org: Org, how: str,
                                                      verb: str) -> None:
    deal = await _finished(client, org, how)
    before = await count_rows(db)
    if verb == "confirm":
        r = await confirm(client, org.manager, deal["id"])
    elif verb == "advance":
        r = await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.manager.h)
    else:
        r = await start(client, org.manager, deal["id"])  # the deal is closed now
    problem(r, 409)
    assert await count_rows(db) == before


async def test_forcing_past_closing_wins_under_the_usual_rules(client: httpx.AsyncClient, db: Database,
                                                               org: Org) -> None:
    deal = await make_deal(client, org.rep, close=None)
    await start(client, org.rep, deal["id"])
    for _ in range(3):
        r = await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.manager.h)
        assert r.status_code == 200, r.text
    assert r.json()["current_stage"] == "closing"
    before = await count_rows(db)
    body = problem(await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.manager.h), 422)
    assert body["rule"] == "deal-won-requires-close-date"
    assert await count_rows(db) == before
    r = await client.patch(f"{V1}/deals/{deal['id']}", json={"expected_close_date": CLOSE_DATE}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    r = await client.post(f"{V1}/deals/{deal['id']}/workflow/advance", headers=org.manager.h)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["deal_status"]) == ("completed", "won")


async def test_deleting_the_deal_cancels_its_workflow(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    assert (await client.delete(f"{V1}/deals/{deal['id']}", headers=org.admin.h)).status_code == 204
    problem(await client.get(f"{V1}/deals/{deal['id']}/workflow", headers=org.admin.h), 404)
    assert (await event_types(db, wf["id"])) == ["workflow.started", "workflow.cancelled"]
    for task in stage(wf, "discovery")["tasks"]:  # its open tasks were closed with it
        problem(await complete(client, org.rep, task), 409)
    assert (await event_types(db, wf["id"])) == ["workflow.started", "workflow.cancelled"]
    assert (await client.post(f"{V1}/deals/{deal['id']}/restore", headers=org.admin.h)).status_code == 200
    assert (await view(client, org.rep, deal["id"]))["status"] == "cancelled"
    assert (await start(client, org.rep, deal["id"])).status_code == 201  # a restored deal may start afresh


# --- reassigning the deal moves its workflow's open tasks (docs/workflows.md) -------------------

async def _newcomer(client: httpx.AsyncClient, org: Org, *, manager: Persona | None) -> Persona:
    """Another sales-rep (managed by ``manager`` when given), with an API key."""
    body = {"email": "newcomer@acme.test", "name": "Newcomer", "roles": ["sales-rep"],
            "manager_id": manager.user_id if manager else None}
    r = await client.post(f"{V1}/users", json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    r = await client.post(f"{V1}/users/{uid}/api-keys", json={"name": "k"}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return Persona("newcomer", uid, r.json()["key"], r.json()["id"], ("sales-rep",), org.id)


async def _at_proposal(client: httpx.AsyncClient, org: Org, amount: str = "60000"
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    deal = await make_deal(client, org.rep, amount=amount)
    assert (await start(client, org.rep, deal["id"])).status_code == 201
    wf = await finish_stage(client, org, deal["id"])
    assert wf["current_stage"] == "proposal"
    return deal, wf


@pytest.mark.parametrize("how", ["reassign", "patch"])
async def test_reassigning_a_deal_hands_its_open_workflow_tasks_to_the_new_owner(
        client: httpx.AsyncClient, db: Database, org: Org, how: str) -> None:
    deal, wf = await _at_proposal(client, org)
    newcomer = await _newcomer(client, org, manager=None)  # no manager: manager tasks go to a sales-manager
    done = stage(wf, "discovery")["tasks"]
    if how == "reassign":
        r = await client.post(f"{V1}/deals/{deal['id']}/reassign", json={"owner_id": newcomer.user_id},
                              headers=org.manager.h)
    else:
        r = await client.patch(f"{V1}/deals/{deal['id']}", json={"owner_id": newcomer.user_id}, headers=org.manager.h)
    assert r.status_code == 200, r.text
    got = await view(client, org.admin, deal["id"])
    assigned = {t["key"]: t["assignee_id"] for t in open_tasks(got)}
    assert assigned == {"prepare-proposal": newcomer.user_id, "manager-approval": org.manager.user_id,
                        "send-proposal": newcomer.user_id}
    assert {t["activity_id"]: t["assignee_id"] for t in stage(got, "discovery")["tasks"]} == {
        t["activity_id"]: org.rep.user_id for t in done}  # finished tasks keep who did them
    mine = (await client.get(f"{V1}/tasks/mine", headers=newcomer.h)).json()["data"]
    assert {t["subject"] for t in mine} == {"Prepare proposal document", "Send proposal to contact"}
    assert (await client.get(f"{V1}/tasks/mine", headers=org.rep.h)).json()["data"] == []
    moved = [t for t in open_tasks(got) if t["assignee_id"] == newcomer.user_id]
    for t in moved:
        assert (await event_types(db, t["activity_id"])) == ["activity.created", "activity.updated"]
        upd = await event_data(db, t["activity_id"], "activity.updated")
        assert (upd["before"], upd["after"]) == ({"assignee_id": org.rep.user_id}, {"assignee_id": newcomer.user_id})
    async with db.engine.connect() as conn:
        told = (await conn.execute(sa.select(notifications.c.subject_id).where(
            notifications.c.user_id == newcomer.user_id, notifications.c.type == "task.assigned"))).scalars().all()
    assert sorted(told) == sorted(t["activity_id"] for t in moved)
    # The new owner can now finish the stage.
    for t in moved:
        assert (await complete(client, newcomer, t)).status_code == 200


async def test_the_new_owners_manager_takes_over_the_manager_task(client: httpx.AsyncClient, org: Org) -> None:
    deal, _ = await _at_proposal(client, org)
    r = await client.post(f"{V1}/users", json={"email": "boss2@acme.test", "name": "Boss Two",
                                               "roles": ["sales-manager"]}, headers=org.admin.h)
    boss2 = Persona("boss2", r.json()["id"], "", "", ("sales-manager",), org.id)
    newcomer = await _newcomer(client, org, manager=boss2)
    r = await client.post(f"{V1}/deals/{deal['id']}/reassign", json={"owner_id": newcomer.user_id},
                          headers=org.admin.h)
    assert r.status_code == 200, r.text
    assigned = {t["key"]: t["assignee_id"] for t in open_tasks(await view(client, org.admin, deal["id"]))}
    assert assigned["manager-approval"] == boss2.user_id


async def test_a_task_handed_to_someone_else_by_hand_stays_with_them(client: httpx.AsyncClient, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    first, second = stage(wf, "discovery")["tasks"]
    r = await client.patch(f"{V1}/activities/{first['activity_id']}", json={"assignee_id": org.other_rep.user_id},
                           headers=org.admin.h)
    assert r.status_code == 200, r.text
    r = await client.post(f"{V1}/deals/{deal['id']}/reassign", json={"owner_id": org.manager.user_id},
                          headers=org.admin.h)
    assert r.status_code == 200, r.text
    assigned = {t["activity_id"]: t["assignee_id"] for t in open_tasks(await view(client, org.admin, deal["id"]))}
    assert assigned == {first["activity_id"]: org.other_rep.user_id, second["activity_id"]: org.manager.user_id}


async def test_a_refused_reassign_moves_no_task(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    deal = await make_deal(client, org.rep)
    wf = (await start(client, org.rep, deal["id"])).json()
    before = await count_rows(db)
    problem(await client.post(f"{V1}/deals/{deal['id']}/reassign", json={"owner_id": org.other_rep.user_id},
                              headers=org.rep.h), 403)
    problem(await client.patch(f"{V1}/deals/{deal['id']}", json={"owner_id": "user_nobody"}, headers=org.admin.h), 422)
    assert await count_rows(db) == before
    assert {t["assignee_id"] for t in open_tasks(await view(client, org.admin, deal["id"]))} == {org.rep.user_id}
    assert [t["status"] for t in stage(wf, "discovery")["tasks"]] == ["open", "open"]
