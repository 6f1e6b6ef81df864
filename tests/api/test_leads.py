"""Leads over HTTP (seed 004 §4 and §8, DESIGN §5.3): CRUD, list filters and keyset pages, the lead
machine's verbs and rules, permissions per persona (a sales-rep sees only their own leads, the
manager the team's), another org's ids and bad input. A refused call changes nothing: every
table's row count and the lead as read are compared before and after.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kith.auth.model import Actor
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.leads import service
from kith.leads.model import STATUSES, TRANSITIONS, VERBS
from tests.api._lead_helpers import (
    LEADS,
    PERSONAS,
    V1,
    events_of,
    get_lead,
    new_contact,
    new_lead,
    notifications_of,
    set_status,
    snapshot,
    verb,
)
from tests.conftest import Org, count_rows, problem

# --- create / read -----------------------------------------------------------------------------------


async def test_creating_a_lead_writes_it_and_its_event(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.rep, email="ada@example.com")
    r = await client.post(LEADS, json={"contact_id": contact["id"], "title": "Ada wants a demo", "source": "web",
                                       "score": 25, "channel": "form", "payload": {"utm": "x"}}, headers=org.rep.h)
    assert r.status_code == 201, r.text
    lead = r.json()
    assert r.headers["location"] == f"{LEADS}/{lead['id']}" and r.headers["etag"] == '"v1"'
    assert (lead["status"], lead["owner_id"], lead["contact_id"]) == ("new", org.rep.user_id, contact["id"])
    assert (lead["score"], lead["channel"], lead["payload"]) == (25, "form", {"utm": "x"})
    assert await get_lead(client, org, lead["id"]) == lead
    [event] = await events_of(db, "lead.created", lead["id"])
    assert event["actor_id"] == org.rep.user_id and event["data"]["after"]["title"] == "Ada wants a demo"
    r = await client.get(f"{V1}/contacts/{contact['id']}/timeline", headers=org.admin.h)
    assert "lead.created" in [e["type"] for e in r.json()["data"]]


async def test_a_lead_without_a_title_is_named_after_its_contact_and_source(client: httpx.AsyncClient,
                                                                           org: Org) -> None:
    contact = await new_contact(client, org.admin, name="Grace Hopper")
    r = await client.post(LEADS, json={"contact_id": contact["id"], "source": "referral"}, headers=org.admin.h)
    assert r.json()["title"] == "Grace Hopper (referral)"


READ_ALL = {"admin", "manager", "marketing", "viewer"}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_who_may_read_which_leads(client: httpx.AsyncClient, org: Org, persona: str) -> None:
    """lead:read — ✓ admin, manager, marketing, viewer; ◑ sales-rep (own; another's is 404); — support."""
    mine = await new_lead(client, org.rep)
    theirs = await new_lead(client, org.other_rep)
    who = getattr(org, persona)
    listed = await client.get(LEADS, headers=who.h)
    if persona == "support":
        problem(listed, 403)
        problem(await client.get(f"{LEADS}/{mine['id']}", headers=who.h), 403)
        return
    ids = {lead["id"] for lead in listed.json()["data"]}
    visible = {"rep": {mine["id"]}, "other_rep": {theirs["id"]}}.get(persona, {mine["id"], theirs["id"]})
    assert ids == visible
    for lead in (mine, theirs):
        r = await client.get(f"{LEADS}/{lead['id']}", headers=who.h)
        if lead["id"] in visible:
            assert r.status_code == 200 and r.json() == lead
        else:
            problem(r, 404)


async def test_the_manager_sees_the_leads_of_their_team(client: httpx.AsyncClient, org: Org) -> None:
    reps = await new_lead(client, org.rep)
    await new_lead(client, org.other_rep)
    r = await client.get(LEADS, params={"owner_id": org.rep.user_id}, headers=org.manager.h)
    assert [lead["id"] for lead in r.json()["data"]] == [reps["id"]]


@pytest.mark.parametrize("persona, status", [("admin", 201), ("manager", 201), ("rep", 201), ("marketing", 201),
                                             ("support", 403), ("viewer", 403)])
async def test_who_may_create_a_lead(client: httpx.AsyncClient, db: Database, org: Org, persona: str,
                                     status: int) -> None:
    contact = await new_contact(client, org.admin)
    before = await count_rows(db)
    r = await client.post(LEADS, json={"contact_id": contact["id"]}, headers=getattr(org, persona).h)
    if status == 403:
        assert problem(r, 403)["permission"] == "lead:create"
        assert await count_rows(db) == before
    else:
        assert r.status_code == 201 and r.json()["owner_id"] == getattr(org, persona).user_id


# --- list --------------------------------------------------------------------------------------------


async def test_list_filters_by_every_field(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c1, c2 = await new_contact(client, org.admin), await new_contact(client, org.admin)
    a = await new_lead(client, org.admin, c1["id"], source="web", channel="email", external_key="k-a")
    b = await new_lead(client, org.rep, c2["id"], source="scraper", channel="facebook", external_key="k-b")
    await set_status(db, b["id"], "contacted")
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"status": "contacted"}, {b["id"]}), ({"status": "new"}, {a["id"]}),
        ({"owner_id": org.rep.user_id}, {b["id"]}), ({"contact_id": c1["id"]}, {a["id"]}),
        ({"source": "scraper"}, {b["id"]}), ({"channel": "email"}, {a["id"]}), ({"external_key": "k-b"}, {b["id"]}),
        ({"created_after": a["created_at"]}, {a["id"], b["id"]}), ({"created_before": a["created_at"]}, set()),
        ({"updated_after": "2000-01-01T00:00:00Z"}, {a["id"], b["id"]}),
        ({"q": "k-a"}, {a["id"]}), ({"q": "lead"}, {a["id"], b["id"]}), ({"q": "nothing like it"}, set()),
    ]
    for params, expected in cases:
        r = await client.get(LEADS, params=params, headers=org.admin.h)
        assert r.status_code == 200, (params, r.text)
        assert {x["id"] for x in r.json()["data"]} == expected, params


