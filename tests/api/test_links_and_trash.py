"""Contact ↔ company links and deletes (seed 000 "Manual route semantics", DESIGN §5.2): links are
their own verb, one primary per contact, deletes remove junction rows and unlink visitors but keep
the other side, the trash restores within 30 days, ``?permanent=true`` erases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.contacts.tables import contact_companies, contacts
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.events import events
from kith.visitors.tables import visitors
from tests.conftest import Org, count_rows, problem

CONTACTS = "/api/v1/contacts"
COMPANIES = "/api/v1/companies"


async def new_contact(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Pat")
    r = await client.post(CONTACTS, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def new_company(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Acme")
    r = await client.post(COMPANIES, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def link(client: httpx.AsyncClient, who: Any, contact_id: str, company_id: str, **extra: Any
               ) -> httpx.Response:
    return await client.post(f"{CONTACTS}/{contact_id}/companies", json={"company_id": company_id, **extra},
                             headers=who.h)


async def unlink(client: httpx.AsyncClient, who: Any, contact_id: str, company_id: str) -> httpx.Response:
    return await client.delete(f"{CONTACTS}/{contact_id}/companies/{company_id}", headers=who.h)


async def companies_of(client: httpx.AsyncClient, who: Any, contact_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"{CONTACTS}/{contact_id}/companies", headers=who.h)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


async def contacts_of(client: httpx.AsyncClient, who: Any, company_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"{COMPANIES}/{company_id}/contacts", headers=who.h)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def primaries(links: list[dict[str, Any]]) -> list[str]:
    return [link_["id"] for link_ in links if link_["is_primary"]]


async def junction_rows(db: Database) -> set[tuple[str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(contact_companies.c.contact_id, contact_companies.c.company_id))
        return {(r.contact_id, r.company_id) for r in rows}


async def add_visitor(db: Database, org_id: str, visitor_id: str, contact_id: str | None,
                      active_company_id: str | None = None) -> str:
    row_id = ids.new("visitor")
    now = clock.now()
    async with db.engine.begin() as conn:
        await conn.execute(visitors.insert(), {
            "org_id": org_id, "id": row_id, "visitor_id": visitor_id, "properties": {}, "contact_id": contact_id,
            "active_company_id": active_company_id, "first_seen_at": now, "last_seen_at": now})
    return row_id


async def visitor_links(db: Database, row_id: str) -> tuple[str | None, str | None]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(visitors.c.contact_id, visitors.c.active_company_id)
                                  .where(visitors.c.id == row_id))).one()
        return row.contact_id, row.active_company_id


async def event_types(db: Database, subject_id: str) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(events.c.type).where(events.c.subject_id == subject_id)
                                  .order_by(events.c.id))
        return list(rows.scalars())


# --- links are a separate verb -------------------------------------------------------------------

async def test_creating_and_updating_records_never_links_them(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    company = await new_company(client, org.admin, name="Acme", external_id="acme", domain="acme.com")
    contact = await new_contact(client, org.admin, name="Alice", email="alice@acme.com",
                                metadata={"company": "acme"})
    problem(await client.post(CONTACTS, json={"name": "X", "company_id": company["id"]}, headers=org.admin.h), 422)
    problem(await client.patch(f"{CONTACTS}/{contact['id']}", json={"companies": [company["id"]]},
                               headers=org.admin.h), 422)
    r = await client.patch(f"{CONTACTS}/{contact['id']}", json={"title": "CEO"}, headers=org.admin.h)
    assert r.status_code == 200
    r = await client.patch(f"{COMPANIES}/{company['id']}", json={"industry": "Tools"}, headers=org.admin.h)
    assert r.status_code == 200
    assert await junction_rows(db) == set()
    assert await companies_of(client, org.admin, contact["id"]) == []
    assert await contacts_of(client, org.admin, company["id"]) == []


async def test_linking_a_company_answers_201_and_linking_again_updates_the_link(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin)
    r = await link(client, org.admin, contact["id"], company["id"], role="Decision maker", title="CTO")
    assert r.status_code == 201, r.text
    [row] = r.json()["data"]
    assert (row["id"], row["name"], row["is_primary"], row["role"], row["title"]) == (
        company["id"], "Acme", True, "Decision maker", "CTO")
    r = await link(client, org.admin, contact["id"], company["id"], title="CEO")
    assert r.status_code == 200, r.text
    [row] = r.json()["data"]
    assert (row["role"], row["title"], row["is_primary"]) == ("Decision maker", "CEO", True)
    r = await link(client, org.admin, contact["id"], company["id"], role="Champion")
    assert r.json()["data"][0]["role"] == "Champion" and r.json()["data"][0]["title"] == "CEO"
    assert await junction_rows(db) == {(contact["id"], company["id"])}
    assert await event_types(db, contact["id"]) == ["contact.created"] + ["contact.company-linked"] * 3


async def test_linking_keeps_both_records_unchanged(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin)
    assert (await link(client, org.admin, contact["id"], company["id"])).status_code == 201
    assert (await client.get(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).json() == contact
    assert (await client.get(f"{COMPANIES}/{company['id']}", headers=org.admin.h)).json() == company


async def test_a_contact_has_many_companies_and_a_company_many_contacts(client: httpx.AsyncClient,
                                                                        org: Org) -> None:
    alice, bob = await new_contact(client, org.admin, name="Alice"), await new_contact(client, org.admin, name="Bob")
    acme, globex = await new_company(client, org.admin, name="Acme"), await new_company(client, org.admin,
                                                                                          name="Globex")
    for contact in (alice, bob):
        for company in (acme, globex):
            assert (await link(client, org.admin, contact["id"], company["id"])).status_code == 201
    assert {c["id"] for c in await companies_of(client, org.admin, alice["id"])} == {acme["id"], globex["id"]}
    assert [c["id"] for c in await contacts_of(client, org.admin, globex["id"])] == [alice["id"], bob["id"]]


async def test_the_first_link_is_primary_and_later_ones_are_not(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    a, b = await new_company(client, org.admin, name="A"), await new_company(client, org.admin, name="B")
    await link(client, org.admin, contact["id"], a["id"])
    r = await link(client, org.admin, contact["id"], b["id"])
    assert primaries(r.json()["data"]) == [a["id"]]


async def test_only_one_company_is_primary_per_contact(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    other = await new_contact(client, org.admin, name="Other")
    a, b, c = [await new_company(client, org.admin, name=n) for n in "ABC"]
    await link(client, org.admin, other["id"], a["id"], is_primary=True)
    for company in (a, b, c):
        r = await link(client, org.admin, contact["id"], company["id"], is_primary=True)
        assert primaries(r.json()["data"]) == [company["id"]]
    r = await link(client, org.admin, contact["id"], a["id"], is_primary=True)
    assert r.status_code == 200 and primaries(r.json()["data"]) == [a["id"]]
    r = await link(client, org.admin, contact["id"], b["id"], role="Buyer")  # not sent: keeps the flag
    assert primaries(r.json()["data"]) == [a["id"]]
    # another contact's primary is untouched
    assert primaries(await companies_of(client, org.admin, other["id"])) == [a["id"]]
    async with db.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(contact_companies).where(
            contact_companies.c.contact_id == contact["id"], contact_companies.c.is_primary.is_(True)))).scalar()
    assert n == 1


async def test_a_contact_may_have_no_primary_after_demoting_it(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    a = await new_company(client, org.admin, name="A")
    await link(client, org.admin, contact["id"], a["id"])
    r = await link(client, org.admin, contact["id"], a["id"], is_primary=False)
    assert r.status_code == 200 and primaries(r.json()["data"]) == []


async def test_unlinking_the_primary_promotes_another_company(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    contact = await new_contact(client, org.admin)
    a, b, c = [await new_company(client, org.admin, name=n) for n in "ABC"]
    t0 = clock.now()
    for i, company in enumerate((a, b, c)):
        with clock.frozen(t0 + timedelta(seconds=i + 1)):
            await link(client, org.admin, contact["id"], company["id"])
    await link(client, org.admin, contact["id"], c["id"], is_primary=True)
    r = await unlink(client, org.admin, contact["id"], c["id"])
    assert r.status_code == 204
    links = await companies_of(client, org.admin, contact["id"])
    assert {x["id"] for x in links} == {a["id"], b["id"]}
    assert primaries(links) == [a["id"]]  # the oldest remaining link
    assert await junction_rows(db) == {(contact["id"], a["id"]), (contact["id"], b["id"])}
    # unlinking a non-primary leaves the primary alone
    assert (await unlink(client, org.admin, contact["id"], b["id"])).status_code == 204
    assert primaries(await companies_of(client, org.admin, contact["id"])) == [a["id"]]
    assert (await unlink(client, org.admin, contact["id"], a["id"])).status_code == 204
    assert await companies_of(client, org.admin, contact["id"]) == []
    assert (await client.get(f"{COMPANIES}/{a['id']}", headers=org.admin.h)).status_code == 200


async def test_unlinking_what_is_not_linked_is_not_found(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin)
    before = await count_rows(db)
    problem(await unlink(client, org.admin, contact["id"], company["id"]), 404)
    problem(await unlink(client, org.admin, contact["id"], "company_nope"), 404)
    assert await count_rows(db) == before


async def test_linking_to_a_missing_or_foreign_record_is_not_found(client: httpx.AsyncClient, db: Database,
                                                                   org: Org, other_org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin)
    foreign_company = await new_company(client, other_org.admin)
    foreign_contact = await new_contact(client, other_org.admin)
    before = await count_rows(db)
    body = problem(await link(client, org.admin, contact["id"], "company_nope"), 404)
    assert body["field"] == "company_id"
    problem(await link(client, org.admin, contact["id"], foreign_company["id"]), 404)
    problem(await link(client, org.admin, foreign_contact["id"], company["id"]), 404)
    problem(await link(client, org.admin, "contact_nope", company["id"]), 404)
    assert await count_rows(db) == before


async def test_includes_and_sub_lists_show_the_links(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin, name="Alice", email="alice@acme.com")
    company = await new_company(client, org.admin, name="Acme", domain="acme.com", stage="qualified")
    await link(client, org.admin, contact["id"], company["id"], role="Champion", title="VP")
    plain = (await client.get(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).json()
    assert "companies" not in plain or plain["companies"] is None
    got = (await client.get(f"{CONTACTS}/{contact['id']}", params={"include": "companies"},
                            headers=org.admin.h)).json()
    assert got["companies"] == [{"id": company["id"], "name": "Acme", "domain": "acme.com", "stage": "Qualified",
                                 "is_placeholder": False, "is_primary": True, "role": "Champion", "title": "VP"}]
    assert got["companies"] == await companies_of(client, org.admin, contact["id"])
    got = (await client.get(f"{COMPANIES}/{company['id']}", params={"include": "contacts"},
                            headers=org.admin.h)).json()
    assert got["contacts"] == [{"id": contact["id"], "name": "Alice", "email": "alice@acme.com", "stage": "lead",
                                "is_primary": True, "role": "Champion", "title": "VP"}]
    assert got["contacts"] == await contacts_of(client, org.admin, company["id"])
    problem(await client.get(f"{CONTACTS}/{contact['id']}", params={"include": "deals,nonsense"},
                             headers=org.admin.h), 422)


async def test_linking_needs_update_rights_on_both_records(client: httpx.AsyncClient, db: Database,
                                                           org: Org) -> None:
    mine = await new_contact(client, org.rep, name="Mine")
    theirs_company = await new_company(client, org.other_rep, name="Theirs")
    my_company = await new_company(client, org.rep, name="My co")
    theirs_contact = await new_contact(client, org.other_rep, name="Theirs")
    before = await count_rows(db)
    problem(await link(client, org.rep, mine["id"], theirs_company["id"]), 403)
    problem(await link(client, org.rep, theirs_contact["id"], my_company["id"]), 403)
    problem(await link(client, org.viewer, mine["id"], my_company["id"]), 403)
    assert await count_rows(db) == before
    assert (await link(client, org.rep, mine["id"], my_company["id"])).status_code == 201


# --- deletes -------------------------------------------------------------------------------------

async def test_deleting_a_contact_removes_its_links_and_unlinks_visitors_but_keeps_companies(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    keep = await new_contact(client, org.admin, name="Keep")
    a, b = await new_company(client, org.admin, name="A"), await new_company(client, org.admin, name="B")
    for c in (contact, keep):
        for co in (a, b):
            await link(client, org.admin, c["id"], co["id"])
    v1 = await add_visitor(db, org.id, "user_1", contact["id"], a["id"])
    v2 = await add_visitor(db, org.id, "user_2", keep["id"])
    assert (await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).status_code == 204
    assert await junction_rows(db) == {(keep["id"], a["id"]), (keep["id"], b["id"])}
    assert await visitor_links(db, v1) == (None, a["id"])
    assert await visitor_links(db, v2) == (keep["id"], None)
    for co in (a, b):
        assert (await client.get(f"{COMPANIES}/{co['id']}", headers=org.admin.h)).status_code == 200
        assert [x["id"] for x in await contacts_of(client, org.admin, co["id"])] == [keep["id"]]


async def test_deleting_a_company_removes_its_links_but_keeps_contacts(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    alice, bob = await new_contact(client, org.admin, name="Alice"), await new_contact(client, org.admin, name="Bob")
    acme, other = await new_company(client, org.admin, name="Acme"), await new_company(client, org.admin, name="O")
    for c in (alice, bob):
        await link(client, org.admin, c["id"], acme["id"])
    await link(client, org.admin, bob["id"], other["id"])
    v = await add_visitor(db, org.id, "user_1", alice["id"], acme["id"])
    assert (await client.delete(f"{COMPANIES}/{acme['id']}", headers=org.admin.h)).status_code == 204
    assert await junction_rows(db) == {(bob["id"], other["id"])}
    for c in (alice, bob):
        assert (await client.get(f"{CONTACTS}/{c['id']}", headers=org.admin.h)).status_code == 200
    assert await companies_of(client, org.admin, alice["id"]) == []
    assert [x["id"] for x in await companies_of(client, org.admin, bob["id"])] == [other["id"]]
    assert await visitor_links(db, v) == (alice["id"], None)


async def test_only_an_admin_deletes(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.rep)
    before = await count_rows(db)
    for who in (org.rep, org.manager, org.viewer):
        problem(await client.delete(f"{CONTACTS}/{contact['id']}", headers=who.h), 403)
    assert await count_rows(db) == before


# --- trash ---------------------------------------------------------------------------------------

async def test_a_deleted_contact_is_hidden_from_every_read(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin, email="gone@example.com", tags=["vip"])
    company = await new_company(client, org.admin)
    await link(client, org.admin, contact["id"], company["id"])
    assert (await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).status_code == 204
    cid = contact["id"]
    problem(await client.get(f"{CONTACTS}/{cid}", headers=org.admin.h), 404)
    problem(await client.get(f"{CONTACTS}/{cid}/companies", headers=org.admin.h), 404)
    problem(await client.get(f"{CONTACTS}/{cid}/timeline", headers=org.admin.h), 404)
    problem(await client.patch(f"{CONTACTS}/{cid}", json={"name": "X"}, headers=org.admin.h), 404)
    problem(await client.delete(f"{CONTACTS}/{cid}", headers=org.admin.h), 404)
    problem(await link(client, org.admin, cid, company["id"]), 404)
    for params in ({}, {"tag": "vip"}, {"email": "gone@example.com"}, {"q": "gone"}, {"company_id": company["id"]}):
        r = await client.get(CONTACTS, params=params, headers=org.admin.h)
        assert r.json()["data"] == [], params
    assert await contacts_of(client, org.admin, company["id"]) == []
    got = (await client.get(f"{COMPANIES}/{company['id']}", params={"include": "contacts"},
                            headers=org.admin.h)).json()
    assert got["contacts"] == []


async def test_a_deleted_company_cannot_be_linked_or_read(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin, external_id="acme")
    assert (await client.delete(f"{COMPANIES}/{company['id']}", headers=org.admin.h)).status_code == 204
    problem(await client.get(f"{COMPANIES}/{company['id']}", headers=org.admin.h), 404)
    problem(await client.get(f"{COMPANIES}/{company['id']}/contacts", headers=org.admin.h), 404)
    problem(await link(client, org.admin, contact["id"], company["id"]), 404)
    assert (await client.get(COMPANIES, params={"external_id": "acme"}, headers=org.admin.h)).json()["data"] == []


async def test_the_trash_lists_deleted_records(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin, name="Trashed person")
    company = await new_company(client, org.admin, name="Trashed co")
    await new_contact(client, org.admin, name="Alive")
    assert (await client.get("/api/v1/trash", headers=org.admin.h)).json()["data"] == []
    await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)
    await client.delete(f"{COMPANIES}/{company['id']}", headers=org.admin.h)
    r = await client.get("/api/v1/trash", headers=org.admin.h)
    assert r.status_code == 200
    rows = {x["id"]: x for x in r.json()["data"]}
    assert set(rows) == {contact["id"], company["id"]}
    assert rows[contact["id"]]["record_type"] == "contact" and rows[contact["id"]]["name"] == "Trashed person"
    assert rows[company["id"]]["deleted_by"] == org.admin.user_id
    only = (await client.get("/api/v1/trash", params={"object": "company"}, headers=org.admin.h)).json()["data"]
    assert [x["id"] for x in only] == [company["id"]]


async def test_the_trash_is_per_org_and_admin_only(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    contact = await new_contact(client, org.admin)
    await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)
    assert (await client.get("/api/v1/trash", headers=other_org.admin.h)).json()["data"] == []
    problem(await client.get("/api/v1/trash", headers=org.manager.h), 403)
    problem(await client.post(f"{CONTACTS}/{contact['id']}/restore", headers=other_org.admin.h), 404)
    problem(await client.post(f"{CONTACTS}/{contact['id']}/restore", headers=org.manager.h), 403)


async def test_restoring_a_contact_brings_back_its_links_to_companies_still_alive(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin, email="back@example.com", tags=["vip"])
    a, b = await new_company(client, org.admin, name="A"), await new_company(client, org.admin, name="B")
    await link(client, org.admin, contact["id"], a["id"], role="Buyer", title="CFO")
    await link(client, org.admin, contact["id"], b["id"], is_primary=True)
    v = await add_visitor(db, org.id, "user_1", contact["id"])
    assert (await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).status_code == 204
    assert (await client.delete(f"{COMPANIES}/{b['id']}", headers=org.admin.h)).status_code == 204
    r = await client.post(f"{CONTACTS}/{contact['id']}/restore", headers=org.admin.h)
    assert r.status_code == 200, r.text
    restored = r.json()
    assert restored["id"] == contact["id"] and restored["email"] == "back@example.com"
    assert restored["version"] > contact["version"]
    assert r.headers["etag"] == f'"v{restored["version"]}"'
    assert (await client.get(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).status_code == 200
    links = await companies_of(client, org.admin, contact["id"])
    assert [(x["id"], x["role"], x["title"]) for x in links] == [(a["id"], "Buyer", "CFO")]
    assert await junction_rows(db) == {(contact["id"], a["id"])}
    assert await visitor_links(db, v) == (contact["id"], None)
    assert (await client.get(CONTACTS, params={"tag": "vip"}, headers=org.admin.h)).json()["data"][0]["id"] == \
        contact["id"]
    assert (await client.get("/api/v1/trash", params={"object": "contact"}, headers=org.admin.h)).json()["data"] == []
    problem(await client.post(f"{CONTACTS}/{contact['id']}/restore", headers=org.admin.h), 404)  # not in trash


async def test_restoring_a_company_brings_back_its_contact_links(client: httpx.AsyncClient, db: Database,
                                                                 org: Org) -> None:
    alice, bob = await new_contact(client, org.admin, name="Alice"), await new_contact(client, org.admin, name="Bob")
    acme = await new_company(client, org.admin, name="Acme", domain="acme.com")
    for c in (alice, bob):
        await link(client, org.admin, c["id"], acme["id"])
    await client.delete(f"{COMPANIES}/{acme['id']}", headers=org.admin.h)
    await client.delete(f"{CONTACTS}/{bob['id']}", headers=org.admin.h)
    r = await client.post(f"{COMPANIES}/{acme['id']}/restore", headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert r.json()["domain"] == "acme.com"
    assert [x["id"] for x in await contacts_of(client, org.admin, acme["id"])] == [alice["id"]]
    assert primaries(await companies_of(client, org.admin, alice["id"])) == [acme["id"]]
    assert await junction_rows(db) == {(alice["id"], acme["id"])}


async def test_a_restored_company_does_not_steal_the_primary_flag(client: httpx.AsyncClient, org: Org) -> None:
    alice = await new_contact(client, org.admin)
    acme, other = await new_company(client, org.admin, name="Acme"), await new_company(client, org.admin, name="O")
    await link(client, org.admin, alice["id"], acme["id"])
    await client.delete(f"{COMPANIES}/{acme['id']}", headers=org.admin.h)
    await link(client, org.admin, alice["id"], other["id"])  # becomes primary meanwhile
    await client.post(f"{COMPANIES}/{acme['id']}/restore", headers=org.admin.h)
    links = await companies_of(client, org.admin, alice["id"])
    assert {x["id"] for x in links} == {acme["id"], other["id"]}
    assert primaries(links) == [other["id"]]


async def test_restore_after_thirty_days_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    deleted_at = clock.now()
    with clock.frozen(deleted_at):
        assert (await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.admin.h)).status_code == 204
    with clock.frozen(deleted_at + timedelta(days=30, minutes=1)):
        assert (await client.get("/api/v1/trash", headers=org.admin.h)).json()["data"] == []
        problem(await client.post(f"{CONTACTS}/{contact['id']}/restore", headers=org.admin.h), 404)
        problem(await client.get(f"{CONTACTS}/{contact['id']}", headers=org.admin.h), 404)


async def test_restore_just_within_thirty_days_works(client: httpx.AsyncClient, org: Org) -> None:
    company = await new_company(client, org.admin)
    deleted_at = clock.now()
    with clock.frozen(deleted_at):
        await client.delete(f"{COMPANIES}/{company['id']}", headers=org.admin.h)
    with clock.frozen(deleted_at + timedelta(days=29, hours=23)):
        assert [x["id"] for x in (await client.get("/api/v1/trash", headers=org.admin.h)).json()["data"]] == [
            company["id"]]
        r = await client.post(f"{COMPANIES}/{company['id']}/restore", headers=org.admin.h)
        assert r.status_code == 200, r.text


async def test_restore_is_refused_when_another_contact_took_the_email(client: httpx.AsyncClient, db: Database,
                                                                       org: Org) -> None:
    old = await new_contact(client, org.admin, name="Old", email="same@example.com")
    await client.delete(f"{CONTACTS}/{old['id']}", headers=org.admin.h)
    new = await new_contact(client, org.admin, name="New", email="Same@Example.com")
    assert new["email"] == "same@example.com"
    before = await count_rows(db)
    body = problem(await client.post(f"{CONTACTS}/{old['id']}/restore", headers=org.admin.h), 409)
    assert body["field"] == "email" and body["existing_id"] == new["id"]
    assert await count_rows(db) == before
    problem(await client.get(f"{CONTACTS}/{old['id']}", headers=org.admin.h), 404)
    assert [x["id"] for x in (await client.get("/api/v1/trash", headers=org.admin.h)).json()["data"]] == [old["id"]]


@pytest.mark.parametrize("field, value", [("external_id", "acme"), ("domain", "acme.com")])
async def test_restore_is_refused_when_another_company_took_a_unique_key(
        client: httpx.AsyncClient, db: Database, org: Org, field: str, value: str) -> None:
    old = await new_company(client, org.admin, name="Old", **{field: value})
    await client.delete(f"{COMPANIES}/{old['id']}", headers=org.admin.h)
    await new_company(client, org.admin, name="New", **{field: value})
    before = await count_rows(db)
    body = problem(await client.post(f"{COMPANIES}/{old['id']}/restore", headers=org.admin.h), 409)
    assert body["field"] == field
    assert await count_rows(db) == before


async def test_a_deleted_contacts_email_can_be_reused(client: httpx.AsyncClient, org: Org) -> None:
    old = await new_contact(client, org.admin, email="reuse@example.com")
    await client.delete(f"{CONTACTS}/{old['id']}", headers=org.admin.h)
    new = await new_contact(client, org.admin, email="reuse@example.com")
    assert new["id"] != old["id"]
    r = await client.get(CONTACTS, params={"email": "reuse@example.com"}, headers=org.admin.h)
    assert [x["id"] for x in r.json()["data"]] == [new["id"]]


async def test_permanent_delete_removes_the_row_for_good(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin, tags=["vip"])
    company = await new_company(client, org.admin)
    await link(client, org.admin, contact["id"], company["id"])
    before = await count_rows(db, "contacts", "record_tags", "contact_companies", "trash")
    r = await client.delete(f"{CONTACTS}/{contact['id']}", params={"permanent": "true"}, headers=org.admin.h)
    assert r.status_code == 204, r.text
    assert await count_rows(db, "contacts", "record_tags", "contact_companies", "trash") == {
        "contacts": before["contacts"] - 1, "record_tags": before["record_tags"] - 1,
        "contact_companies": before["contact_companies"] - 1, "trash": before["trash"]}
    problem(await client.get(f"{CONTACTS}/{contact['id']}", headers=org.admin.h), 404)
    problem(await client.post(f"{CONTACTS}/{contact['id']}/restore", headers=org.admin.h), 404)
    assert (await client.get("/api/v1/trash", headers=org.admin.h)).json()["data"] == []
    assert (await client.get(f"{COMPANIES}/{company['id']}", headers=org.admin.h)).status_code == 200
    assert (await event_types(db, contact["id"]))[-1] == "contact.deleted"


async def test_permanent_delete_works_on_a_record_already_in_the_trash(client: httpx.AsyncClient, db: Database,
                                                                       org: Org) -> None:
    company = await new_company(client, org.admin)
    await client.delete(f"{COMPANIES}/{company['id']}", headers=org.admin.h)
    assert (await count_rows(db, "trash"))["trash"] == 1
    r = await client.delete(f"{COMPANIES}/{company['id']}", params={"permanent": "true"}, headers=org.admin.h)
    assert r.status_code == 204, r.text
    assert await count_rows(db, "companies", "trash") == {"companies": 0, "trash": 0}
    problem(await client.post(f"{COMPANIES}/{company['id']}/restore", headers=org.admin.h), 404)
    problem(await client.delete(f"{COMPANIES}/{company['id']}", params={"permanent": "true"}, headers=org.admin.h),
            404)


async def test_deleting_a_contact_with_visitors_permanently_keeps_the_visitors(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    v = await add_visitor(db, org.id, "user_9", contact["id"])
    r = await client.delete(f"{CONTACTS}/{contact['id']}", params={"permanent": "true"}, headers=org.admin.h)
    assert r.status_code == 204
    assert await visitor_links(db, v) == (None, None)
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(contacts))).scalar() == 0


# --- link events and the timeline ----------------------------------------------------------------

async def test_link_and_unlink_emit_events_with_before_and_after(client: httpx.AsyncClient, db: Database,
                                                                 org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin)
    await link(client, org.admin, contact["id"], company["id"], role="Buyer")
    await link(client, org.manager, contact["id"], company["id"], title="CTO")
    await unlink(client, org.admin, contact["id"], company["id"])
    async with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(
            sa.select(events).where(events.c.type.like("contact.company-%")).order_by(events.c.id))]
    assert [(e["type"], e["actor_id"], e["subject_id"]) for e in rows] == [
        ("contact.company-linked", org.admin.user_id, contact["id"]),
        ("contact.company-linked", org.manager.user_id, contact["id"]),
        ("contact.company-unlinked", org.admin.user_id, contact["id"])]
    first, second, third = (e["data"] for e in rows)
    assert first["company_id"] == company["id"] and first["before"] is None
    assert first["after"] == {"is_primary": True, "role": "Buyer"}
    assert second["before"] == {"is_primary": True, "role": "Buyer", "title": None}
    assert second["after"]["title"] == "CTO"
    assert third["company_id"] == company["id"]


async def test_a_link_event_appears_in_both_timelines(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = await new_company(client, org.admin)
    await link(client, org.admin, contact["id"], company["id"])
    await unlink(client, org.admin, contact["id"], company["id"])
    for path in (f"{CONTACTS}/{contact['id']}/timeline", f"{COMPANIES}/{company['id']}/timeline"):
        data = (await client.get(path, headers=org.admin.h)).json()["data"]
        assert [e["type"] for e in data[:2]] == ["contact.company-unlinked", "contact.company-linked"], path
    company_tl = (await client.get(f"{COMPANIES}/{company['id']}/timeline", headers=org.admin.h)).json()["data"]
    assert [e["type"] for e in company_tl] == ["contact.company-unlinked", "contact.company-linked",
                                               "company.created"]


async def test_a_refused_link_leaves_no_event(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    before = await count_rows(db, "events", "event_refs", "contact_companies")
    problem(await link(client, org.admin, contact["id"], "company_nope"), 404)
    problem(await link(client, org.admin, contact["id"], ""), 422)
    assert await count_rows(db, "events", "event_refs", "contact_companies") == before
