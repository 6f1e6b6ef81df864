"""The seed 002 leads feed: ``POST /api/v1/leads`` upserts on ``external_key`` (a resend updates the
lead, never duplicates it, also when 16 resends race), matches the lead's person by email or creates
it, and ``POST /api/v1/leads/batch`` takes up to 1,000 leads in one transaction with a result per
lead, at a fixed number of statements whatever the batch size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from kith.config import Settings
from kith.contacts.tables import contacts
from kith.core import hooks
from kith.core.db import Database
from kith.core.errors import RuleViolation
from kith.entrypoints.app import create_app
from kith.leads.tables import leads
from tests.api._lead_helpers import LEADS, events_of, new_contact, notifications_of, rows, snapshot
from tests.conftest import Org, count_rows, problem

BATCH = f"{LEADS}/batch"


@pytest.fixture
async def big(db: Database, db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that takes bodies of a thousand leads."""
    app = create_app(Settings(database_url=db_url, max_body_bytes=16 * 1024 * 1024), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
        yield c


def feed_lead(i: int, **over: Any) -> dict[str, Any]:
    body = {"external_key": f"listing-{i}", "source": "scraper", "channel": "email", "listing_ref": f"L{i}",
            "source_url": f"https://listings.example.com/{i}", "payload": {"price": 1000 + i},
            "contact": {"email": f"owner{i}@example.com", "name": f"Owner {i}"}}
    body.update(over)
    return body


async def post(client: httpx.AsyncClient, who: Any, body: dict[str, Any]) -> httpx.Response:
    return await client.post(LEADS, json=body, headers=who.h)


# --- single upsert -----------------------------------------------------------------------------------


async def test_a_feed_lead_creates_its_contact_and_a_resend_updates_the_same_lead(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    r = await post(client, org.marketing, feed_lead(1, contact={"email": "Owner1@Example.COM", "name": "Olga",
                                                                "phone": "+48 600 100 200"}))
    assert r.status_code == 201, r.text
    lead = r.json()
    [contact] = await rows(db, contacts, contacts.c.id == lead["contact_id"])
    assert (contact["email"], contact["name"], contact["phone"]) == ("owner1@example.com", "Olga", "+48 600 100 200")
    assert (contact["owner_id"], contact["source"], contact["org_id"]) == (org.marketing.user_id, "scraper", org.id)
    assert (lead["title"], lead["listing_ref"], lead["payload"]) == ("Olga (scraper)", "L1", {"price": 1001})
    assert [e["subject_id"] for e in await events_of(db, "contact.created")] == [contact["id"]]
    r = await post(client, org.marketing, feed_lead(1, payload={"price": 900}, score=40, title="Price drop"))
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["id"] == lead["id"] and again["contact_id"] == lead["contact_id"]
    assert (again["payload"], again["score"], again["title"], again["version"]) == ({"price": 900}, 40, "Price drop", 2)
    assert len(await rows(db, leads)) == 1 and len(await rows(db, contacts)) == 1
    [updated] = await events_of(db, "lead.updated", lead["id"])
    assert updated["data"]["before"] == {"payload": {"price": 1001}, "score": 0, "title": "Olga (scraper)"}
    assert updated["data"]["via"] == "feed"
    before = await count_rows(db)
    r = await post(client, org.marketing, feed_lead(1, payload={"price": 900}, score=40, title="Price drop"))
    assert r.status_code == 200 and r.json() == again  # the same resend again: nothing to write
    assert await count_rows(db) == before


async def test_a_resend_never_moves_the_lead_to_another_contact_or_owner(client: httpx.AsyncClient, db: Database,
                                                                          org: Org) -> None:
    lead = (await post(client, org.manager, feed_lead(2))).json()
    await client.post(f"{LEADS}/{lead['id']}/contacted", headers=org.manager.h)
    r = await post(client, org.manager, feed_lead(2, contact={"email": "someone.else@example.com"},
                                                  owner_id=org.rep.user_id, title="New title"))
    assert r.status_code == 200
    out = r.json()
    assert (out["contact_id"], out["owner_id"], out["status"], out["title"]) == (
        lead["contact_id"], org.manager.user_id, "contacted", "New title")
    assert len(await rows(db, contacts)) == 1  # the other email was not created: it was not needed


async def test_the_contact_is_matched_by_email_whatever_its_case(client: httpx.AsyncClient, db: Database,
                                                                 org: Org) -> None:
    known = await new_contact(client, org.admin, email="jane@example.com", name="Jane")
    r = await post(client, org.rep, {"contact": {"email": " JANE@Example.com ", "name": "Ignored"}, "source": "x"})
    assert r.status_code == 201 and r.json()["contact_id"] == known["id"]
    assert r.json()["title"] == "Jane (x)"
    assert len(await rows(db, contacts)) == 1


async def test_without_an_external_key_every_post_is_a_new_lead(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    body = {"contact": {"email": "walk.in@example.com"}}
    a, b = await post(client, org.rep, body), await post(client, org.rep, body)
    assert (a.status_code, b.status_code) == (201, 201) and a.json()["id"] != b.json()["id"]
    assert a.json()["contact_id"] == b.json()["contact_id"]


async def test_a_key_owned_by_a_lead_the_caller_cannot_see_is_refused(client: httpx.AsyncClient, db: Database,
                                                                      org: Org) -> None:
    theirs = (await post(client, org.other_rep, feed_lead(3))).json()
    before = await snapshot(client, db, org, [theirs["id"]])
    p = problem(await post(client, org.rep, feed_lead(3, title="Stolen")), 409)
    assert p["field"] == "external_key" and theirs["id"] not in p["detail"]
    assert await snapshot(client, db, org, [theirs["id"]]) == before
    assert (await post(client, org.manager, feed_lead(3, title="Seen by the manager"))).status_code == 200


async def test_the_same_key_in_another_org_is_another_lead(client: httpx.AsyncClient, db: Database, org: Org,
                                                           other_org: Org) -> None:
    ours = (await post(client, org.admin, feed_lead(4))).json()
    theirs = await post(client, other_org.admin, feed_lead(4))
    assert theirs.status_code == 201 and theirs.json()["id"] != ours["id"]
    assert theirs.json()["contact_id"] != ours["contact_id"]


@pytest.mark.parametrize("persona, status", [("admin", 201), ("manager", 201), ("rep", 403), ("marketing", 403)])
async def test_giving_a_new_lead_to_someone_else_needs_lead_reassign(client: httpx.AsyncClient, db: Database,
                                                                     org: Org, persona: str, status: int) -> None:
    before = await count_rows(db)
    r = await post(client, getattr(org, persona), feed_lead(5, owner_id=org.other_rep.user_id))
    if status == 403:
        assert problem(r, 403)["permission"] == "lead:reassign"
        assert await count_rows(db) == before
        return
    assert r.status_code == 201 and r.json()["owner_id"] == org.other_rep.user_id
    [contact] = await rows(db, contacts)
    assert contact["owner_id"] == org.other_rep.user_id
    [note] = await notifications_of(db, org.other_rep.user_id, "lead.assigned")
    assert note["subject_id"] == r.json()["id"]


async def test_an_unknown_or_foreign_owner_or_contact_is_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                                                 other_org: Org) -> None:
    foreign_contact = await new_contact(client, other_org.admin, email="theirs@example.com")
    before = await count_rows(db)
    for body, field in ((feed_lead(6, owner_id="user_nobody"), "owner_id"),
                        (feed_lead(6, owner_id=other_org.admin.user_id), "owner_id"),
                        ({"contact_id": foreign_contact["id"], "external_key": "k"}, "contact_id"),
                        ({"contact_id": "contact_nobody"}, "contact_id")):
        p = problem(await post(client, org.admin, body), 422)
        assert p["errors"][0]["field"] == field
    assert await count_rows(db) == before


@pytest.mark.parametrize("persona", ["support", "viewer"])
async def test_roles_without_lead_create_cannot_feed(client: httpx.AsyncClient, db: Database, org: Org,
                                                     persona: str) -> None:
    before = await count_rows(db)
    problem(await post(client, getattr(org, persona), feed_lead(7)), 403)
    problem(await client.post(BATCH, json={"leads": [feed_lead(7)]}, headers=getattr(org, persona).h), 403)
    assert await count_rows(db) == before


async def test_sixteen_concurrent_resends_make_one_lead_and_one_contact(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    results = await asyncio.gather(*(post(client, org.marketing, feed_lead(8)) for _ in range(16)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 15 + [201], [r.text for r in results if r.status_code not in (200, 201)]
    assert len({r.json()["id"] for r in results}) == 1
    assert len(await rows(db, leads)) == 1 and len(await rows(db, contacts)) == 1
    assert len(await events_of(db, "lead.created")) == 1 and await events_of(db, "lead.updated") == []


async def test_concurrent_new_leads_of_one_new_person_share_one_contact(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    results = await asyncio.gather(*(post(client, org.rep, feed_lead(i, contact={"email": "same@example.com"}))
                                     for i in range(8)))
    assert [r.status_code for r in results] == [201] * 8, [r.text for r in results]
    assert len(await rows(db, leads)) == 8 and len(await rows(db, contacts)) == 1


# --- batch -------------------------------------------------------------------------------------------


async def test_a_batch_reports_each_lead_and_writes_only_the_good_ones(big: httpx.AsyncClient, db: Database,
                                                                       org: Org, other_org: Org) -> None:
    existing = (await post(big, org.rep, feed_lead(0))).json()
    foreign = await new_contact(big, other_org.admin)
    before = await count_rows(db)
    items: list[Any] = [
        feed_lead(0, score=70),                                  # 0 resend: updated
        feed_lead(1),                                            # 1 new
        feed_lead(2, score=500),                                 # 2 invalid score
        {"contact_id": foreign["id"], "external_key": "x"},      # 3 another org's contact
        feed_lead(3, owner_id=org.manager.user_id),              # 4 rep may not give it away
        "not an object",                                         # 5
        feed_lead(1, title="Second sight"),                      # 6 same key as 1: updates it
        feed_lead(4, contact={"email": "nope"}),                 # 7 bad email
        feed_lead(5, contact={"email": "owner1@example.com"}),   # 8 new lead, contact made by item 1
        feed_lead(6, colour="red"),                              # 9 unknown field
    ]
    r = await big.post(BATCH, json={"leads": items}, headers=org.rep.h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["updated"], out["failed"]) == (2, 2, 6)
    res = out["results"]
    assert [x["index"] for x in res] == list(range(10))
    assert [x["status"] for x in res] == ["updated", "created", "error", "error", "error", "error", "updated", "error",
                                          "created", "error"]
    assert res[0]["id"] == existing["id"] and res[6]["id"] == res[1]["id"]
    assert res[2]["errors"][0]["field"] == "score" and res[2]["code"] == "validation-failed"
    assert res[3]["errors"][0]["field"] == "contact_id"
    assert res[4]["code"] == "forbidden" and res[4]["errors"][0]["field"] == "owner_id"
    assert res[5]["errors"][0]["field"] == "lead"
    assert res[7]["errors"][0]["field"] == "contact.email"
    assert res[9]["errors"][0]["field"] == "colour"
    after = await count_rows(db)
    assert after["leads"] - before["leads"] == 2 and after["contacts"] - before["contacts"] == 1
    one = (await big.get(f"{LEADS}/{res[1]['id']}", headers=org.rep.h)).json()
    assert one["title"] == "Second sight" and one["version"] == 1
    eight = (await big.get(f"{LEADS}/{res[8]['id']}", headers=org.rep.h)).json()
    assert eight["contact_id"] == one["contact_id"]
    assert (await big.get(f"{LEADS}/{existing['id']}", headers=org.rep.h)).json()["score"] == 70
    assert len(await events_of(db, "lead.created")) == 3 and len(await events_of(db, "lead.updated")) == 2


async def test_a_resent_batch_updates_and_never_duplicates(big: httpx.AsyncClient, db: Database, org: Org) -> None:
    items = [feed_lead(i) for i in range(50)]
    first = (await big.post(BATCH, json={"leads": items}, headers=org.admin.h)).json()
    assert first["created"] == 50
    again = (await big.post(BATCH, json={"leads": [feed_lead(i, score=9) for i in range(50)]},
                            headers=org.admin.h)).json()
    assert (again["created"], again["updated"], again["failed"]) == (0, 50, 0)
    assert [x["id"] for x in again["results"]] == [x["id"] for x in first["results"]]
    assert len(await rows(db, leads)) == 50 and len(await rows(db, contacts)) == 50
    assert {x["score"] for x in await rows(db, leads)} == {9}
    assert {x["version"] for x in await rows(db, leads)} == {2}


@pytest.mark.parametrize("body", [
    pytest.param({"leads": []}, id="empty"),
    pytest.param({"leads": {"a": 1}}, id="not-a-list"),
    pytest.param({}, id="missing"),
    pytest.param({"leads": [{"contact_id": "c"}] * 1001}, id="over-1000"),
    pytest.param({"leads": [], "extra": 1}, id="unknown-field"),
])
async def test_a_bad_batch_is_refused_whole(big: httpx.AsyncClient, db: Database, org: Org,
                                            body: dict[str, Any]) -> None:
    before = await count_rows(db)
    assert problem(await big.post(BATCH, json=body, headers=org.admin.h), 422)["errors"]
    assert await count_rows(db) == before


async def test_a_batch_of_a_thousand_is_one_transaction_of_a_fixed_number_of_statements(
        big: httpx.AsyncClient, db: Database, org: Org) -> None:
    engine = db.sync_engine if db.sync_engine is not None else db.engine.sync_engine
    seen: list[str] = []

    def grab(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", grab)
    try:
        counts = []
        for n, start in ((10, 0), (1000, 10)):
            seen.clear()
            r = await big.post(BATCH, json={"leads": [feed_lead(start + i) for i in range(n)]}, headers=org.admin.h)
            assert r.status_code == 200 and r.json()["created"] == n, r.text[:300]
            counts.append(len([s for s in seen if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]))
        seen.clear()
        r = await big.post(BATCH, json={"leads": [feed_lead(i, score=1) for i in range(1010)][:1000]},
                           headers=org.admin.h)
        assert r.json()["updated"] == 1000
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    assert counts[0] == counts[1], counts  # set-based: the size of the batch does not add statements
    assert counts[1] < 20
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(leads))).scalar_one() == 1010


@pytest.fixture
def hooked() -> Iterator[list[tuple[str, Any]]]:
    """Registers the hooks a test adds through it (``(name, fn)``) and removes them afterwards."""
    added: list[tuple[str, Any]] = []
    yield added
    for name, fn in added:
        hooks.unregister(name, fn)


async def test_hooks_see_a_batch_veto_single_leads_and_run_after_the_commit(
        big: httpx.AsyncClient, db: Database, org: Org, hooked: list[tuple[str, Any]]) -> None:
    seen: list[tuple[str, str]] = []

    def no_listing_2(record: dict[str, Any], cmd: hooks.Command) -> None:
        if cmd.values.get("external_key") == "listing-2":
            raise RuleViolation("acme-no-2", "listing 2 is sold")

    def no_owner_3(record: dict[str, Any], cmd: hooks.Command) -> None:
        if record["email"] == "owner3@example.com":
            raise ValueError("owner 3 asked not to be stored")

    def after(name: str) -> Any:
        def fn(record: dict[str, Any], cmd: hooks.Command) -> None:
            seen.append((name, record["id"]))
        return fn

    for name, fn in (("lead.create", no_listing_2), ("contact.create", no_owner_3)):
        hooks.before(name)(fn)
        hooked.append((name, fn))
    for name in ("lead.created", "contact.created", "lead.updated"):
        fn = after(name)
        hooks.after(name)(fn)
        hooked.append((name, fn))
    before = await count_rows(db)
    r = await big.post(BATCH, json={"leads": [feed_lead(i) for i in range(1, 5)] + [feed_lead(1, score=5)]},
                       headers=org.admin.h)
    out = r.json()
    assert [x["status"] for x in out["results"]] == ["created", "error", "error", "created", "updated"], out
    assert out["results"][1]["code"] == "rule-violation" and out["results"][2]["code"] == "vetoed"
    after_rows = await count_rows(db)
    assert after_rows["leads"] - before["leads"] == 2 and after_rows["contacts"] - before["contacts"] == 2
    ids = {x["id"] for x in out["results"] if x["status"] != "error"}
    assert sorted(n for n, _ in seen) == ["contact.created"] * 2 + ["lead.created"] * 2 + ["lead.updated"]
    assert {i for n, i in seen if n.startswith("lead.")} == ids
