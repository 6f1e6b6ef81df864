"""Activities over HTTP (seed 004 §4 Activity, §8; seed 002 communications; DESIGN §3, §4).

Logging, reading, listing, changing, completing and deleting activities; tasks and "my open tasks";
an outbound communication moving its contact's ``last_contacted_at`` and its ``new`` leads to
``contacted``; the activity rows of the seed 004 matrix per persona; links to other orgs' records;
bad input. A refused call changes nothing (row counts compared).
"""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.activities import model
from kith.activities.schemas import ActivityCreate
from kith.activities.service import log_activity
from kith.activities.tables import activities
from kith.auth.model import Actor
from kith.core import clock
from kith.core.db import Database
from kith.core.errors import InvalidTransition
from kith.core.uow import UnitOfWork
from kith.notifications.tables import notifications
from tests.api.activity_helpers import (
    ACTS,
    V1,
    company,
    contact,
    deal,
    events_of,
    get_contact,
    lead,
    lead_status,
    log,
    select,
)
from tests.conftest import Org, count_rows, problem

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def iso(d: datetime) -> str:
    return d.isoformat()


def when(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


# --- logging -------------------------------------------------------------------------------------

async def test_logging_a_call_writes_the_row_and_its_event(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    with clock.frozen(T0):
        a = await log(client, org.rep, type="call", subject="Discovery", body="Talked budget", outcome="interested",
                      channel="phone", direction="inbound", contact_id=c["id"], metadata={"k": 1})
    assert a["id"].startswith("activity_") and a["type"] == "call" and a["status"] == "completed"
    assert when(a["occurred_at"]) == T0 and when(a["completed_at"]) == T0 and a["actor_id"] == org.rep.user_id
    assert a["assignee_id"] is None and a["overdue"] is False and a["version"] == 1 and a["metadata"] == {"k": 1}
    [row] = await select(db, activities, activities.c.id == a["id"])
    assert row["org_id"] == org.id and row["body"] == "Talked budget" and row["channel"] == "phone"
    [ev] = await events_of(db, "activity.created", a["id"])
    assert ev["actor_id"] == org.rep.user_id and ev["data"]["after"]["subject"] == "Discovery"
    assert ev["data"]["effects"] == {}  # inbound: nobody was contacted
    r = await client.get(f"{ACTS}/{a['id']}", headers=org.rep.h)
    assert r.status_code == 200 and r.json()["subject"] == "Discovery" and r.headers["etag"] == '"v1"'


async def test_an_activity_on_a_lead_or_deal_is_also_about_its_contact(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    lead_id = await lead(db, org, c["id"], org.rep)
    deal_id = await deal(db, org, org.rep, c["id"])
    assert (await log(client, org.rep, type="note", lead_id=lead_id))["contact_id"] == c["id"]
    assert (await log(client, org.rep, type="note", deal_id=deal_id))["contact_id"] == c["id"]


@pytest.mark.parametrize("type_", sorted(model.COMMUNICATIONS))
async def test_an_outbound_communication_marks_its_contact_contacted_and_its_new_leads(
        client: httpx.AsyncClient, db: Database, org: Org, type_: str) -> None:
    c = await contact(client, org.rep)
    l1 = await lead(db, org, c["id"], org.rep)
    l2 = await lead(db, org, c["id"], org.rep, source="form")
    qualified = await lead(db, org, c["id"], org.rep, status="qualified", source="x")
    with clock.frozen(T0):
        a = await log(client, org.rep, type=type_, direction="outbound", contact_id=c["id"],
                      occurred_at=iso(T0 - timedelta(hours=1)))
    got = await get_contact(client, org, c["id"])
    assert when(got["last_contacted_at"]) == T0 - timedelta(hours=1) and got["version"] == c["version"] + 1
    assert [await lead_status(db, x) for x in (l1, l2, qualified)] == ["contacted", "contacted", "qualified"]
    contacted = await events_of(db, "lead.contacted")
    assert {e["subject_id"] for e in contacted} == {l1, l2} and all(e["data"]["activity_id"] == a["id"]
                                                                   for e in contacted)
    [ev] = await events_of(db, "activity.created", a["id"])
    assert ev["data"]["effects"]["leads_contacted"] == sorted([l1, l2])


async def test_an_outbound_communication_naming_a_lead_moves_only_that_lead(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    l1, l2 = await lead(db, org, c["id"], org.rep), await lead(db, org, c["id"], org.rep, source="b")
    await log(client, org.rep, type="email", direction="outbound", lead_id=l1)
    assert [await lead_status(db, x) for x in (l1, l2)] == ["contacted", "new"]
    assert (await get_contact(client, org, c["id"]))["last_contacted_at"] is not None


@pytest.mark.parametrize("body", [
    pytest.param({"type": "call", "direction": "inbound"}, id="inbound"),
    pytest.param({"type": "note", "direction": "outbound"}, id="a-note-is-no-communication"),
    pytest.param({"type": "email"}, id="no-direction"),
    pytest.param({"type": "call", "direction": "outbound", "due_at": "2030-01-01T00:00:00Z"}, id="planned"),
])
async def test_other_activities_leave_the_contact_and_leads_alone(
        client: httpx.AsyncClient, db: Database, org: Org, body: dict[str, Any]) -> None:
    c = await contact(client, org.rep)
    lead_id = await lead(db, org, c["id"], org.rep)
    await log(client, org.rep, contact_id=c["id"], **body)
    got = await get_contact(client, org, c["id"])
    assert got["last_contacted_at"] is None and got["version"] == c["version"]
    assert await lead_status(db, lead_id) == "new"


async def test_last_contacted_at_only_moves_forward(client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.rep)
    with clock.frozen(T0):
        await log(client, org.rep, type="sms", direction="outbound", contact_id=c["id"])
        await log(client, org.rep, type="sms", direction="outbound", contact_id=c["id"],
                  occurred_at=iso(T0 - timedelta(days=3)))
    assert when((await get_contact(client, org, c["id"]))["last_contacted_at"]) == T0


async def test_completing_a_planned_outbound_call_contacts_the_person(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    lead_id = await lead(db, org, c["id"], org.rep)
    with clock.frozen(T0):
        a = await log(client, org.rep, type="call", direction="outbound", contact_id=c["id"],
                      due_at=iso(T0 + timedelta(days=1)))
    assert a["status"] == "open" and a["assignee_id"] == org.rep.user_id
    with clock.frozen(T0 + timedelta(hours=5)):
        r = await client.post(f"{ACTS}/{a['id']}/complete", json={"outcome": "booked demo"}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["outcome"] == "booked demo"
    assert when((await get_contact(client, org, c["id"]))["last_contacted_at"]) == T0 + timedelta(hours=5)
    assert await lead_status(db, lead_id) == "contacted"
    [ev] = await events_of(db, "activity.completed", a["id"])
    assert ev["data"]["before"]["completed_at"] is None and ev["data"]["after"]["outcome"] == "booked demo"


# --- tasks ---------------------------------------------------------------------------------------

async def test_assigning_a_task_to_someone_else_notifies_them(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    t = await log(client, org.manager, type="task", subject="Send the proposal", assignee_id=org.rep.user_id,
                  due_at="2030-01-01T09:00:00Z")
    assert t["status"] == "open" and t["assignee_id"] == org.rep.user_id and t["actor_id"] == org.manager.user_id
    [n] = await select(db, notifications, notifications.c.user_id == org.rep.user_id)
    assert n["type"] == "task.assigned" and n["subject_id"] == t["id"]
    assert n["data"]["assigned_by"] == org.manager.user_id
    mine = await log(client, org.manager, type="task", subject="Mine")  # to yourself: no notification
    assert mine["assignee_id"] == org.manager.user_id
    assert len(await select(db, notifications)) == 1
    r = await client.patch(f"{ACTS}/{mine['id']}", json={"assignee_id": org.other_rep.user_id}, headers=org.manager.h)
    assert r.status_code == 200, r.text
    assert [n["type"] for n in await select(db, notifications, notifications.c.user_id == org.other_rep.user_id)] == [
        "task.assigned"]


@pytest.mark.parametrize("assignee", ["user_nobody", "other-org"])
async def test_a_task_for_no_active_user_of_the_org_is_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                                              other_org: Org, assignee: str) -> None:
    target = other_org.rep.user_id if assignee == "other-org" else assignee
    before = await count_rows(db)
    p = problem(await client.post(ACTS, json={"type": "task", "subject": "x", "assignee_id": target},
                                  headers=org.admin.h), 422)
    assert p["errors"][0]["field"] == "assignee_id"
    assert await count_rows(db) == before


async def test_my_open_tasks_are_ordered_by_due_date_with_the_overdue_flagged(
        client: httpx.AsyncClient, org: Org) -> None:
    with clock.frozen(T0):
        later = await log(client, org.manager, type="task", subject="later", assignee_id=org.rep.user_id,
                          due_at=iso(T0 + timedelta(days=2)))
        undated = await log(client, org.rep, type="task", subject="undated")
        late = await log(client, org.rep, type="task", subject="late", due_at=iso(T0 - timedelta(days=1)))
        soon = await log(client, org.rep, type="call", subject="soon", due_at=iso(T0 + timedelta(hours=1)))
        done = await log(client, org.rep, type="task", subject="done", due_at=iso(T0))
        assert (await client.post(f"{ACTS}/{done['id']}/complete", headers=org.rep.h)).status_code == 200
        await log(client, org.rep, type="task", subject="someone else's", assignee_id=org.manager.user_id)
        await log(client, org.rep, type="call", subject="logged")  # not a to-do
        r = await client.get(f"{V1}/tasks/mine", headers=org.rep.h)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert [t["id"] for t in data] == [late["id"], soon["id"], later["id"], undated["id"]]
        assert [t["overdue"] for t in data] == [True, False, False, False]
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (await client.get(f"{V1}/tasks/mine", params=params, headers=org.rep.h)).json()
            seen += [t["id"] for t in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [t["id"] for t in data]
        assert (await client.get(f"{V1}/tasks/mine", headers=org.viewer.h)).json()["data"] == []
    problem(await client.get(f"{V1}/tasks/mine", headers=org.marketing.h), 403)
    problem(await client.get(f"{V1}/tasks/mine", params={"cursor": "nope"}, headers=org.rep.h), 400)


async def test_the_list_filters_open_tasks_by_assignee_me(client: httpx.AsyncClient, org: Org) -> None:
    t = await log(client, org.rep, type="task", subject="mine")
    await log(client, org.rep, type="note", subject="a note")
    r = await client.get(ACTS, params={"assignee_id": "me", "open": "true"}, headers=org.rep.h)
    assert [x["id"] for x in r.json()["data"]] == [t["id"]]


# --- completing: the open → completed machine ------------------------------------------------------

@pytest.mark.parametrize(("start", "target"), [(s, t) for s in model.STATUSES for t in model.STATUSES])
def test_every_status_pair_is_allowed_or_refused_by_the_machine(start: str, target: str) -> None:
    if target in model.TRANSITIONS[start]:
        model.assert_status_change_allowed(start, target)
    else:
        with pytest.raises(InvalidTransition):
            model.assert_status_change_allowed(start, target)


@given(st.lists(st.sampled_from(["complete", "edit"]), max_size=20), st.sampled_from(model.STATUSES))
def test_an_activity_is_completed_at_most_once(actions: list[str], start: str) -> None:
    """Whatever the sequence, the first complete of an open activity succeeds and every other is refused."""
    status, completions, refusals = start, 0, 0
    for action in actions:
        if action != "complete":
            continue
        try:
            model.assert_status_change_allowed(status, "completed")
            status, completions = "completed", completions + 1
        except InvalidTransition:
            refusals += 1
    wanted = 1 if start == "open" and "complete" in actions else 0
    assert completions == wanted and refusals == actions.count("complete") - wanted
    assert status == ("completed" if wanted or start == "completed" else "open")


@pytest.mark.parametrize("start", model.STATUSES)
async def test_complete_from_each_status(client: httpx.AsyncClient, db: Database, org: Org, start: str) -> None:
    a = await log(client, org.rep, type="task" if start == "open" else "note")
    assert a["status"] == start
    before = await count_rows(db)
    r = await client.post(f"{ACTS}/{a['id']}/complete", headers=org.rep.h)
    if start == "open":
        assert r.status_code == 200 and r.json()["status"] == "completed" and r.json()["version"] == 2
        assert len(await events_of(db, "activity.completed", a["id"])) == 1
    else:
        assert problem(r, 409)["type"].endswith("invalid-transition")
        assert await count_rows(db) == before
        assert (await client.get(f"{ACTS}/{a['id']}", headers=org.rep.h)).json() == a


async def test_completing_a_workflow_task_tells_its_workflow_in_the_same_transaction(
        client: httpx.AsyncClient, db: Database, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, bool]] = []

    async def task_completed(uow: UnitOfWork, actor: Actor, row: dict[str, Any]) -> None:
        calls.append((row["id"], row["status"], uow.is_open))

    import kith.workflows

    try:
        from kith.workflows import service as real
    except ModuleNotFoundError:
        fake = types.ModuleType("kith.workflows.service")
        monkeypatch.setitem(sys.modules, "kith.workflows.service", fake)
        monkeypatch.setattr(kith.workflows, "service", fake, raising=False)
        real = fake
    monkeypatch.setattr(real, "task_completed", task_completed, raising=False)
    # The workflow engine creates its tasks through the service, inside its own transaction.
    uow = UnitOfWork(db)
    actor = Actor(org.id, org.manager.user_id, frozenset({"sales-manager"}), frozenset({org.manager.user_id}))
    async with uow.transaction(write=True):
        t = await log_activity(uow, actor, ActivityCreate(type="task", subject="Needs analysis call"),
                               extra={"assignee_id": org.rep.user_id, "metadata": {"workflow_id": "wf_1"}})
        plain = await log_activity(uow, actor, ActivityCreate(type="task", subject="no workflow"))
    assert t["metadata"] == {"workflow_id": "wf_1"} and t["assignee_id"] == org.rep.user_id
    assert (await client.post(f"{ACTS}/{t['id']}/complete", headers=org.rep.h)).status_code == 200
    assert (await client.post(f"{ACTS}/{plain['id']}/complete", headers=org.manager.h)).status_code == 200
    assert calls == [(t["id"], "completed", True)]


async def test_log_activity_joins_the_callers_transaction(db: Database, org: Org) -> None:
    uow = UnitOfWork(db)
    before = await count_rows(db, "activities", "events")
    with pytest.raises(RuntimeError):
        async with uow.transaction(write=True):
            await log_activity(uow, Actor.system(org.id), ActivityCreate(type="note", subject="rolled back"))
            raise RuntimeError("the outer verb failed")
    assert await count_rows(db, "activities", "events") == before


# --- change and delete ---------------------------------------------------------------------------

async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    a = await log(client, org.rep, subject="Old", metadata={"a": 1, "b": 2})
    r = await client.patch(f"{ACTS}/{a['id']}", json={"subject": "New", "metadata": {"b": None, "c": 3}},
                           headers={**org.rep.h, "If-Match": '"v1"'})
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "New" and r.json()["metadata"] == {"a": 1, "c": 3} and r.json()["version"] == 2
    [ev] = await events_of(db, "activity.updated", a["id"])
    assert ev["data"]["before"]["subject"] == "Old" and ev["data"]["after"]["subject"] == "New"
    before = await count_rows(db)
    problem(await client.patch(f"{ACTS}/{a['id']}", json={"subject": "Stale"},
                               headers={**org.rep.h, "If-Match": '"v1"'}), 412)
    for body in ({"subject": None}, {"type": None}, {"occurred_at": None}, {"type": "fax"}, {"subject": ""},
                 {"id": "x"}, {"direction": "sideways"}):
        problem(await client.patch(f"{ACTS}/{a['id']}", json=body, headers=org.rep.h), 422)
    assert await count_rows(db) == before


async def test_patching_a_logged_call_to_outbound_contacts_the_person(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    a = await log(client, org.rep, type="call", direction="inbound", contact_id=c["id"])
    assert (await get_contact(client, org, c["id"]))["last_contacted_at"] is None
    r = await client.patch(f"{ACTS}/{a['id']}", json={"direction": "outbound"}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    assert when((await get_contact(client, org, c["id"]))["last_contacted_at"]) == when(a["occurred_at"])


async def test_delete_hides_the_activity_and_leaves_a_trace_on_its_records(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    a = await log(client, org.rep, contact_id=c["id"])
    assert (await client.delete(f"{ACTS}/{a['id']}", headers=org.rep.h)).status_code == 204
    problem(await client.get(f"{ACTS}/{a['id']}", headers=org.rep.h), 404)
    problem(await client.delete(f"{ACTS}/{a['id']}", headers=org.rep.h), 404)
    assert (await client.get(ACTS, headers=org.admin.h)).json()["data"] == []
    timeline = (await client.get(f"{V1}/contacts/{c['id']}/timeline", headers=org.admin.h)).json()["data"]
    assert [(i["kind"], i["type"]) for i in timeline][:1] == [("event", "activity.deleted")]


# --- permissions (seed 004 activity rows) ------------------------------------------------------------

@pytest.mark.parametrize(("persona", "status"), [("admin", 201), ("manager", 201), ("rep", 201), ("other_rep", 201),
                                                 ("support", 201), ("marketing", 403), ("viewer", 403)])
async def test_who_may_log_an_activity(client: httpx.AsyncClient, db: Database, org: Org, persona: str,
                                       status: int) -> None:
    c = await contact(client, org.admin)
    before = await count_rows(db)
    r = await client.post(ACTS, json={"type": "call", "subject": "x", "contact_id": c["id"]},
                          headers=getattr(org, persona).h)
    if status == 201:
        assert r.status_code == 201, r.text
    else:
        problem(r, status)
        assert await count_rows(db) == before


# Reading the rep's activity, and writing it, per persona. Own = author or assignee (or their manager).
READS = {"admin": 200, "manager": 200, "rep": 200, "other_rep": 404, "support": 200, "marketing": 403, "viewer": 200}
WRITES = {"admin": 200, "manager": 200, "rep": 200, "other_rep": 404, "support": 403, "marketing": 403,
          "viewer": 403}


@pytest.mark.parametrize("persona", list(READS))
async def test_reading_and_writing_the_reps_activity_per_persona(client: httpx.AsyncClient, db: Database,
                                                                 org: Org, persona: str) -> None:
    who = getattr(org, persona)
    a = await log(client, org.rep, type="task", subject="rep's")
    r = await client.get(f"{ACTS}/{a['id']}", headers=who.h)
    assert r.status_code == READS[persona], r.text
    listed = await client.get(ACTS, headers=who.h)
    if READS[persona] == 403:
        problem(listed, 403)
    else:
        assert (a["id"] in [x["id"] for x in listed.json()["data"]]) == (READS[persona] == 200)
    before = await count_rows(db)
    for call in (client.patch(f"{ACTS}/{a['id']}", json={"subject": "edited"}, headers=who.h),
                 client.post(f"{ACTS}/{a['id']}/complete", headers=who.h)):
        r = await call
        if WRITES[persona] == 200:
            assert r.status_code == 200, r.text
        else:
            problem(r, WRITES[persona])
    if WRITES[persona] != 200:
        assert await count_rows(db) == before
        problem(await client.delete(f"{ACTS}/{a['id']}", headers=who.h), WRITES[persona])
        assert await count_rows(db) == before
    else:
        assert (await client.delete(f"{ACTS}/{a['id']}", headers=who.h)).status_code == 204


async def test_an_assignee_owns_the_task_they_were_given(client: httpx.AsyncClient, org: Org) -> None:
    t = await log(client, org.admin, type="task", subject="for other rep", assignee_id=org.other_rep.user_id)
    assert (await client.get(f"{ACTS}/{t['id']}", headers=org.other_rep.h)).status_code == 200
    assert (await client.post(f"{ACTS}/{t['id']}/complete", headers=org.other_rep.h)).status_code == 200
    problem(await client.get(f"{ACTS}/{t['id']}", headers=org.rep.h), 404)


async def test_support_may_change_only_its_own_activities(client: httpx.AsyncClient, org: Org) -> None:
    a = await log(client, org.support, type="chat", subject="ticket follow-up")
    r = await client.patch(f"{ACTS}/{a['id']}", json={"outcome": "solved"}, headers=org.support.h)
    assert r.status_code == 200, r.text


# --- links and tenancy ---------------------------------------------------------------------------

async def test_links_to_absent_invisible_or_foreign_records_are_refused(
        client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    mine = await contact(client, org.rep)
    foreign_contact = await contact(client, other_org.admin)
    foreign_company = await company(client, other_org.admin)
    others_lead = await lead(db, org, mine["id"], org.other_rep)
    others_deal = await deal(db, org, org.other_rep, mine["id"])
    other_contact = await contact(client, org.rep, name="Other")
    my_lead = await lead(db, org, mine["id"], org.rep, source="mine")
    cases = [
        ({"contact_id": foreign_contact["id"]}, "contact_id"),
        ({"contact_id": "contact_nope"}, "contact_id"),
        ({"company_id": foreign_company["id"]}, "company_id"),
        ({"deal_id": "deal_nope"}, "deal_id"),
        ({"deal_id": others_deal}, "deal_id"),  # a rep cannot see another rep's deal
        ({"lead_id": others_lead}, "lead_id"),
        ({"lead_id": my_lead, "contact_id": other_contact["id"]}, "lead_id"),
    ]
    before = await count_rows(db)
    for body, field in cases:
        p = problem(await client.post(ACTS, json={"type": "call", "subject": "x", "direction": "outbound", **body},
                                      headers=org.rep.h), 422)
        assert p["errors"][0]["field"] == field, (body, p)
    assert await count_rows(db) == before
    a = await log(client, org.rep)
    for body, _field in cases:
        problem(await client.patch(f"{ACTS}/{a['id']}", json=body, headers=org.rep.h), 422)
    # another org's admin sees none of it
    problem(await client.get(f"{ACTS}/{a['id']}", headers=other_org.admin.h), 404)
    problem(await client.patch(f"{ACTS}/{a['id']}", json={"subject": "x"}, headers=other_org.admin.h), 404)
    problem(await client.post(f"{ACTS}/{a['id']}/complete", headers=other_org.admin.h), 404)
    problem(await client.delete(f"{ACTS}/{a['id']}", headers=other_org.admin.h), 404)
    assert (await client.get(ACTS, headers=other_org.admin.h)).json()["data"] == []


async def test_a_records_activities(client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    c = await contact(client, org.admin)
    co = await company(client, org.admin)
    d = await deal(db, org, org.rep, c["id"])
    lead_id = await lead(db, org, c["id"], org.rep)
    mine = await log(client, org.rep, contact_id=c["id"], company_id=co["id"], deal_id=d, lead_id=lead_id)
    theirs = await log(client, org.other_rep, contact_id=c["id"])
    r = await client.get(f"{V1}/contacts/{c['id']}/activities", headers=org.admin.h)
    assert r.status_code == 200 and [x["id"] for x in r.json()["data"]] == [theirs["id"], mine["id"]]
    r = await client.get(f"{V1}/contacts/{c['id']}/activities", headers=org.rep.h)
    assert [x["id"] for x in r.json()["data"]] == [mine["id"]]
    for plural, rid in (("companies", co["id"]), ("deals", d), ("leads", lead_id)):
        r = await client.get(f"{V1}/{plural}/{rid}/activities", headers=org.rep.h)
        assert r.status_code == 200 and [x["id"] for x in r.json()["data"]] == [mine["id"]], (plural, r.text)
        problem(await client.get(f"{V1}/{plural}/{rid}/activities", headers=other_org.admin.h), 404)
    problem(await client.get(f"{V1}/deals/{d}/activities", headers=org.other_rep.h), 404)
    problem(await client.get(f"{V1}/contacts/{c['id']}/activities", headers=org.marketing.h), 403)
    problem(await client.get(f"{V1}/contacts/contact_nope/activities", headers=org.admin.h), 404)
    problem(await client.get(f"{V1}/contacts/{c['id']}/activities", params={"contact_id": "x"},
                             headers=org.admin.h), 422)


# --- lists ---------------------------------------------------------------------------------------

async def test_list_filters_and_keyset_pages(client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.admin)
    made = []
    for i, type_ in enumerate(["call", "email", "note", "call", "task"]):
        with clock.frozen(T0 + timedelta(minutes=i)):
            made.append(await log(client, org.admin, type=type_, contact_id=c["id"] if i % 2 else None,
                                  direction="inbound" if type_ == "call" else None))

    async def ids(**params: Any) -> list[str]:
        r = await client.get(ACTS, params=params, headers=org.admin.h)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["data"]]

    newest_first = [a["id"] for a in reversed(made)]
    assert await ids() == newest_first
    assert await ids(sort="occurred_at") == newest_first[::-1]
    assert await ids(type="call") == [made[3]["id"], made[0]["id"]]
    assert await ids(contact_id=c["id"]) == [made[3]["id"], made[1]["id"]]
    assert await ids(direction="inbound", type="call") == [made[3]["id"], made[0]["id"]]
    assert await ids(open="true") == [made[4]["id"]]
    assert await ids(open="false") == newest_first[1:]
    assert await ids(actor_id="me") == newest_first
    assert await ids(occurred_after=iso(T0 + timedelta(minutes=3))) == newest_first[:2]
    assert await ids(occurred_before=iso(T0 + timedelta(minutes=1))) == [made[0]["id"]]
    seen, cursor = [], None
    while True:
        r = (await client.get(ACTS, params={"limit": 2} | ({"cursor": cursor} if cursor else {}),
                              headers=org.admin.h)).json()
        seen += [x["id"] for x in r["data"]]
        cursor = r["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first


async def test_due_range_filters(client: httpx.AsyncClient, org: Org) -> None:
    a = await log(client, org.admin, type="task", due_at="2030-01-01T00:00:00Z")
    b = await log(client, org.admin, type="task", due_at="2030-02-01T00:00:00Z")
    r = await client.get(ACTS, params={"due_after": "2030-01-15T00:00:00+00:00"}, headers=org.admin.h)
    assert [x["id"] for x in r.json()["data"]] == [b["id"]]
    r = await client.get(ACTS, params={"due_before": "2030-01-15T00:00:00+00:00"}, headers=org.admin.h)
    assert [x["id"] for x in r.json()["data"]] == [a["id"]]


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"subject": "x"}, "type", id="no-type"),
    pytest.param({"type": "fax", "subject": "x"}, "type", id="unknown-type"),
    pytest.param({"type": 3, "subject": "x"}, "type", id="type-not-a-string"),
    pytest.param({"type": "call"}, "subject", id="no-subject"),
    pytest.param({"type": "call", "subject": ""}, "subject", id="empty-subject"),
    pytest.param({"type": "call", "subject": "x" * 501}, "subject", id="subject-too-long"),
    pytest.param({"type": "call", "subject": "x", "outcome": "x" * 201}, "outcome", id="outcome-too-long"),
    pytest.param({"type": "call", "subject": "x", "channel": "x" * 51}, "channel", id="channel-too-long"),
    pytest.param({"type": "call", "subject": "x", "direction": "up"}, "direction", id="unknown-direction"),
    pytest.param({"type": "call", "subject": "x", "occurred_at": "2026-01-01T00:00:00"}, "occurred_at",
                 id="naive-datetime"),
    pytest.param({"type": "call", "subject": "x", "due_at": "tomorrow"}, "due_at", id="not-a-datetime"),
    pytest.param({"type": "call", "subject": "x", "contact_id": "c" * 41}, "contact_id", id="id-too-long"),
    pytest.param({"type": "call", "subject": "x", "metadata": []}, "metadata", id="metadata-not-an-object"),
    pytest.param({"type": "call", "subject": "x", "actor_id": "user_x"}, "actor_id", id="unknown-field"),
    pytest.param({"type": "call", "subject": "x\x00"}, "subject", id="nul"),
])
async def test_bad_bodies_are_refused_naming_the_field(client: httpx.AsyncClient, db: Database, org: Org,
                                                       body: dict[str, Any], field: str) -> None:
    before = await count_rows(db)
    p = problem(await client.post(ACTS, json=body, headers=org.admin.h), 422)
    assert field in [e["field"].split(".")[0] for e in p.get("errors", [])], p
    assert await count_rows(db) == before


@pytest.mark.parametrize("params", [
    {"type": "fax"}, {"direction": "up"}, {"open": "maybe"}, {"due_after": "soon"}, {"color": "red"},
    {"sort": "subject"}, {"limit": "0"}, {"limit": "501"}, {"q": "hello"}, {"contact_id": "c" * 41},
])
async def test_bad_list_parameters_are_refused(client: httpx.AsyncClient, org: Org, params: dict[str, str]) -> None:
    problem(await client.get(ACTS, params=params, headers=org.admin.h), 422)


async def test_bad_cursors_and_ids(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(ACTS, params={"cursor": "garbage!!"}, headers=org.admin.h), 400)
    problem(await client.get(f"{ACTS}/{'a' * 41}", headers=org.admin.h), 422)
    problem(await client.get(f"{ACTS}/activity_nope", headers=org.admin.h), 404)
    problem(await client.post(f"{ACTS}/activity_nope/complete", headers=org.admin.h), 404)
    a = await log(client, org.admin, type="task")
    problem(await client.post(f"{ACTS}/{a['id']}/complete", json={"outcome": "x" * 201}, headers=org.admin.h), 422)
    problem(await client.post(f"{ACTS}/{a['id']}/complete", json={"extra": 1}, headers=org.admin.h), 422)
    problem(await client.post(f"{ACTS}/{a['id']}/complete", content=b"{", headers={
        **org.admin.h, "content-type": "application/json"}), 400)