@pytest.mark.parametrize("params, field", [
    pytest.param({"status": "won"}, "status", id="unknown-status"),
    pytest.param({"colour": "red"}, "colour", id="unknown-filter"),
    pytest.param({"created_after": "yesterday"}, "created_after", id="bad-date"),
    pytest.param({"created_after": "2024-01-01T00:00:00"}, "created_after", id="naive-date"),
    pytest.param({"owner_id": "u" * 41}, "owner_id", id="long-owner"),
    pytest.param({"sort": "-payload"}, "sort", id="unsortable"),
    pytest.param({"limit": "0"}, "limit", id="limit-0"),
    pytest.param({"limit": "501"}, "limit", id="limit-501"),
])
async def test_bad_list_parameters_answer_422_naming_them(client: httpx.AsyncClient, org: Org,
                                                          params: dict[str, str], field: str) -> None:
    body = problem(await client.get(LEADS, params=params, headers=org.admin.h), 422)
    assert field in [e["field"] for e in body["errors"]]


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "title", "-score", "updated_at", "id"])
async def test_keyset_pages_walk_every_lead_once_in_order(client: httpx.AsyncClient, db: Database, org: Org,
                                                          sort: str) -> None:
    contact = await new_contact(client, org.admin)
    made = [await new_lead(client, org.admin, contact["id"], title=f"Lead {i % 3}", score=(i * 7) % 4)
            for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"sort": sort, "limit": "3", **({"cursor": cursor} if cursor else {})}
        r = await client.get(LEADS, params=params, headers=org.admin.h)
        assert r.status_code == 200, r.text
        seen += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    name, desc = sort.lstrip("-"), sort.startswith("-")
    expected = sorted(made, key=lambda x: (x[name], x["id"]), reverse=desc)
    assert [x["id"] for x in seen] == [x["id"] for x in expected]
    problem(await client.get(LEADS, params={"sort": "title", "cursor": "garbage!"}, headers=org.admin.h), 400)


# --- patch / delete ----------------------------------------------------------------------------------


