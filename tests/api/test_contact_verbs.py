"""The contact verbs of seed 001 over HTTP: qualify, capture, assign/reassign, merge and enrich
(DESIGN §3, §5.3, §5.4, §6).

Each verb is checked for what it writes (rows and its event), against the stage machine and its
rules, against every persona of the seed 004 matrix, against another org's ids, against bad bodies
(a problem naming the field) and, where two callers can meet, against a concurrent caller. A
refused call changes nothing: every table's row count and the records' GET (version included) are
compared before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.companies.tables import companies
from kith.config import Settings
from kith.contacts.enrichment import CompanyFacts, PersonFacts
from kith.core.db import Database
from kith.core.events import event_refs, events
from kith.entrypoints.app import create_app
from kith.leads.tables import leads
from kith.visitors.tables import visitors
from tests.conftest import Org, Persona, count_rows, problem

V1 = "/api/v1"
API = f"{V1}/contacts"
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")


# --- helpers -------------------------------------------------------------------------------------

async def create(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Someone")
    r = await client.post(API, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def get(client: httpx.AsyncClient, org: Org, contact_id: str, **params: str) -> dict[str, Any]:
    r = await client.get(f"{API}/{contact_id}", params=params, headers=org.admin.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def verb(client: httpx.AsyncClient, who: Persona, contact_id: str, name: str,
               body: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(f"{API}/{contact_id}/{name}", json=body, headers=who.h)


async def capture(client: httpx.AsyncClient, who: Persona, **body: Any) -> httpx.Response:
    return await client.post(f"{API}/capture", json=body, headers=who.h)


async def identify(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    r = await client.post(f"{V1}/widget/identify", json=body, headers={"X-Kith-Widget-Key": org.widget_key})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def make_company(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    r = await client.post(f"{V1}/companies", json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def link(client: httpx.AsyncClient, org: Org, contact_id: str, company_id: str, **body: Any) -> None:
    r = await client.post(f"{API}/{contact_id}/companies", json={"company_id": company_id, **body},
                          headers=org.admin.h)
    assert r.status_code in (200, 201), r.text


async def unowned(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    c = await create(client, org.admin, **body)
    r = await client.patch(f"{API}/{c['id']}", json={"owner_id": None}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["owner_id"] is None, r.text
    return r.json()  # type: ignore[no-any-return]


async def events_of(db: Database, type_: str, subject_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(events).where(events.c.type == type_)
    if subject_id is not None:
        q = q.where(events.c.subject_id == subject_id)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q.order_by(events.c.id))]


async def rows(db: Database, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(sa.select(table).where(*where))]


async def timeline_types(client: httpx.AsyncClient, org: Org, contact_id: str) -> list[str]:
    r = await client.get(f"{API}/{contact_id}/timeline", params={"limit": 500}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    return [e["type"] for e in r.json()["data"]]


async def snapshot(client: httpx.AsyncClient, db: Database, org: Org, urls: list[str]
                   ) -> tuple[dict[str, int], list[tuple[int, Any]]]:
    """Every table's row count plus what the admin reads at ``urls``: the "nothing changed" probe."""
    reads = []
    for url in urls:
        r = await client.get(url, headers=org.admin.h)
        reads.append((r.status_code, r.json()))
    return await count_rows(db), reads


# --- qualify ---------------------------------------------------------------------------------------

async def test_qualifying_a_lead_with_email_and_enough_score_moves_it_to_qualified(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.rep, email="ada@example.com", lead_score=40)
    r = await verb(client, org.rep, c["id"], "qualify")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["stage"] == "qualified" and out["version"] == c["version"] + 1
    assert r.headers["etag"] == f'"v{out["version"]}"'
    assert (await get(client, org, c["id"]))["stage"] == "qualified"
    [event] = await events_of(db, "contact.qualified", c["id"])
    assert event["actor_id"] == org.rep.user_id
    assert event["data"]["before"] == {"stage": "lead"} and event["data"]["after"] == {"stage": "qualified"}
    assert event["data"]["threshold"] == 40
    assert (await timeline_types(client, org, c["id"]))[0] == "contact.qualified"


@pytest.mark.parametrize("body, rule, field", [
    pytest.param({"lead_score": 90}, "contact-qualify-requires-email", "email", id="no-email"),
    pytest.param({"email": "low@example.com", "lead_score": 39}, "contact-qualify-score-threshold", "lead_score",
                 id="score-one-below-40"),
    pytest.param({"email": "zero@example.com"}, "contact-qualify-score-threshold", "lead_score", id="score-0"),
])
async def test_a_failed_qualify_rule_answers_422_with_the_rule_and_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, body: dict[str, Any], rule: str, field: str) -> None:
    c = await create(client, org.admin, **body)
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    p = problem(await verb(client, org.admin, c["id"], "qualify"), 422)
    assert p["rule"] == rule and p["field"] == field
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


