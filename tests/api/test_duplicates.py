"""GET /api/v1/contacts/duplicates: groups by email, phone and name + company; who sees which
groups; trash, merge and every write path keeping the keys; pagination; bad input; the keys staying
internal; the migration's backfill; the queries walking the key indexes."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

import kith
from kith.auth.permissions import MATRIX, Grant
from kith.contacts import dedupe, duplicates
from kith.contacts.tables import contacts
from kith.core.db import Database, sync_url
from kith.core.events import events
from tests.conftest import Org, problem

API = "/api/v1/contacts"
DUPES = f"{API}/duplicates"
MEMBER_FIELDS = {"id", "name", "email", "phone", "mobile", "title", "stage", "owner_id", "created_at", "updated_at"}


async def make(client: httpx.AsyncClient, who: Any, **body: Any) -> str:
    body.setdefault("name", "Someone")
    r = await client.post(API, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def company(client: httpx.AsyncClient, org: Org, name: str) -> str:
    r = await client.post("/api/v1/companies", json={"name": name}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def link(client: httpx.AsyncClient, org: Org, contact_id: str, company_id: str) -> None:
    r = await client.post(f"{API}/{contact_id}/companies", json={"company_id": company_id}, headers=org.admin.h)
    assert r.status_code in (200, 201), r.text


async def identify(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/widget/identify", json=body, headers={"X-Kith-Widget-Key": org.widget_key})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def page(client: httpx.AsyncClient, who: Any, **params: Any) -> dict[str, Any]:
    r = await client.get(DUPES, params=params, headers=who.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def groups(client: httpx.AsyncClient, who: Any, **params: Any) -> list[tuple[str, str, list[str]]]:
    """Every group on one page, as (reason, key, contact ids)."""
    body = await page(client, who, limit=500, **params)
    assert body["next_cursor"] is None
    return [(g["reason"], g["key"], [m["id"] for m in g["contacts"]]) for g in body["data"]]


# --- the three reasons -------------------------------------------------------------------------------

async def test_emails_that_differ_in_case_gmail_dots_or_a_tag_are_one_group(client: httpx.AsyncClient,
                                                                           org: Org) -> None:
    a = await make(client, org.admin, name="John Smith", email="John.Smith@gmail.com")
    b = await make(client, org.admin, name="J. Smith", email="johnsmith+crm@googlemail.com")
    c = await make(client, org.admin, email="jo.ann@acme.test")
    await make(client, org.admin, email="joann@acme.test")  # dots matter outside Gmail
    e = await make(client, org.admin, email="jo.ann+news@acme.test")
    await make(client, org.admin, email="alone@acme.test")

    assert await groups(client, org.admin) == [
        ("email", "jo.ann@acme.test", [c, e]),
        ("email", "johnsmith@gmail.com", [a, b]),
    ]
    group = (await page(client, org.admin, reason="email"))["data"][1]
    assert group["size"] == 2 and group["company"] is None
    assert set(group["contacts"][0]) == MEMBER_FIELDS
    assert group["contacts"][0]["email"] == "john.smith@gmail.com"  # the contact as stored, not its key


async def test_phones_match_across_formats_and_between_phone_and_mobile(client: httpx.AsyncClient,
                                                                         org: Org) -> None:
    a = await make(client, org.admin, phone="+1 (555) 010-2030")
    b = await make(client, org.admin, mobile="15550102030")
    c = await make(client, org.admin, phone="001 555 010 2030", mobile="+44 7700 900123")
    d = await make(client, org.admin, mobile="+44 (0)7700 900123")
    await make(client, org.admin, phone="(555) 010-2030")  # national: no country to match it with
    await make(client, org.admin, phone="+1 555 010 9999", mobile="15550109999")  # one person, one number
    await make(client, org.admin, phone="555 0100 x12")
    await make(client, org.admin, phone="555 0100 x13")  # another extension behind the same switchboard

    assert await groups(client, org.admin, reason="phone") == [
        ("phone", "15550102030", [a, b, c]),
        ("phone", "447700900123", [c, d]),
    ]


async def test_one_name_at_one_real_company_is_a_group(client: httpx.AsyncClient, org: Org) -> None:
    acme, globex = await company(client, org, "Acme Corp"), await company(client, org, "Globex")
    a = await make(client, org.admin, name="José Álvarez")
    b = await make(client, org.admin, name="  jose  ALVAREZ ")
    c = await make(client, org.admin, name="Jose Alvarez")
    await make(client, org.admin, name="Jose Alvarez")  # no company
    for contact_id in (a, b):
        await link(client, org, contact_id, acme)
    await link(client, org, c, globex)

    body = await page(client, org.admin)
    assert [(g["reason"], g["key"], g["company"], g["size"]) for g in body["data"]] == [
        ("name_company", "jose alvarez", {"id": acme, "name": "Acme Corp"}, 2)]
    await link(client, org, c, acme)
    assert await groups(client, org.admin) == [("name_company", "jose alvarez", [a, b, c])]
    r = await client.delete(f"{API}/{b}/companies/{acme}", headers=org.admin.h)
    assert r.status_code == 204
    assert await groups(client, org.admin) == [("name_company", "jose alvarez", [a, c])]


async def test_sharing_a_placeholder_company_is_not_a_reason(client: httpx.AsyncClient, org: Org) -> None:
    widget = await identify(client, org, visitor_id="v1", email="pat@p.test", name="Pat Doe")
    [placeholder] = widget["companies"]
    assert placeholder["is_placeholder"] is True
    other = await make(client, org.admin, name="Pat Doe")
    await link(client, org, other, placeholder["id"])

    assert await groups(client, org.admin) == []


async def test_a_big_group_lists_its_oldest_contacts_and_counts_them_all(
        client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "MAX_MEMBERS", 2)
    acme = await company(client, org, "Acme")
    email = [await make(client, org.admin, email=f"big+{i}@b.test") for i in range(3)]
    phone = [await make(client, org.admin, **{("mobile" if i % 2 else "phone"): "+1 555 010 8888"})
             for i in range(3)]
    named = [await make(client, org.admin, name="Big Name") for _ in range(3)]
    for contact_id in named:
        await link(client, org, contact_id, acme)
    small = [await make(client, org.admin, email=f"small{tag}@b.test") for tag in ("", "+1")]

    body = await page(client, org.admin)
    assert [(g["key"], g["size"], [m["id"] for m in g["contacts"]]) for g in body["data"]] == [
        ("big@b.test", 3, email[:2]), ("small@b.test", 2, small),
        ("15550108888", 3, phone[:2]), ("big name", 3, named[:2])]


# --- membership follows the contacts ------------------------------------------------------------------

async def test_a_merged_contact_leaves_its_group_and_the_survivor_takes_its_phone(client: httpx.AsyncClient,
                                                                                    org: Org) -> None:
    a = await make(client, org.admin, email="ann@acme.test")
    b = await make(client, org.admin, email="ann+crm@acme.test", phone="+1 555 010 7777")
    c = await make(client, org.admin, phone="15550107777")
    assert await groups(client, org.admin) == [("email", "ann@acme.test", [a, b]),
                                                ("phone", "15550107777", [b, c])]

    r = await client.post(f"{API}/{a}/merge", json={"from_ids": [b]}, headers=org.admin.h)
    assert r.status_code == 200, r.text

    assert await groups(client, org.admin) == [("phone", "15550107777", [a, c])]


async def test_trashed_contacts_are_in_no_group_until_restored(client: httpx.AsyncClient, org: Org) -> None:
    a = await make(client, org.admin, email="kim@k.test")
    b = await make(client, org.admin, email="KIM+1@k.test")
    assert (await client.delete(f"{API}/{b}", headers=org.admin.h)).status_code == 204

    assert await groups(client, org.admin) == []
    assert (await client.post(f"{API}/{b}/restore", headers=org.admin.h)).status_code == 200
    assert await groups(client, org.admin) == [("email", "kim@k.test", [a, b])]


async def test_an_update_moves_a_contact_between_groups(client: httpx.AsyncClient, org: Org) -> None:
    a = await make(client, org.admin, email="lee@l.test", phone="+44 20 7946 0958")
    b = await make(client, org.admin, email="other@l.test")
    r = await client.patch(f"{API}/{b}", json={"email": "lee+2@l.test"}, headers=org.admin.h)
    assert r.status_code == 200
    assert await groups(client, org.admin) == [("email", "lee@l.test", [a, b])]

    # a change to other fields keeps the keys; clearing a source clears its key
    for body in ({"stage": "qualified", "lead_score": 60}, {"phone": None}):
        assert (await client.patch(f"{API}/{a}", json=body, headers=org.admin.h)).status_code == 200
    assert await groups(client, org.admin) == [("email", "lee@l.test", [a, b])]
    assert (await client.patch(f"{API}/{b}", json={"email": None, "mobile": "0044 20 7946 0958"},
                               headers=org.admin.h)).status_code == 200
    assert await groups(client, org.admin) == []
    assert (await client.patch(f"{API}/{a}", json={"phone": "+44 (0)20 7946 0958"},
                               headers=org.admin.h)).status_code == 200
    assert await groups(client, org.admin) == [("phone", "442079460958", [a, b])]


async def test_widget_identify_and_capture_write_the_keys_too(client: httpx.AsyncClient, org: Org) -> None:
    first = await identify(client, org, visitor_id="v1", email="pat.doe@gmail.com", name="Pat Doe",
                           company={"id": "doe-co", "name": "Doe Co"})
    second = await identify(client, org, visitor_id="v2", email="kim@doe.test", company={"id": "doe-co"})
    await identify(client, org, visitor_id="v2", name="PAT  DOE")  # identify renames the contact
    r = await client.post(f"{API}/capture", json={"email": "patdoe+promo@gmail.com", "source": "form"},
                          headers=org.admin.h)
    assert r.status_code == 201, r.text
    captured = r.json()["contact"]["id"]
    one, two = first["contact"]["id"], second["contact"]["id"]

    assert await groups(client, org.admin) == [("email", "patdoe@gmail.com", [one, captured]),
                                                ("name_company", "pat doe", [one, two])]


# --- who sees what -----------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", ["admin", "manager", "rep", "other_rep", "support", "marketing", "viewer"])
async def test_every_role_reads_every_group_as_the_matrix_grants_contact_read_to_all(
        client: httpx.AsyncClient, org: Org, persona: str) -> None:
    a = await make(client, org.admin, email="sam@s.test", owner_id=org.rep.user_id)
    b = await make(client, org.admin, email="sam+1@s.test", owner_id=org.other_rep.user_id)

    assert await groups(client, org.people[persona]) == [("email", "sam@s.test", [a, b])]


async def test_with_an_own_only_read_grant_a_rep_sees_only_groups_of_their_team(
        client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MATRIX["contact:read"], "sales-rep", Grant.OWN)
    r1 = await make(client, org.admin, email="sam@s.test", owner_id=org.rep.user_id)
    r2 = await make(client, org.admin, email="sam+1@s.test", owner_id=org.rep.user_id)
    o1 = await make(client, org.admin, email="sam+2@s.test", owner_id=org.other_rep.user_id)
    r3 = await make(client, org.admin, email="lee@s.test", owner_id=org.rep.user_id)
    o2 = await make(client, org.admin, email="lee+1@s.test", owner_id=org.other_rep.user_id)

    assert await groups(client, org.rep) == [("email", "sam@s.test", [r1, r2])]
    assert (await page(client, org.rep))["data"][0]["size"] == 2  # the count leaks no hidden contact
    assert await groups(client, org.other_rep) == []
    assert await groups(client, org.manager) == [("email", "lee@s.test", [r3, o2]),
                                                 ("email", "sam@s.test", [r1, r2, o1])]


async def test_widget_keys_and_missing_keys_are_refused(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(DUPES), 401)
    problem(await client.get(DUPES, headers={"Authorization": f"Bearer {org.widget_key}"}), 401)


async def test_another_orgs_contacts_are_never_grouped_with_this_orgs(client: httpx.AsyncClient, org: Org,
                                                                      other_org: Org) -> None:
    await make(client, org.admin, email="max@m.test", phone="+1 555 010 4444")
    theirs = [await make(client, other_org.admin, email=f"max+{i}@m.test", phone="15550104444") for i in (1, 2)]

    assert await groups(client, org.admin) == []
    assert await groups(client, other_org.admin) == [("email", "max@m.test", theirs),
                                                      ("phone", "15550104444", theirs)]


# --- pagination --------------------------------------------------------------------------------------

async def all_pages(client: httpx.AsyncClient, who: Any, limit: int, **params: Any) -> list[list[tuple[str, str]]]:
    pages, cursor = [], None
    while True:
        body = await page(client, who, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        pages.append([(g["reason"], g["key"]) for g in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def seed_groups(client: httpx.AsyncClient, org: Org) -> None:
    acme = await company(client, org, "Acme")
    for i in range(4):
        for tag in ("", "+x"):
            await make(client, org.admin, email=f"p{i}{tag}@p.test")
    for i in range(2):
        await make(client, org.admin, phone=f"+1 555 010 300{i}")
        await make(client, org.admin, mobile=f"1555010300{i}")
    for name in ("Ann Lee", "Bo Chan"):
        for _ in range(2):
            await link(client, org, await make(client, org.admin, name=name), acme)


async def test_pages_walk_every_group_once_in_order(client: httpx.AsyncClient, org: Org) -> None:
    await seed_groups(client, org)
    everything = [(r, k) for r, k, _ in await groups(client, org.admin)]
    assert [r for r, _ in everything] == ["email"] * 4 + ["phone"] * 2 + ["name_company"] * 2

    pages = await all_pages(client, org.admin, limit=3)
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [g for p in pages for g in p] == everything
    phone_pages = await all_pages(client, org.admin, limit=1, reason="phone")
    assert [g for p in phone_pages for g in p] == [g for g in everything if g[0] == "phone"]


async def test_a_page_that_used_its_name_budget_ends_early_and_its_cursor_resumes(
        client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "NAME_CHUNK", 1)
    monkeypatch.setattr(duplicates, "NAME_CHUNKS", 2)
    acme = await company(client, org, "Acme")
    for name, linked in (("Aa", False), ("Bb", True), ("Cc", False), ("Dd", False), ("Ee", False), ("Ff", True)):
        for _ in range(2):
            contact_id = await make(client, org.admin, name=name)
            if linked:
                await link(client, org, contact_id, acme)

    pages = await all_pages(client, org.admin, limit=50, reason="name_company")
    assert [g for p in pages for g in p] == [("name_company", "bb"), ("name_company", "ff")]
    assert [] in pages  # a short page is not the last one


async def test_bad_parameters_are_problems(client: httpx.AsyncClient, org: Org) -> None:
    def cursor(*parts: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")

    for params in ({"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"reason": "birthday"}, {"reason": ""}):
        assert problem(await client.get(DUPES, params=params, headers=org.admin.h), 422)["errors"]
    await make(client, org.admin, email="a@a.test")
    await make(client, org.admin, email="a+1@a.test")
    await make(client, org.admin, email="b@a.test")
    await make(client, org.admin, email="b+1@a.test")
    email_cursor = (await page(client, org.admin, reason="email", limit=1))["next_cursor"]
    all_cursor = (await page(client, org.admin, limit=1))["next_cursor"]
    for params in ({"cursor": "not a cursor!"}, {"cursor": "x" * 2001},
                   {"cursor": cursor("all", "email", "a\u0000")}, {"cursor": cursor("all", "email", "\ud800")},
                   {"cursor": cursor("all", "email", 5)}, {"cursor": cursor("all", "fax", "1")},
                   {"cursor": cursor("all", "email", "a", "company_x")}, {"cursor": cursor("all", "email")},
                   {"cursor": cursor({"a": 1})}, {"cursor": email_cursor, "reason": "phone"},
                   {"cursor": all_cursor, "reason": "email"},
                   {"cursor": cursor("email", "phone", "1"), "reason": "email"}):
        body = problem(await client.get(DUPES, params=params, headers=org.admin.h), 400 if len(
            params.get("cursor", "")) <= 2000 else 422)
        assert body["errors"][0]["field"] == "cursor"


# --- the keys stay internal ------------------------------------------------------------------------------

async def test_contact_responses_events_and_openapi_never_show_the_keys(client: httpx.AsyncClient, org: Org,
                                                                        db: Database) -> None:
    contact_id = await make(client, org.admin, email="ada@a.test", phone="+1 555 010 2030")
    bodies = [(await client.get(f"{API}/{contact_id}", headers=org.admin.h)).json(),
              (await client.get(API, headers=org.admin.h)).json()["data"][0],
              (await client.patch(f"{API}/{contact_id}", json={"name": "Ada L"}, headers=org.admin.h)).json()]
    async with db.engine.connect() as conn:
        bodies += [dict(r.data) for r in await conn.execute(sa.select(events.c.data).where(
            events.c.subject_id == contact_id))]
    for body in bodies:
        assert not any(key in json.dumps(body) for key in dedupe.KEY_COLUMNS), body

    schema = (await client.get("/api/v1/openapi.json")).json()
    assert not set(dedupe.KEY_COLUMNS) & set(schema["components"]["schemas"]["ContactOut"]["properties"])
    op = schema["paths"]["/api/v1/contacts/duplicates"]["get"]
    assert op["summary"] == "Likely duplicate contacts"
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/DuplicateList")


# --- the migration and the query plans -----------------------------------------------------------------

def migration_0006() -> Any:
    path = Path(kith.__file__).parent / "migrations" / "versions" / "0006_contact_duplicate_keys.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_migration_keys_rows_written_before_it(client: httpx.AsyncClient, org: Org, db: Database,
                                                         db_url: str) -> None:
    a = await make(client, org.admin, name="Zoë", email="zoe@z.test", mobile="+1 555 010 1111")
    b = await make(client, org.admin, name="Zoe", email="zoe+1@z.test", phone="15550101111")
    async with db.engine.begin() as conn:
        await conn.execute(contacts.update().values({k: None for k in dedupe.KEY_COLUMNS}))
    assert await groups(client, org.admin) == []

    engine = sa.create_engine(sync_url(db_url))
    try:
        with engine.begin() as conn:
            assert migration_0006().backfill(conn) == 2
    finally:
        engine.dispose()
    assert await groups(client, org.admin) == [("email", "zoe@z.test", [a, b]), ("phone", "15550101111", [a, b])]


async def test_each_group_query_walks_its_key_index_without_sorting(db: Database, org: Org) -> None:
    if db.backend != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL plans tiny test tables as sequential scans")
    scope = duplicates.Scope(org.id, None, None)
    after = duplicates.Position("email", "m")
    queries = {"ix_contacts_email_key": duplicates._key_stream(scope, "email", 0, after, 51),
               "ix_contacts_phone_key": duplicates._key_stream(scope, "phone", 0, None, 51),
               "ix_contacts_mobile_key": duplicates._key_stream(scope, "phone", 1, None, 51),
               "ix_contacts_name_key": duplicates._shared_names(scope, "m", True)}
    async with db.engine.connect() as conn:
        for index, q in queries.items():
            sql = str(q.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
            plan = [row[3] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
            assert f"USING COVERING INDEX {index}" in plan[0], plan
            assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in plan), plan