async def test_patch_changes_only_what_is_sent_and_records_the_difference(client: httpx.AsyncClient, db: Database,
                                                                          org: Org) -> None:
    lead = await new_lead(client, org.rep, source="web", payload={"a": 1})
    r = await client.patch(f"{LEADS}/{lead['id']}", json={"score": 55, "payload": {"b": 2}, "source": "web"},
                           headers={**org.rep.h, "If-Match": '"v1"'})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["score"], out["payload"], out["version"], out["title"]) == (55, {"b": 2}, 2, lead["title"])
    [event] = await events_of(db, "lead.updated", lead["id"])
    assert event["data"] == {"before": {"score": 0, "payload": {"a": 1}}, "after": {"score": 55, "payload": {"b": 2}}}
    before = await snapshot(client, db, org, [lead["id"]])
    problem(await client.patch(f"{LEADS}/{lead['id']}", json={"score": 1}, headers={**org.rep.h, "If-Match": '"v1"'}),
            412)
    problem(await client.patch(f"{LEADS}/{lead['id']}", json={"title": None}, headers=org.rep.h), 422)
    problem(await client.patch(f"{LEADS}/{lead['id']}", json={"status": "qualified"}, headers=org.rep.h), 422)
    problem(await client.patch(f"{LEADS}/{lead['id']}", json={"owner_id": org.manager.user_id}, headers=org.rep.h),
            422)
    assert await snapshot(client, db, org, [lead["id"]]) == before