async def test_qualify_uses_the_orgs_own_threshold(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch(f"{V1}/org", json={"settings": {"qualify_score_threshold": 70}}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    sixty = await create(client, org.admin, email="sixty@example.com", lead_score=60)
    p = problem(await verb(client, org.admin, sixty["id"], "qualify"), 422)
    assert p["rule"] == "contact-qualify-score-threshold" and "70" in p["detail"]
    seventy = await create(client, org.admin, email="seventy@example.com", lead_score=70)
    assert (await verb(client, org.admin, seventy["id"], "qualify")).json()["stage"] == "qualified"
    r = await client.patch(f"{V1}/org", json={"settings": {"qualify_score_threshold": 0}}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert (await verb(client, org.admin, sixty["id"], "qualify")).json()["stage"] == "qualified"


@pytest.mark.parametrize("stage", ["customer", "churned", "partner"])
async def test_qualify_from_a_later_stage_is_an_invalid_transition_and_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, stage: str) -> None:
    c = await create(client, org.admin, email="late@example.com", lead_score=99, stage=stage)
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    p = problem(await verb(client, org.admin, c["id"], "qualify"), 409)
    assert p["type"].endswith("invalid-transition")
    assert (p["from"], p["to"]) == (stage, "qualified")
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


async def test_the_stage_machine_holds_on_the_qualify_verb_and_after_it(client: httpx.AsyncClient, org: Org) -> None:
    """lead → qualified (verb) → customer → churned → partner; nothing goes back to qualified."""
    c = await create(client, org.admin, email="path@example.com", lead_score=50)
    assert (await verb(client, org.admin, c["id"], "qualify")).json()["stage"] == "qualified"
    for stage in ("customer", "churned"):
        r = await client.patch(f"{API}/{c['id']}", json={"stage": stage}, headers=org.admin.h)
        assert r.status_code == 200, r.text
        problem(await verb(client, org.admin, c["id"], "qualify"), 409)
    problem(await client.patch(f"{API}/{c['id']}", json={"stage": "qualified"}, headers=org.admin.h), 409)
    r = await client.patch(f"{API}/{c['id']}", json={"stage": "partner"}, headers=org.admin.h)
    assert r.json()["stage"] == "partner"
    p = problem(await verb(client, org.admin, c["id"], "qualify"), 409)
    assert p["allowed"] == []


async def test_qualifying_a_qualified_contact_changes_nothing(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    c = await create(client, org.admin, email="twice@example.com", lead_score=80)
    first = (await verb(client, org.admin, c["id"], "qualify")).json()
    again = await verb(client, org.admin, c["id"], "qualify")
    assert again.status_code == 200 and again.json() == first
    assert len(await events_of(db, "contact.qualified", c["id"])) == 1


async def test_concurrent_qualifies_of_one_contact_write_one_event(client: httpx.AsyncClient, db: Database,
                                                                   org: Org) -> None:
    c = await create(client, org.admin, email="race@example.com", lead_score=80)
    results = await asyncio.gather(*(verb(client, org.admin, c["id"], "qualify") for _ in range(6)))
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    assert {r.json()["stage"] for r in results} == {"qualified"}
    assert len(await events_of(db, "contact.qualified", c["id"])) == 1
    assert (await get(client, org, c["id"]))["version"] == c["version"] + 1


# --- capture ---------------------------------------------------------------------------------------

async def test_capturing_a_new_email_creates_the_contact_and_opens_a_lead(client: httpx.AsyncClient, db: Database,
                                                                          org: Org) -> None:
    r = await capture(client, org.rep, email=" Bob@Startup.IO ", source="demo-request-form", phone="+1 555 0100")
    assert r.status_code == 201, r.text
    contact, lead = r.json()["contact"], r.json()["lead"]
    assert contact["email"] == "bob@startup.io" and contact["name"] == "bob"
    assert contact["source"] == "demo-request-form" and contact["phone"] == "+1 555 0100"
    assert contact["owner_id"] == org.rep.user_id and contact["stage"] == "lead"
    assert lead["id"].startswith("lead_") and lead["contact_id"] == contact["id"]
    assert (lead["status"], lead["source"], lead["owner_id"]) == ("new", "demo-request-form", org.rep.user_id)
    assert lead["title"] == "bob (demo-request-form)"
    [stored] = await rows(db, leads, leads.c.contact_id == contact["id"])
    assert stored["id"] == lead["id"] and stored["org_id"] == org.id
    [event] = await events_of(db, "contact.captured", contact["id"])
    assert event["data"]["created"] is True and event["data"]["lead_id"] == lead["id"]
    assert event["data"]["source"] == "demo-request-form"
    assert len(await events_of(db, "lead.created", lead["id"])) == 1
    types = await timeline_types(client, org, contact["id"])
    assert {"contact.created", "contact.captured", "lead.created"} <= set(types)


async def test_capturing_a_known_email_matches_it_case_insensitively(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    known = await create(client, org.admin, name="Carol", email="carol@c.test", owner_id=org.other_rep.user_id)
    r = await capture(client, org.rep, email="CAROL@C.TEST", source="webinar", name="Not Carol",
                      lead_title="Webinar signup")
    assert r.status_code == 200, r.text
    contact, lead = r.json()["contact"], r.json()["lead"]
    assert contact["id"] == known["id"] and contact["name"] == "Carol"  # a match keeps the contact's fields
    assert contact["source"] == "webinar" and contact["version"] == known["version"] + 1  # an empty source fills
    assert lead["owner_id"] == org.other_rep.user_id  # the lead belongs to the contact's owner
    assert lead["title"] == "Webinar signup"
    assert (await count_rows(db, "contacts"))["contacts"] == 1
    [event] = await events_of(db, "contact.captured", known["id"])
    assert event["data"]["created"] is False
    assert event["data"]["before"] == {"source": None} and event["data"]["after"] == {"source": "webinar"}


async def test_capture_keeps_a_source_the_contact_already_has(client: httpx.AsyncClient, org: Org) -> None:
    known = await create(client, org.admin, email="dan@d.test", source="referral")
    r = await capture(client, org.admin, email="dan@d.test", source="webinar")
    assert r.status_code == 200, r.text
    assert r.json()["contact"]["source"] == "referral" and r.json()["contact"]["version"] == known["version"]
    assert r.json()["lead"]["source"] == "webinar"


async def test_a_capture_from_another_source_opens_another_lead_but_the_same_source_reuses_the_open_one(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    first = (await capture(client, org.admin, email="eve@e.test", source="form")).json()
    again = await capture(client, org.admin, email="eve@e.test", source="form")
    assert again.status_code == 200, again.text
    assert again.json()["lead"]["id"] == first["lead"]["id"]
    other = (await capture(client, org.admin, email="eve@e.test", source="webinar")).json()
    assert other["lead"]["id"] != first["lead"]["id"]
    assert len(await rows(db, leads, leads.c.contact_id == first["contact"]["id"])) == 2
    captured = await events_of(db, "contact.captured", first["contact"]["id"])
    assert [e["data"]["lead_created"] for e in captured] == [True, False, True]  # every capture is recorded


async def test_capture_with_an_explicit_null_name_names_the_contact_after_the_email(
        client: httpx.AsyncClient, org: Org) -> None:
    r = await capture(client, org.admin, email="frank.ocean@f.test", source="form", name=None)
    assert r.status_code == 201, r.text
    assert r.json()["contact"]["name"] == "frank.ocean"


async def test_capture_never_matches_a_contact_in_the_trash_or_in_another_org(
        client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    trashed = await create(client, org.admin, email="gone@g.test")
    assert (await client.delete(f"{API}/{trashed['id']}", headers=org.admin.h)).status_code == 204
    foreign = await create(client, other_org.admin, email="shared@g.test")
    for email in ("gone@g.test", "shared@g.test"):
        r = await capture(client, org.admin, email=email, source="form")
        assert r.status_code == 201, r.text
        assert r.json()["contact"]["id"] not in (trashed["id"], foreign["id"])
    assert await rows(db, leads, leads.c.org_id == other_org.id) == []
    assert await events_of(db, "contact.captured", foreign["id"]) == []


async def test_concurrent_captures_with_one_email_make_one_contact_and_one_lead(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    results = await asyncio.gather(*(capture(client, org.rep, email="Race@Example.com", source="form")
                                     for _ in range(8)))
    assert sorted(r.status_code for r in results) == [200] * 7 + [201], [r.text for r in results]
    assert len({r.json()["contact"]["id"] for r in results}) == 1
    assert len({r.json()["lead"]["id"] for r in results}) == 1
    assert (await count_rows(db, "contacts", "leads")) == {"contacts": 1, "leads": 1}
    assert len(await events_of(db, "contact.captured")) == 8
    assert len(await events_of(db, "contact.created")) == 1


async def test_a_capture_retried_with_its_idempotency_key_is_replayed_not_run_again(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    h = {**org.admin.h, "Idempotency-Key": "form-submission-42"}
    body = {"email": "ivy@i.test", "source": "form"}
    first = await client.post(f"{API}/capture", json=body, headers=h)
    again = await client.post(f"{API}/capture", json=body, headers=h)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert len(await events_of(db, "contact.captured")) == 1


async def test_concurrent_captures_of_a_known_contact_all_succeed(client: httpx.AsyncClient, db: Database,
                                                                  org: Org) -> None:
    known = await create(client, org.admin, email="known@k.test")
    results = await asyncio.gather(*(capture(client, org.admin, email="known@k.test", source=f"s{i}")
                                     for i in range(6)))
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    assert (await count_rows(db, "contacts", "leads")) == {"contacts": 1, "leads": 6}
    final = await get(client, org, known["id"])
    assert final["source"] in {f"s{i}" for i in range(6)} and final["version"] == known["version"] + 1


# --- assign / reassign -----------------------------------------------------------------------------

async def test_a_manager_assigns_an_unowned_contact(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await unowned(client, org)
    r = await verb(client, org.manager, c["id"], "assign", {"owner_id": org.rep.user_id})
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == org.rep.user_id and r.json()["version"] == c["version"] + 1
    [event] = await events_of(db, "contact.assigned", c["id"])
    assert event["actor_id"] == org.manager.user_id
    assert event["data"] == {"verb": "assign", "before": {"owner_id": None}, "after": {"owner_id": org.rep.user_id}}


async def test_assign_refuses_a_contact_that_already_has_another_owner(client: httpx.AsyncClient, db: Database,
                                                                       org: Org) -> None:
    c = await create(client, org.admin, owner_id=org.rep.user_id)
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    p = problem(await verb(client, org.manager, c["id"], "assign", {"owner_id": org.other_rep.user_id}), 409)
    assert p["code"] == "already-assigned" and p["owner_id"] == org.rep.user_id
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


async def test_reassign_moves_a_contact_to_another_owner(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.admin, owner_id=org.rep.user_id)
    r = await verb(client, org.manager, c["id"], "reassign", {"owner_id": org.other_rep.user_id})
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == org.other_rep.user_id
    [event] = await events_of(db, "contact.assigned", c["id"])
    assert event["data"]["verb"] == "reassign"
    assert event["data"]["before"] == {"owner_id": org.rep.user_id}
    assert "contact.assigned" in await timeline_types(client, org, c["id"])


@pytest.mark.parametrize("name", ["assign", "reassign"])
async def test_giving_a_contact_to_its_owner_again_changes_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                                   name: str) -> None:
    c = await create(client, org.admin, owner_id=org.rep.user_id)
    r = await verb(client, org.admin, c["id"], name, {"owner_id": org.rep.user_id})
    assert r.status_code == 200 and r.json()["version"] == c["version"]
    assert await events_of(db, "contact.assigned") == []


async def test_a_rep_may_not_claim_an_unowned_contact_even_for_themself(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    """Seed 004: choosing an owner is contact:reassign, which sales-reps do not hold."""
    c = await unowned(client, org)
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    p = problem(await verb(client, org.rep, c["id"], "assign", {"owner_id": org.rep.user_id}), 403)
    assert p["permission"] == "contact:reassign" and p["rule"] == "contact-reassign-manager-only"
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


@pytest.mark.parametrize("name", ["assign", "reassign"])
async def test_the_new_owner_must_be_an_active_user_of_the_org(client: httpx.AsyncClient, db: Database, org: Org,
                                                               other_org: Org, name: str) -> None:
    c = await unowned(client, org)
    r = await client.patch(f"{V1}/users/{org.viewer.user_id}", json={"is_active": False}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    for owner_id in ("user_nobody", other_org.rep.user_id, org.viewer.user_id):
        p = problem(await verb(client, org.admin, c["id"], name, {"owner_id": owner_id}), 422)
        assert p["errors"][0]["field"] == "owner_id", owner_id
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


async def test_concurrent_assigns_of_one_contact_give_it_exactly_one_owner(client: httpx.AsyncClient, db: Database,
                                                                           org: Org) -> None:
    c = await unowned(client, org)
    owners = [org.rep.user_id, org.other_rep.user_id, org.manager.user_id, org.marketing.user_id]
    results = await asyncio.gather(*(verb(client, org.admin, c["id"], "assign", {"owner_id": o}) for o in owners))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409], [r.text for r in results]
    [winner] = [r.json()["owner_id"] for r in results if r.status_code == 200]
    assert (await get(client, org, c["id"]))["owner_id"] == winner
    assert len(await events_of(db, "contact.assigned", c["id"])) == 1


# --- merge -----------------------------------------------------------------------------------------

@dataclass
class Dupes:
    survivor: dict[str, Any]
    dup1: dict[str, Any]
    dup2: dict[str, Any]
    acme: dict[str, Any]
    globex: dict[str, Any]
    lead1: str


async def make_dupes(client: httpx.AsyncClient, org: Org) -> Dupes:
    """Three records of one person: the survivor with a primary company, a duplicate with a lead, a
    visitor, more fields and two companies (one shared), and a bare duplicate with a visitor."""
    acme = await make_company(client, org, name="Acme", domain="acme.test")
    globex = await make_company(client, org, name="Globex", domain="globex.test")
    survivor = await create(client, org.admin, name="Ada Lovelace", email="ada@acme.test", tags=["vip"],
                            metadata={"plan": "pro", "prefs": {"lang": "en"}}, owner_id=org.rep.user_id)
    await link(client, org, survivor["id"], acme["id"])
    dup1 = await create(client, org.admin, name="A. Lovelace", email="ada.l@globex.test", title="CTO",
                        phone="+44 20 7946 0958", tags=["beta", "vip"], owner_id=org.other_rep.user_id,
                        metadata={"plan": "free", "seats": 5, "prefs": {"lang": "fr", "tz": "UTC"}})
    await link(client, org, dup1["id"], globex["id"], role="Decision maker")
    await link(client, org, dup1["id"], acme["id"])
    lead1 = (await capture(client, org.admin, email="ada.l@globex.test", source="form")).json()["lead"]["id"]
    await identify(client, org, visitor_id="laptop", email="ada.l@globex.test")
    dup2 = await create(client, org.admin, name="Ada", email="countess@example.com", mobile="+44 7700 900123")
    await identify(client, org, visitor_id="phone", email="countess@example.com")  # gives dup2 a placeholder
    return Dupes(survivor, await get(client, org, dup1["id"]), await get(client, org, dup2["id"]), acme, globex,
                 lead1)


async def test_merge_moves_everything_onto_the_survivor_and_erases_the_duplicates(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    d = await make_dupes(client, org)
    r = await verb(client, org.admin, d.survivor["id"], "merge", {"from_ids": [d.dup1["id"], d.dup2["id"]]})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["id"] == d.survivor["id"] and s["version"] > d.survivor["version"]
    # the survivor wins conflicts; empty fields, metadata keys and tags come from the duplicates
    assert (s["name"], s["email"], s["owner_id"]) == ("Ada Lovelace", "ada@acme.test", org.rep.user_id)
    assert (s["title"], s["phone"], s["mobile"]) == ("CTO", "+44 20 7946 0958", "+44 7700 900123")
    assert s["metadata"] == {"plan": "pro", "seats": 5, "prefs": {"lang": "en", "tz": "UTC"}}
    assert s["tags"] == ["vip", "beta"]
    got = await get(client, org, s["id"], include="companies,visitors")
    assert {(c["name"], c["is_primary"], c["role"]) for c in got["companies"]} == {
        ("Acme", True, None), ("Globex", False, "Decision maker")}  # dup2's placeholder is gone
    assert {v["visitor_id"] for v in got["visitors"]} == {"laptop", "phone"}
    [lead] = await rows(db, leads, leads.c.id == d.lead1)
    assert lead["contact_id"] == s["id"] and lead["version"] == 2
    assert await rows(db, companies, companies.c.is_placeholder.is_(True)) == []
    assert await rows(db, visitors, visitors.c.contact_id.in_([d.dup1["id"], d.dup2["id"]])) == []
    [phone] = await rows(db, visitors, visitors.c.visitor_id == "phone")
    assert phone["active_company_id"] is None  # its placeholder company was erased
    found = await client.get(API, params={"q": "ada.l@globex.test"}, headers=org.admin.h)
    assert [c["id"] for c in found.json()["data"]] == []  # the erased duplicate is gone from search too
    tagged = await client.get(API, params={"tag": "beta"}, headers=org.admin.h)
    assert [c["id"] for c in tagged.json()["data"]] == [s["id"]]
    for dup in (d.dup1, d.dup2):
        problem(await client.get(f"{API}/{dup['id']}", headers=org.admin.h), 404)
    assert (await count_rows(db, "contacts", "trash")) == {"contacts": 1, "trash": 0}


async def test_merge_is_recorded_in_the_survivors_and_the_duplicates_timelines(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    d = await make_dupes(client, org)
    r = await verb(client, org.admin, d.survivor["id"], "merge", {"from_ids": [d.dup1["id"], d.dup2["id"]]})
    assert r.status_code == 200, r.text
    [event] = await events_of(db, "contact.merged", d.survivor["id"])
    assert event["data"]["merged_ids"] == [d.dup1["id"], d.dup2["id"]]
    assert event["data"]["moved"] == {"company_links": 2, "visitors": 2, "leads": 1, "reports": 0, "activities": 0,
                                      "deals": 0, "deal_contacts": 0}
    assert event["data"]["after"]["title"] == "CTO" and event["data"]["before"]["title"] is None
    assert [m["email"] for m in event["data"]["merged"]] == ["ada.l@globex.test", "countess@example.com"]
    async with db.engine.connect() as conn:
        refs = set((await conn.execute(sa.select(event_refs.c.record_id).where(
            event_refs.c.event_id == event["id"]))).scalars())
    assert {d.survivor["id"], d.dup1["id"], d.dup2["id"], d.globex["id"]} <= refs
    types = await timeline_types(client, org, d.survivor["id"])
    assert types[0] == "contact.merged"
    assert "contact.captured" in types  # the duplicates' history joined the survivor's timeline
    assert types.count("contact.created") == 3


async def test_a_survivor_without_email_takes_a_duplicates_and_the_others_are_freed(
        client: httpx.AsyncClient, org: Org) -> None:
    survivor = await create(client, org.admin, name="No mail")
    dup = await create(client, org.admin, name="Mail", email="mail@m.test", external_user_id="u-1")
    other = await create(client, org.admin, name="Other", email="other@m.test")
    r = await verb(client, org.admin, survivor["id"], "merge", {"from_ids": [dup["id"], other["id"]]})
    assert r.status_code == 200, r.text
    assert (r.json()["email"], r.json()["external_user_id"]) == ("mail@m.test", "u-1")
    await create(client, org.admin, name="New", email="other@m.test")  # the erased duplicate's email is free


async def test_merge_repoints_reports_and_drops_a_manager_link_to_a_merged_contact(
        client: httpx.AsyncClient, org: Org) -> None:
    boss_dup = await create(client, org.admin, name="Boss dup")
    survivor = await create(client, org.admin, name="Boss", manager_id=boss_dup["id"])
    report = await create(client, org.admin, name="Report", manager_id=boss_dup["id"])
    r = await verb(client, org.admin, survivor["id"], "merge", {"from_ids": [boss_dup["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["manager_id"] is None  # not itself
    assert (await get(client, org, report["id"]))["manager_id"] == survivor["id"]


async def test_a_survivor_with_only_a_placeholder_takes_the_duplicates_real_company(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    survivor = (await identify(client, org, visitor_id="v1", email="pat@p.test"))["contact"]
    acme = await make_company(client, org, name="Acme")
    dup = await create(client, org.admin, name="Pat")
    await link(client, org, dup["id"], acme["id"])
    r = await verb(client, org.admin, survivor["id"], "merge", {"from_ids": [dup["id"]]})
    assert r.status_code == 200, r.text
    got = await get(client, org, survivor["id"], include="companies")
    assert [(c["name"], c["is_primary"]) for c in got["companies"]] == [("Acme", True)]
    assert await rows(db, companies, companies.c.is_placeholder.is_(True)) == []


# (case, body, field at fault); "SELF" stands for the survivor's own id
BAD_MERGE_BODIES: list[tuple[str, Any, str]] = [
    ("missing", {}, "from_ids"),
    ("empty", {"from_ids": []}, "from_ids"),
    ("not-a-list", {"from_ids": "contact_x"}, "from_ids"),
    ("not-strings", {"from_ids": [1]}, "from_ids.0"),
    ("repeated", {"from_ids": ["contact_a", "contact_a"]}, "from_ids"),
    ("over-20", {"from_ids": [f"contact_{i}" for i in range(21)]}, "from_ids"),
    ("overlong-id", {"from_ids": ["x" * 41]}, "from_ids.0"),
    ("unknown-field", {"from_ids": ["contact_a"], "survivor": "x"}, "survivor"),
    ("array-body", ["contact_a"], "body"),
    ("into-itself", {"from_ids": ["SELF"]}, "from_ids"),
]


async def test_a_bad_merge_body_names_the_field_and_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    s = await create(client, org.admin, name="S")
    d = await create(client, org.admin, name="D")
    before = await snapshot(client, db, org, [f"{API}/{s['id']}", f"{API}/{d['id']}"])
    for case, body, field in BAD_MERGE_BODIES:
        if case == "into-itself":
            body = {"from_ids": [d["id"], s["id"]]}
        p = problem(await verb(client, org.admin, s["id"], "merge", body), 422)
        assert field in {e["field"] for e in p["errors"]}, (case, p)
    assert await snapshot(client, db, org, [f"{API}/{s['id']}", f"{API}/{d['id']}"]) == before


async def test_merging_a_missing_trashed_or_foreign_contact_is_not_found_and_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    s = await create(client, org.admin, name="S", email="s@s.test")
    dup = await create(client, org.admin, name="D", phone="+1 555 0100")
    trashed = await create(client, org.admin, name="T")
    assert (await client.delete(f"{API}/{trashed['id']}", headers=org.admin.h)).status_code == 204
    foreign = await create(client, other_org.admin, name="F")
    watch = [f"{API}/{s['id']}", f"{API}/{dup['id']}"]
    before = await snapshot(client, db, org, watch)
    for bad in ("contact_nope", trashed["id"], foreign["id"]):
        p = problem(await verb(client, org.admin, s["id"], "merge", {"from_ids": [dup["id"], bad]}), 404)
        assert p["id"] == bad
    problem(await verb(client, org.admin, foreign["id"], "merge", {"from_ids": [dup["id"]]}), 404)
    assert await snapshot(client, db, org, watch) == before
    assert (await client.get(f"{API}/{foreign['id']}", headers=other_org.admin.h)).status_code == 200


async def test_a_merge_racing_a_patch_of_a_duplicate_loses_nothing_and_never_fails_oddly(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    survivor = await create(client, org.admin, name="S", email="s@race.test")
    dup = await create(client, org.admin, name="D", email="d@race.test")
    merge, patch_dup, patch_survivor = await asyncio.gather(
        verb(client, org.admin, survivor["id"], "merge", {"from_ids": [dup["id"]]}),
        client.patch(f"{API}/{dup['id']}", json={"title": "From the dup"}, headers=org.admin.h),
        client.patch(f"{API}/{survivor['id']}", json={"department": "Sales"}, headers=org.admin.h))
    assert merge.status_code == 200, merge.text
    assert patch_survivor.status_code == 200, patch_survivor.text
    assert patch_dup.status_code in (200, 404), patch_dup.text
    final = await get(client, org, survivor["id"])
    assert final["department"] == "Sales"  # no lost update of the survivor
    if patch_dup.status_code == 200:  # the patch went first: the merge carried its title over
        assert final["title"] == "From the dup"
    problem(await client.get(f"{API}/{dup['id']}", headers=org.admin.h), 404)
    assert (await count_rows(db, "contacts"))["contacts"] == 1


async def test_a_capture_racing_the_merge_of_its_contact_lands_on_the_survivor(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    survivor = await create(client, org.admin, name="S")
    dup = await create(client, org.admin, name="D", email="d@race.test")
    merge, cap = await asyncio.gather(
        verb(client, org.admin, survivor["id"], "merge", {"from_ids": [dup["id"]]}),
        capture(client, org.admin, email="d@race.test", source="form"))
    assert merge.status_code == 200, merge.text
    assert cap.status_code == 200, cap.text
    assert cap.json()["contact"]["id"] in (survivor["id"], dup["id"])
    assert (await count_rows(db, "contacts", "leads")) == {"contacts": 1, "leads": 1}
    [lead] = await rows(db, leads)
    assert lead["contact_id"] == survivor["id"]
    assert (await get(client, org, survivor["id"]))["email"] == "d@race.test"


async def test_two_merges_of_the_same_pair_in_opposite_directions_let_one_win(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    a = await create(client, org.admin, name="A", email="a@pair.test")
    b = await create(client, org.admin, name="B", email="b@pair.test")
    one, two = await asyncio.gather(verb(client, org.admin, a["id"], "merge", {"from_ids": [b["id"]]}),
                                    verb(client, org.admin, b["id"], "merge", {"from_ids": [a["id"]]}))
    assert sorted([one.status_code, two.status_code]) == [200, 404], (one.text, two.text)
    assert (await count_rows(db, "contacts"))["contacts"] == 1
    assert len(await events_of(db, "contact.merged")) == 1


# --- enrich ----------------------------------------------------------------------------------------

class StaticProvider:
    """A stand-in for an outside enrichment service: fixed facts, some of them invalid."""

    async def lookup(self, domain: str) -> CompanyFacts | None:
        return CompanyFacts(name="Acme Laboratories Ltd", industry="Research", employee_count=250,
                            country="United Kingdom", website=f"https://www.{domain}")

    async def person(self, email: str) -> PersonFacts | None:
        return PersonFacts(title="Chief Scientist", linkedin_url="https://www.linkedin.com/in/ada",
                           timezone="Not/AZone", first_name="Ada")


class BlockingProvider:
    """Plain (blocking) methods, as a provider wrapping a synchronous HTTP client would have."""

    def lookup(self, domain: str) -> CompanyFacts | None:
        return CompanyFacts(industry="Manufacturing")

    def person(self, email: str) -> PersonFacts | None:
        return None


class BrokenProvider:
    async def lookup(self, domain: str) -> CompanyFacts | None:
        raise ConnectionError("the enrichment service is down")

    async def person(self, email: str) -> PersonFacts | None:
        raise ConnectionError("the enrichment service is down")


async def enrich_with(db: Database, db_url: str, provider: str, who: Persona, contact_id: str) -> httpx.Response:
    app = create_app(Settings(database_url=db_url, enrichment_provider=provider), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
        return await verb(c, who, contact_id, "enrich")


async def test_enriching_a_work_email_creates_the_company_from_the_domain_and_links_it(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.rep, name="Ada", email="ada@acme-labs.co.uk")
    r = await verb(client, org.rep, c["id"], "enrich")
    assert r.status_code == 200, r.text
    [company] = r.json()["companies"]
    assert (company["name"], company["domain"], company["is_primary"]) == ("Acme Labs", "acme-labs.co.uk", True)
    full = (await client.get(f"{V1}/companies/{company['id']}", headers=org.admin.h)).json()
    assert full["website"] == "https://acme-labs.co.uk" and full["owner_id"] == org.rep.user_id
    assert full["enriched_at"] is not None and full["is_placeholder"] is False
    [event] = await events_of(db, "contact.enriched", c["id"])
    assert event["data"]["domain"] == "acme-labs.co.uk" and event["data"]["company_id"] == company["id"]
    assert event["data"]["free_mail"] is False and event["data"]["provider_error"] is False
    assert len(await events_of(db, "company.created", company["id"])) == 1
    assert {"contact.enriched", "contact.company-linked"} <= set(await timeline_types(client, org, c["id"]))


async def test_enriching_links_the_company_that_already_has_the_domain(client: httpx.AsyncClient, db: Database,
                                                                       org: Org) -> None:
    acme = await make_company(client, org, name="ACME Corporation", domain="acme.test", industry="Anvils")
    c = await create(client, org.admin, email="wile@acme.test")
    r = await verb(client, org.admin, c["id"], "enrich")
    assert [co["id"] for co in r.json()["companies"]] == [acme["id"]]
    full = (await client.get(f"{V1}/companies/{acme['id']}", headers=org.admin.h)).json()
    assert (full["name"], full["industry"]) == ("ACME Corporation", "Anvils")  # facts fill gaps only
    assert full["website"] == "https://acme.test"
    assert (await count_rows(db, "companies"))["companies"] == 1
    again = await verb(client, org.admin, c["id"], "enrich")
    assert [co["id"] for co in again.json()["companies"]] == [acme["id"]]
    assert (await count_rows(db, "companies", "contact_companies")) == {"companies": 1, "contact_companies": 1}


async def test_a_rep_cannot_enrich_onto_a_company_another_rep_owns(client: httpx.AsyncClient, db: Database,
                                                                    org: Org) -> None:
    """Linking needs update rights on both records (DESIGN §4), through enrich as through the API."""
    r = await client.post(f"{V1}/companies", json={"name": "Theirs", "domain": "theirs.test"}, headers=org.other_rep.h)
    assert r.status_code == 201, r.text
    c = await create(client, org.rep, email="me@theirs.test")
    before = await snapshot(client, db, org, [f"{API}/{c['id']}", f"{V1}/companies/{r.json()['id']}"])
    problem(await verb(client, org.rep, c["id"], "enrich"), 403)
    assert await snapshot(client, db, org, [f"{API}/{c['id']}", f"{V1}/companies/{r.json()['id']}"]) == before


async def test_free_mail_domains_give_no_company(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    for email in ("ada@gmail.com", "ada@Yahoo.co.uk", "ada@hotmail.fr", "ada@proton.me", "ada@www.gmail.com"):
        c = await create(client, org.admin, email=email)
        r = await verb(client, org.admin, c["id"], "enrich")
        assert r.status_code == 200, r.text
        assert r.json()["companies"] == [], email
        [event] = await events_of(db, "contact.enriched", c["id"])
        assert event["data"]["skipped"] == "free-mail" and event["data"]["company_id"] is None, email
    assert (await count_rows(db, "companies"))["companies"] == 0


async def test_enriching_replaces_the_placeholder_company(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = (await identify(client, org, visitor_id="v1", email="ian@initech.test"))["contact"]
    r = await verb(client, org.admin, contact["id"], "enrich")
    assert [(c["name"], c["is_primary"]) for c in r.json()["companies"]] == [("Initech", True)]
    assert await rows(db, companies, companies.c.is_placeholder.is_(True)) == []


async def test_enriching_a_contact_without_email_fails_its_rule(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    c = await create(client, org.admin, name="No mail")
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    p = problem(await verb(client, org.admin, c["id"], "enrich"), 422)
    assert p["rule"] == "contact-enrich-requires-email"
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


async def test_an_email_domain_that_is_no_valid_domain_name_gives_no_company(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.admin, email="x@" + "a" * 300 + ".test")
    r = await verb(client, org.admin, c["id"], "enrich")
    assert r.status_code == 200, r.text
    assert r.json()["companies"] == [] and (await count_rows(db, "companies"))["companies"] == 0
    [event] = await events_of(db, "contact.enriched", c["id"])
    assert event["data"]["company_id"] is None


async def test_a_configured_provider_fills_empty_fields_and_its_invalid_facts_are_dropped(
        db: Database, db_url: str, client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, name="Ada", email="ada@acme-labs.co.uk", first_name="Augusta")
    r = await enrich_with(db, db_url, "tests.api.test_contact_verbs:StaticProvider", org.admin, c["id"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["title"], out["linkedin_url"]) == ("Chief Scientist", "https://www.linkedin.com/in/ada")
    assert out["first_name"] == "Augusta"  # set already: kept
    assert out["timezone"] is None  # the provider's invalid timezone was dropped
    [company] = out["companies"]
    full = (await client.get(f"{V1}/companies/{company['id']}", headers=org.admin.h)).json()
    assert (full["name"], full["industry"], full["employee_count"]) == ("Acme Laboratories Ltd", "Research", 250)
    assert full["country"] is None and full["website"] == "https://www.acme-labs.co.uk"
    [event] = await events_of(db, "contact.enriched", c["id"])
    assert event["data"]["after"] == {"title": "Chief Scientist", "linkedin_url": "https://www.linkedin.com/in/ada"}


async def test_the_provider_is_chosen_by_KITH_ENRICHMENT_PROVIDER(
        db: Database, db_url: str, client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITH_ENRICHMENT_PROVIDER", "tests.api.test_contact_verbs:BlockingProvider")
    cfg = Settings.from_env(database_url=db_url)
    assert cfg.enrichment_provider == "tests.api.test_contact_verbs:BlockingProvider"
    c = await create(client, org.admin, email="bo@factory.test")
    r = await enrich_with(db, db_url, cfg.enrichment_provider, org.admin, c["id"])
    assert r.status_code == 200, r.text
    [company] = r.json()["companies"]
    full = (await client.get(f"{V1}/companies/{company['id']}", headers=org.admin.h)).json()
    assert (full["name"], full["industry"]) == ("Factory", "Manufacturing")


async def test_a_failing_provider_still_derives_the_company_from_the_domain(
        db: Database, db_url: str, client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, email="ops@umbrella.test")
    r = await enrich_with(db, db_url, "tests.api.test_contact_verbs:BrokenProvider", org.admin, c["id"])
    assert r.status_code == 200, r.text
    assert [co["name"] for co in r.json()["companies"]] == ["Umbrella"]
    [event] = await events_of(db, "contact.enriched", c["id"])
    assert event["data"]["provider_error"] is True


@pytest.mark.parametrize("spec", ["no-colon", "kith.nowhere:Provider", "kith.contacts.enrichment:Missing",
                                  "kith.contacts.enrichment:CompanyFacts"])
def test_a_misconfigured_provider_stops_the_app_at_start(spec: str) -> None:
    with pytest.raises(ValueError, match="KITH_ENRICHMENT_PROVIDER"):
        create_app(Settings(database_url="sqlite:///:memory:", enrichment_provider=spec))


async def test_concurrent_enriches_at_one_new_domain_make_one_company(client: httpx.AsyncClient, db: Database,
                                                                      org: Org) -> None:
    people = [await create(client, org.admin, name=f"P{i}", email=f"p{i}@hooli.test") for i in range(5)]
    results = await asyncio.gather(*(verb(client, org.admin, p["id"], "enrich") for p in people))
    assert [r.status_code for r in results] == [200] * 5, [r.text for r in results]
    assert len({r.json()["companies"][0]["id"] for r in results}) == 1
    assert (await count_rows(db, "companies", "contact_companies")) == {"companies": 1, "contact_companies": 5}


# --- permissions: every verb × every persona (seed 004 §3) ------------------------------------------

@dataclass
class Call:
    url: str
    body: dict[str, Any] | None
    watch: list[str]


Setup = Callable[[httpx.AsyncClient, Org, Persona], Awaitable[Call]]


async def _qualify(client: httpx.AsyncClient, org: Org, who: Persona) -> Call:
    c = await create(client, org.admin, email=f"q-{who.name}@q.test", lead_score=50, owner_id=org.rep.user_id)
    return Call(f"{API}/{c['id']}/qualify", None, [f"{API}/{c['id']}"])


async def _capture(client: httpx.AsyncClient, org: Org, who: Persona) -> Call:
    return Call(f"{API}/capture", {"email": f"cap-{who.name}@c.test", "source": "form"}, [])


async def _assign(client: httpx.AsyncClient, org: Org, who: Persona) -> Call:
    c = await unowned(client, org)
    return Call(f"{API}/{c['id']}/assign", {"owner_id": who.user_id}, [f"{API}/{c['id']}"])


async def _reassign(client: httpx.AsyncClient, org: Org, who: Persona) -> Call:
    c = await create(client, org.admin, owner_id=org.rep.user_id)
    return Call(f"{API}/{c['id']}/reassign", {"owner_id": org.other_rep.user_id}, [f"{API}/{c['id']}"])


async def _merge(client: httpx.AsyncClient, org: Org, who: Persona) -> Call:
    s = await create(client, org.admin, name="S", owner_id=org.rep.user_id)
    d = await create(client, org.admin, name="D", owner_id=org.rep.user_id, phone="+1 555 0100")
    return Call(f"{API}/{s['id']}/merge", {"from_ids": [d["id"]]}, [f"{API}/{s['id']}", f"{API}/{d['id']}"])


async def _enrich(client: httpx.AsyncClient, org: Org, who: Persona) -> Call:
    c = await create(client, org.admin, email=f"e-{who.name}@{who.name.replace('_', '')}.test",
                     owner_id=org.rep.user_id)
    return Call(f"{API}/{c['id']}/enrich", None, [f"{API}/{c['id']}"])


def expect(default: int, **overrides: int) -> dict[str, int]:
    return {p: overrides.get(p, default) for p in PERSONAS}


# What each persona gets: seed 004 contact:update for qualify/enrich (◑ for sales-rep, the contacts
# here belong to `rep`), contact:create + lead:create for capture, contact:reassign for assign and
# reassign, contact:update + contact:delete for merge (it erases the duplicates).
VERB_MATRIX: dict[str, tuple[Setup, dict[str, int]]] = {
    "qualify": (_qualify, expect(403, admin=200, manager=200, rep=200)),
    "capture": (_capture, expect(201, support=403, viewer=403)),
    "assign": (_assign, expect(403, admin=200, manager=200)),
    "reassign": (_reassign, expect(403, admin=200, manager=200)),
    "merge": (_merge, expect(403, admin=200)),
    "enrich": (_enrich, expect(403, admin=200, manager=200, rep=200)),
}


@pytest.mark.parametrize("name", sorted(VERB_MATRIX))
async def test_each_verb_follows_the_permission_matrix_for_every_persona(
        client: httpx.AsyncClient, db: Database, org: Org, name: str) -> None:
    setup, expected = VERB_MATRIX[name]
    got: dict[str, int] = {}
    for persona in PERSONAS:
        who = org.people[persona]
        call = await setup(client, org, who)
        before = await snapshot(client, db, org, call.watch)
        r = await client.post(call.url, json=call.body, headers=who.h)
        got[persona] = r.status_code
        if r.status_code >= 400:
            p = problem(r, r.status_code)
            assert await snapshot(client, db, org, call.watch) == before, (persona, p)
            assert p.get("permission", "").startswith("contact:") or p.get("permission") == "lead:create", p
        else:
            assert await count_rows(db) != before[0], persona  # at least the verb's event
    assert got == expected


@pytest.mark.parametrize("name, body", [
    ("qualify", None), ("enrich", None), ("assign", {"owner_id": "SELF"}), ("reassign", {"owner_id": "SELF"}),
    ("merge", {"from_ids": ["OTHER"]}),
])
async def test_every_verb_on_another_orgs_contact_is_not_found_and_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, other_org: Org, name: str, body: Any) -> None:
    theirs = await create(client, other_org.admin, name="Theirs", email="t@theirs.test", lead_score=90)
    mine = await create(client, org.admin, name="Mine")
    if body is not None:
        body = {k: (org.admin.user_id if v == "SELF" else [mine["id"]]) for k, v in body.items()}
    before = await count_rows(db)
    their_view = (await client.get(f"{API}/{theirs['id']}", headers=other_org.admin.h)).json()
    p = problem(await verb(client, org.admin, theirs["id"], name, body), 404)
    assert p["id"] == theirs["id"]
    assert await count_rows(db) == before
    assert (await client.get(f"{API}/{theirs['id']}", headers=other_org.admin.h)).json() == their_view


async def test_an_overlong_id_in_the_path_is_refused_by_name(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    before = await count_rows(db)
    for name, body in (("qualify", None), ("enrich", None), ("assign", {"owner_id": "user_x"}),
                       ("reassign", {"owner_id": "user_x"}), ("merge", {"from_ids": ["contact_x"]})):
        p = problem(await verb(client, org.admin, "contact_" + "x" * 40, name, body), 422)
        assert p["errors"][0]["field"] == "record_id", name
    assert await count_rows(db) == before


# --- bad bodies ---------------------------------------------------------------------------------

# (case, body, field at fault)
BAD_CAPTURE_BODIES: list[tuple[str, Any, str]] = [
    ("empty", {}, "email"),
    ("no-email", {"source": "form"}, "email"),
    ("bad-email", {"email": "not-an-email", "source": "form"}, "email"),
    ("no-source", {"email": "a@b.test"}, "source"),
    ("empty-source", {"email": "a@b.test", "source": ""}, "source"),
    ("long-source", {"email": "a@b.test", "source": "s" * 101}, "source"),
    ("empty-name", {"email": "a@b.test", "source": "form", "name": ""}, "name"),
    ("score", {"email": "a@b.test", "source": "form", "lead_score": 101}, "lead_score"),
    ("stage", {"email": "a@b.test", "source": "form", "stage": "prospect"}, "stage"),
    ("tags", {"email": "a@b.test", "source": "form", "tags": "vip"}, "tags"),
    ("metadata", {"email": "a@b.test", "source": "form", "metadata": [1]}, "metadata"),
    ("title", {"email": "a@b.test", "source": "form", "lead_title": "t" * 201}, "lead_title"),
    ("nul", {"email": "a@b.test", "source": "form\u0000"}, "source"),
    ("unknown-field", {"email": "a@b.test", "source": "form", "owner": "me"}, "owner"),
    ("array", [{"email": "a@b.test", "source": "form"}], "body"),
]


async def test_a_bad_capture_body_names_the_field_and_writes_nothing(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    before = await count_rows(db)
    for case, body, field in BAD_CAPTURE_BODIES:
        p = problem(await client.post(f"{API}/capture", json=body, headers=org.admin.h), 422)
        assert field in {e["field"] for e in p["errors"]}, (case, p)
    assert await count_rows(db) == before


async def test_a_body_that_is_not_json_is_malformed(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.admin)
    before = await count_rows(db)
    for name in ("capture", "assign", "reassign", "merge"):
        url = f"{API}/capture" if name == "capture" else f"{API}/{c['id']}/{name}"
        r = await client.post(url, content=b'{"owner_id": ', headers={**org.admin.h,
                                                                      "Content-Type": "application/json"})
        assert problem(r, 400)["errors"][0]["field"] == "body", name
    assert await count_rows(db) == before


BAD_OWNER_BODIES: list[tuple[str, Any, str]] = [
    ("missing", {}, "owner_id"),
    ("null", {"owner_id": None}, "owner_id"),
    ("number", {"owner_id": 7}, "owner_id"),
    ("empty", {"owner_id": ""}, "owner_id"),
    ("overlong", {"owner_id": "u" * 41}, "owner_id"),
    ("unknown-field", {"owner_id": "user_x", "note": "hi"}, "note"),
]


@pytest.mark.parametrize("name", ["assign", "reassign"])
async def test_a_bad_owner_body_names_the_field_and_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, name: str) -> None:
    c = await create(client, org.admin, owner_id=org.rep.user_id)
    before = await snapshot(client, db, org, [f"{API}/{c['id']}"])
    for case, body, field in BAD_OWNER_BODIES:
        p = problem(await verb(client, org.admin, c["id"], name, body), 422)
        assert field in {e["field"] for e in p["errors"]}, (case, p)
    assert await snapshot(client, db, org, [f"{API}/{c['id']}"]) == before


# --- merge moves activities and deals; assignment notifies (issue 4) --------------------------------

async def test_merge_moves_the_duplicates_activities_and_deals_onto_the_survivor(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    from kith.activities.tables import activities
    from kith.core import clock
    from kith.deals.tables import deal_contacts, deals
    from tests.api.activity_helpers import deal as make_deal
    from tests.api.activity_helpers import log

    survivor = await create(client, org.admin, name="Ada", email="ada@acme.test")
    dup = await create(client, org.admin, name="Ada L", email="ada.l@acme.test")
    other = await create(client, org.admin, name="Bob")
    acts = [await log(client, org.admin, contact_id=dup["id"], subject=f"call {i}") for i in range(2)]
    shared, own = await make_deal(db, org, org.rep, dup["id"]), await make_deal(db, org, org.rep, other["id"])
    async with db.engine.begin() as conn:
        await conn.execute(deal_contacts.insert(), [
            {"org_id": org.id, "deal_id": shared, "contact_id": survivor["id"], "role": "buyer",
             "created_at": clock.now()},
            {"org_id": org.id, "deal_id": shared, "contact_id": dup["id"], "role": "champion",
             "created_at": clock.now()},
            {"org_id": org.id, "deal_id": own, "contact_id": dup["id"], "role": "user", "created_at": clock.now()}])
    r = await verb(client, org.admin, survivor["id"], "merge", {"from_ids": [dup["id"]]})
    assert r.status_code == 200, r.text
    moved = await rows(db, activities, activities.c.id.in_([a["id"] for a in acts]))
    assert {a["contact_id"] for a in moved} == {survivor["id"]} and {a["version"] for a in moved} == {2}
    [d1] = await rows(db, deals, deals.c.id == shared)
    assert d1["contact_id"] == survivor["id"] and d1["version"] == 2
    links = await rows(db, deal_contacts, deal_contacts.c.org_id == org.id)
    assert sorted((x["deal_id"], x["contact_id"], x["role"]) for x in links) == sorted([
        (shared, survivor["id"], "buyer"), (own, survivor["id"], "user")])
    [event] = await events_of(db, "contact.merged", survivor["id"])
    moved_counts = event["data"]["moved"]
    assert (moved_counts["activities"], moved_counts["deals"], moved_counts["deal_contacts"]) == (2, 1, 1)
    listed = await client.get(f"{API}/{survivor['id']}/activities", headers=org.admin.h)
    assert {a["id"] for a in listed.json()["data"]} == {a["id"] for a in acts}
    got = await get(client, org, survivor["id"], include="activities,deals")
    assert {a["id"] for a in got["activities"]} == {a["id"] for a in acts}
    assert shared in {d["id"] for d in got["deals"]}


@pytest.mark.parametrize("name", ["assign", "reassign"])
async def test_the_new_owner_of_a_contact_is_notified(client: httpx.AsyncClient, db: Database, org: Org,
                                                      name: str) -> None:
    from kith.notifications.tables import notifications

    c = await unowned(client, org) if name == "assign" else await create(client, org.admin,
                                                                          owner_id=org.rep.user_id)
    assert (await verb(client, org.manager, c["id"], name, {"owner_id": org.other_rep.user_id})).status_code == 200
    [n] = await rows(db, notifications, notifications.c.user_id == org.other_rep.user_id)
    assert (n["type"], n["subject_type"], n["subject_id"]) == ("contact.assigned", "contact", c["id"])
    assert n["data"]["assigned_by"] == org.manager.user_id and n["data"]["verb"] == name
    inbox = await client.get(f"{V1}/notifications", headers=org.other_rep.h)
    assert [x["id"] for x in inbox.json()["data"]] == [n["id"]]
    # to yourself: nobody to tell
    assert (await verb(client, org.manager, c["id"], "reassign", {"owner_id": org.manager.user_id})).status_code == 200
    assert await rows(db, notifications, notifications.c.user_id == org.manager.user_id) == []