async def test_patching_an_external_key_taken_by_another_lead_conflicts(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    await new_lead(client, org.admin, external_key="taken")
    lead = await new_lead(client, org.admin)
    before = await snapshot(client, db, org, [lead["id"]])
    assert problem(await client.patch(f"{LEADS}/{lead['id']}", json={"external_key": "taken"}, headers=org.admin.h),
                   409)["field"] == "external_key"
    assert await snapshot(client, db, org, [lead["id"]]) == before


@pytest.mark.parametrize("persona, status", [("admin", 200), ("manager", 200), ("rep", 200), ("other_rep", 404),
                                             ("support", 403), ("marketing", 403), ("viewer", 403)])
async def test_who_may_patch_the_reps_lead(client: httpx.AsyncClient, db: Database, org: Org, persona: str,
                                           status: int) -> None:
    lead = await new_lead(client, org.rep)
    before = await snapshot(client, db, org, [lead["id"]])
    r = await client.patch(f"{LEADS}/{lead['id']}", json={"title": "Renamed"}, headers=getattr(org, persona).h)
    if status == 200:
        assert r.status_code == 200 and r.json()["title"] == "Renamed"
    else:
        problem(r, status)
        assert await snapshot(client, db, org, [lead["id"]]) == before


@pytest.mark.parametrize("persona", PERSONAS)
async def test_only_the_admin_may_delete_a_lead(client: httpx.AsyncClient, db: Database, org: Org,
                                                persona: str) -> None:
    lead = await new_lead(client, org.rep)
    r = await client.delete(f"{LEADS}/{lead['id']}", headers=getattr(org, persona).h)
    if persona == "admin":
        assert r.status_code == 204
        problem(await client.get(f"{LEADS}/{lead['id']}", headers=org.admin.h), 404)
        [event] = await events_of(db, "lead.deleted", lead["id"])
        assert event["data"]["before"]["title"] == lead["title"]
        problem(await client.delete(f"{LEADS}/{lead['id']}", headers=org.admin.h), 404)
    else:
        problem(r, 403)
        assert (await get_lead(client, org, lead["id"]))["version"] == lead["version"]


# --- the machine's verbs ---------------------------------------------------------------------------


async def test_a_lead_walks_new_contacted_qualified_with_an_event_per_step(client: httpx.AsyncClient, db: Database,
                                                                            org: Org) -> None:
    lead = await new_lead(client, org.rep, score=30)
    r = await verb(client, org.rep, lead["id"], "contacted")
    assert r.status_code == 200 and r.json()["status"] == "contacted"
    r = await verb(client, org.rep, lead["id"], "qualify")
    assert r.status_code == 200 and (r.json()["status"], r.json()["version"]) == ("qualified", 3)
    [contacted] = await events_of(db, "lead.contacted", lead["id"])
    assert contacted["data"]["before"] == {"status": "new"} and contacted["data"]["after"] == {"status": "contacted"}
    [qualified] = await events_of(db, "lead.qualified", lead["id"])
    assert (qualified["data"]["score"], qualified["data"]["threshold"]) == (30, 30)
    assert qualified["actor_id"] == org.rep.user_id


async def test_disqualify_needs_a_reason_and_reopen_clears_it(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    lead = await new_lead(client, org.rep)
    before = await snapshot(client, db, org, [lead["id"]])
    for body in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": None}):
        p = problem(await verb(client, org.rep, lead["id"], "disqualify", body), 422)
        assert p["rule"] == "lead-disqualify-requires-reason" and p["errors"][0]["field"] == "reason"
    assert await snapshot(client, db, org, [lead["id"]]) == before
    problem(await verb(client, org.rep, lead["id"], "disqualify", {"reason": "x" * 2001}), 422)
    r = await verb(client, org.rep, lead["id"], "disqualify", {"reason": " no budget "})
    assert (r.json()["status"], r.json()["disqualification_reason"]) == ("disqualified", "no budget")
    [event] = await events_of(db, "lead.disqualified", lead["id"])
    assert event["data"]["reason"] == "no budget"
    r = await verb(client, org.rep, lead["id"], "reopen")
    assert (r.json()["status"], r.json()["disqualification_reason"]) == ("new", None)
    [event] = await events_of(db, "lead.reopened", lead["id"])
    assert event["data"]["before"] == {"status": "disqualified", "disqualification_reason": "no budget"}


async def test_qualify_needs_the_orgs_lead_score_threshold(client: httpx.AsyncClient, db: Database,
                                                           org: Org) -> None:
    lead = await new_lead(client, org.admin, score=29)
    await set_status(db, lead["id"], "contacted")
    before = await snapshot(client, db, org, [lead["id"]])
    p = problem(await verb(client, org.admin, lead["id"], "qualify"), 422)
    assert (p["rule"], p["threshold"], p["score"]) == ("lead-qualify-score-threshold", 30, 29)
    assert await snapshot(client, db, org, [lead["id"]]) == before
    r = await client.patch(f"{V1}/org", json={"settings": {"lead_qualify_score_threshold": 20}}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert (await verb(client, org.admin, lead["id"], "qualify")).json()["status"] == "qualified"


VERB_NAMES = ("contacted", "qualify", "disqualify", "reopen", "convert")
BODIES: dict[str, dict[str, Any] | None] = {"disqualify": {"reason": "because"}}


@pytest.mark.parametrize("name", VERB_NAMES)
async def test_every_verb_from_every_status_it_cannot_leave_by_is_409_and_changes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, name: str) -> None:
    """All status × verb pairs the machine refuses (convert from qualified is test_lead_convert's)."""
    target = VERBS[name][0]
    lead = await new_lead(client, org.admin, score=100)
    for status in STATUSES:
        if target in TRANSITIONS[status]:
            continue
        await set_status(db, lead["id"], status)
        before = await snapshot(client, db, org, [lead["id"]])
        p = problem(await verb(client, org.admin, lead["id"], name, BODIES.get(name)), 409)
        assert p["type"].endswith("invalid-transition") and (p["from"], p["to"]) == (status, target), p
        assert await snapshot(client, db, org, [lead["id"]]) == before


@pytest.mark.parametrize("name", ["contacted", "reopen", "qualify", "disqualify"])
@pytest.mark.parametrize("persona, status", [("admin", 200), ("manager", 200), ("rep", 200), ("other_rep", 404),
                                             ("support", 403), ("marketing", 403), ("viewer", 403)])
async def test_who_may_move_the_reps_lead(client: httpx.AsyncClient, db: Database, org: Org, name: str,
                                          persona: str, status: int) -> None:
    lead = await new_lead(client, org.rep, score=50)
    start = {"contacted": "new", "reopen": "disqualified", "qualify": "contacted", "disqualify": "qualified"}[name]
    await set_status(db, lead["id"], start)
    before = await snapshot(client, db, org, [lead["id"]])
    r = await verb(client, getattr(org, persona), lead["id"], name, {"reason": "r"} if name == "disqualify" else None)
    if status == 200:
        assert r.status_code == 200 and r.json()["status"] == VERBS[name][0], r.text
    else:
        problem(r, status)
        assert await snapshot(client, db, org, [lead["id"]]) == before


@pytest.mark.parametrize("persona, status", [("admin", 200), ("manager", 200), ("rep", 403), ("other_rep", 403),
                                             ("support", 403), ("marketing", 403), ("viewer", 403)])
async def test_reassign_is_for_managers_and_notifies_the_new_owner(client: httpx.AsyncClient, db: Database, org: Org,
                                                                   persona: str, status: int) -> None:
    lead = await new_lead(client, org.rep)
    before = await snapshot(client, db, org, [lead["id"]])
    r = await verb(client, getattr(org, persona), lead["id"], "reassign", {"owner_id": org.other_rep.user_id})
    if status != 200:
        problem(r, status)
        assert await snapshot(client, db, org, [lead["id"]]) == before
        return
    assert r.status_code == 200 and r.json()["owner_id"] == org.other_rep.user_id
    [event] = await events_of(db, "lead.updated", lead["id"])
    assert event["data"]["after"] == {"owner_id": org.other_rep.user_id} and event["data"]["verb"] == "reassign"
    [note] = await notifications_of(db, org.other_rep.user_id, "lead.assigned")
    assert note["subject_id"] == lead["id"]
    problem(await client.get(f"{LEADS}/{lead['id']}", headers=org.rep.h), 404)


async def test_reassign_refuses_an_unknown_or_foreign_owner(client: httpx.AsyncClient, db: Database, org: Org,
                                                            other_org: Org) -> None:
    lead = await new_lead(client, org.rep)
    before = await snapshot(client, db, org, [lead["id"]])
    for body in ({"owner_id": "user_nobody"}, {"owner_id": other_org.admin.user_id}, {}, {"owner_id": 5},
                 {"owner_id": "u" * 41}):
        problem(await verb(client, org.admin, lead["id"], "reassign", body), 422)
    assert await snapshot(client, db, org, [lead["id"]]) == before


# --- tenancy and bad input ---------------------------------------------------------------------------


async def test_another_orgs_lead_is_404_to_every_route(client: httpx.AsyncClient, db: Database, org: Org,
                                                       other_org: Org) -> None:
    theirs = await new_lead(client, other_org.admin, score=90)
    await set_status(db, theirs["id"], "qualified")
    before = await count_rows(db)
    url = f"{LEADS}/{theirs['id']}"
    problem(await client.get(url, headers=org.admin.h), 404)
    problem(await client.patch(url, json={"title": "x"}, headers=org.admin.h), 404)
    problem(await client.delete(url, headers=org.admin.h), 404)
    for name in VERB_NAMES:
        problem(await verb(client, org.admin, theirs["id"], name, BODIES.get(name)), 404)
    problem(await verb(client, org.admin, theirs["id"], "reassign", {"owner_id": org.admin.user_id}), 404)
    assert await count_rows(db) == before
    assert (await client.get(LEADS, headers=org.admin.h)).json()["data"] == []


async def test_a_contact_of_another_org_is_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                                   other_org: Org) -> None:
    theirs = await new_contact(client, other_org.admin)
    before = await count_rows(db)
    body = problem(await client.post(LEADS, json={"contact_id": theirs["id"]}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "contact_id"
    assert await count_rows(db) == before


@pytest.mark.parametrize("body, field", [
    pytest.param({"title": "x"}, "contact", id="no-contact"),
    pytest.param({"contact_id": "c", "contact": {"email": "a@b.co"}}, "contact", id="both-contacts"),
    pytest.param({"contact_id": 5}, "contact_id", id="contact-id-number"),
    pytest.param({"contact_id": "c" * 41}, "contact_id", id="contact-id-long"),
    pytest.param({"contact": {"email": "not-an-email"}}, "contact.email", id="bad-email"),
    pytest.param({"contact": {"email": "a@b.co", "phone": "call me"}}, "contact.phone", id="bad-phone"),
    pytest.param({"contact": {"email": "a@b.co", "age": 3}}, "contact.age", id="unknown-contact-field"),
    pytest.param({"contact_id": "c", "title": ""}, "title", id="empty-title"),
    pytest.param({"contact_id": "c", "title": "t" * 201}, "title", id="long-title"),
    pytest.param({"contact_id": "c", "score": 101}, "score", id="score-101"),
    pytest.param({"contact_id": "c", "score": -1}, "score", id="score-negative"),
    pytest.param({"contact_id": "c", "score": "high"}, "score", id="score-string"),
    pytest.param({"contact_id": "c", "score": 10**30}, "score", id="score-huge"),
    pytest.param({"contact_id": "c", "status": "qualified"}, "status", id="status-not-settable"),
    pytest.param({"contact_id": "c", "source_url": "ftp://x"}, "source_url", id="bad-url"),
    pytest.param({"contact_id": "c", "channel": "c" * 51}, "channel", id="long-channel"),
    pytest.param({"contact_id": "c", "external_key": ""}, "external_key", id="empty-key"),
    pytest.param({"contact_id": "c", "external_key": "k" * 201}, "external_key", id="long-key"),
    pytest.param({"contact_id": "c", "payload": [1, 2]}, "payload", id="payload-not-object"),
    pytest.param({"contact_id": "c", "payload": {"x": "a\u0000b"}}, "payload", id="payload-nul"),
    pytest.param({"contact_id": "c", "title": "a\u0000b"}, "title", id="title-nul"),
])
async def test_bad_lead_bodies_answer_422_naming_the_field_and_write_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, body: dict[str, Any], field: str) -> None:
    before = await count_rows(db)
    p = problem(await client.post(LEADS, json=body, headers=org.admin.h), 422)
    assert any(e["field"] == field or e["field"].startswith(field) for e in p.get("errors", [])) or \
        p.get("field") == field, p
    assert await count_rows(db) == before


async def test_malformed_json_and_long_ids_are_problems(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.post(LEADS, content=b'{"contact_id": ',
                          headers={**org.admin.h, "content-type": "application/json"})
    problem(r, 400)
    problem(await client.get(f"{LEADS}/{'x' * 41}", headers=org.admin.h), 422)
    problem(await client.get(f"{LEADS}/lead_nothing", headers=org.admin.h), 404)


# --- for the activities slice --------------------------------------------------------------------------


async def test_mark_contacted_moves_only_a_new_lead_and_joins_the_callers_transaction(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    fresh, later = await new_lead(client, org.rep), await new_lead(client, org.rep)
    await set_status(db, later["id"], "qualified")
    actor = Actor(org_id=org.id, user_id=org.rep.user_id, roles=frozenset({"sales-rep"}))
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        await service.mark_contacted(uow, actor, fresh["id"], activity_id="activity_1")
        await service.mark_contacted(uow, actor, later["id"], activity_id="activity_1")
        await service.mark_contacted(uow, actor, "lead_unknown")
    assert (await get_lead(client, org, fresh["id"]))["status"] == "contacted"
    assert (await get_lead(client, org, later["id"]))["status"] == "qualified"
    [event] = await events_of(db, "lead.contacted", fresh["id"])
    assert event["data"]["activity_id"] == "activity_1"
    assert await events_of(db, "lead.contacted", later["id"]) == []
    undone = await new_lead(client, org.rep)
    with pytest.raises(RuntimeError):  # a failure later in the caller's transaction undoes it
        async with uow.transaction(write=True):
            await service.mark_contacted(uow, actor, undone["id"])
            raise RuntimeError("the activity failed")
    assert (await get_lead(client, org, undone["id"]))["status"] == "new"
    assert await events_of(db, "lead.contacted", undone["id"]) == []
