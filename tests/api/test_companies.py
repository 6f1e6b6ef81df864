"""Companies over HTTP: fields, uniqueness of external_id and domain, domain normalisation, the
org's company stages, deal_value as a decimal string, filters and events (DESIGN §4, seed 000)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.core import clock
from kith.core.db import Database
from kith.core.events import events
from tests.conftest import Org, count_rows, problem

API = "/api/v1/companies"


async def create(client: httpx.AsyncClient, who: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Acme")
    r = await client.post(API, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def patch(client: httpx.AsyncClient, who: Any, company_id: str, **body: Any) -> httpx.Response:
    return await client.patch(f"{API}/{company_id}", json=body, headers=who.h)


async def ids_of(client: httpx.AsyncClient, who: Any, **params: Any) -> list[str]:
    r = await client.get(API, params={"limit": 500, **params}, headers=who.h)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]]


async def events_about(db: Database, subject_id: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(events).where(events.c.subject_id == subject_id)
                                  .order_by(events.c.id))
        return [dict(r._mapping) for r in rows]


async def test_a_company_created_with_every_field_reads_back_the_same(client: httpx.AsyncClient, org: Org) -> None:
    body = {
        "name": "Acme Inc", "external_id": "acme", "domain": "acme.com", "industry": "Manufacturing",
        "stage": "Qualified", "deal_value": "12000.00", "owner_id": org.rep.user_id, "notes": "Anvils.",
        "description": "Makers of fine anvils", "website": "https://acme.com", "linkedin_url":
        "https://www.linkedin.com/company/acme", "employee_count": 250, "annual_revenue": "1500000.50",
        "country": "US", "city": "Phoenix", "phone": "+1 555 0100", "logo_url": "https://acme.com/logo.png",
        "tags": ["enterprise"], "metadata": {"crm_owner": "Sam", "tier": {"level": 1}},
    }
    r = await client.post(API, json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"].startswith("company_")
    got = await client.get(f"{API}/{created['id']}", headers=org.admin.h)
    assert got.status_code == 200
    assert got.json() == created
    for field, value in body.items():
        assert created[field] == value, field
    assert created["is_placeholder"] is False
    assert created["version"] == 1 and created["custom_fields"] == {} and created["enriched_at"] is None


async def test_deal_value_is_returned_as_a_decimal_string(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, deal_value=12000)
    assert c["deal_value"] == "12000.00"
    assert (await client.get(f"{API}/{c['id']}", headers=org.admin.h)).json()["deal_value"] == "12000.00"
    r = await patch(client, org.admin, c["id"], deal_value="0.5")
    assert r.json()["deal_value"] == "0.50"
    r = await patch(client, org.admin, c["id"], deal_value=99999999.99)
    assert r.json()["deal_value"] == "99999999.99"
    r = await patch(client, org.admin, c["id"], deal_value=None)
    assert r.json()["deal_value"] is None


@pytest.mark.parametrize("value", ["-1", "1.234", "NaN", "Infinity", "lots", "1e14"])
async def test_an_invalid_deal_value_is_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                                value: str) -> None:
    before = await count_rows(db, "companies", "events")
    body = problem(await client.post(API, json={"name": "X", "deal_value": value}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "deal_value"
    assert await count_rows(db, "companies", "events") == before


async def test_manual_creates_are_never_placeholders(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.rep)
    assert c["is_placeholder"] is False
    body = problem(await client.post(API, json={"name": "X", "is_placeholder": True}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "is_placeholder"
    problem(await patch(client, org.admin, c["id"], is_placeholder=True), 422)
    assert await ids_of(client, org.admin, is_placeholder="true") == []
    assert await ids_of(client, org.admin, is_placeholder="false") == [c["id"]]


# --- uniqueness ----------------------------------------------------------------------------------

async def test_external_id_is_unique_per_org(client: httpx.AsyncClient, db: Database, org: Org,
                                             other_org: Org) -> None:
    first = await create(client, org.admin, name="Acme", external_id="acme")
    other = await create(client, org.admin, name="Other", external_id="other")
    before = await count_rows(db, "companies", "events")
    body = problem(await client.post(API, json={"name": "Acme 2", "external_id": "acme"}, headers=org.admin.h),
                   409)
    assert body["field"] == "external_id" and body["existing_id"] == first["id"]
    body = problem(await patch(client, org.admin, other["id"], external_id="acme"), 409)
    assert body["field"] == "external_id"
    assert await count_rows(db, "companies", "events") == before
    elsewhere = await create(client, other_org.admin, name="Acme", external_id="acme")
    assert elsewhere["external_id"] == "acme"


async def test_a_refused_duplicate_leaves_no_row_and_no_event(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    await create(client, org.admin, name="Acme", external_id="acme", domain="acme.com")
    other = await create(client, org.admin, name="Other")
    before = await count_rows(db)
    problem(await client.post(API, json={"name": "A", "external_id": "acme"}, headers=org.admin.h), 409)
    problem(await client.post(API, json={"name": "A", "domain": "WWW.ACME.COM"}, headers=org.admin.h), 409)
    problem(await patch(client, org.admin, other["id"], domain="acme.com"), 409)
    problem(await patch(client, org.admin, other["id"], stage="Nirvana"), 422)
    assert await count_rows(db) == before
    assert (await client.get(f"{API}/{other['id']}", headers=org.admin.h)).json()["version"] == 1


async def test_domain_is_unique_per_org_after_normalisation(client: httpx.AsyncClient, org: Org,
                                                            other_org: Org) -> None:
    first = await create(client, org.admin, name="Acme", domain="https://www.Acme.com/about")
    assert first["domain"] == "acme.com"
    for spelling in ("acme.com", "ACME.COM", "http://acme.com", "www.acme.com/x?y=1"):
        body = problem(await client.post(API, json={"name": "Dup", "domain": spelling}, headers=org.admin.h), 409)
        assert body["field"] == "domain", spelling
    assert (await create(client, other_org.admin, name="Acme", domain="acme.com"))["domain"] == "acme.com"


async def test_several_companies_may_have_no_domain_or_external_id(client: httpx.AsyncClient, org: Org) -> None:
    await create(client, org.admin, name="One")
    await create(client, org.admin, name="Two")
    assert len(await ids_of(client, org.admin)) == 2


@pytest.mark.parametrize("raw, stored", [
    ("https://www.Acme.com/x", "acme.com"),
    ("http://sub.example.co.uk/path/", "sub.example.co.uk"),
    ("  Example.ORG ", "example.org"),
    ("www.my-company.io", "my-company.io"),
])
async def test_domain_is_normalised(client: httpx.AsyncClient, org: Org, raw: str, stored: str) -> None:
    c = await create(client, org.admin, domain=raw)
    assert c["domain"] == stored
    r = await patch(client, org.admin, c["id"], domain=raw.upper())
    assert r.status_code == 200 and r.json()["domain"] == stored
    assert r.json()["version"] == 1  # the same domain spelled differently is no change


@pytest.mark.parametrize("raw", ["localhost", "not a domain", "https://", "-bad.com", "a..com", "acme.com:8080"])
async def test_an_invalid_domain_is_refused(client: httpx.AsyncClient, org: Org, raw: str) -> None:
    body = problem(await client.post(API, json={"name": "X", "domain": raw}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "domain"


# --- stages --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, stored", [
    ("qualified", "Qualified"), ("OPPORTUNITY", "Opportunity"), ("  customer ", "Customer"), ("Lead", "Lead"),
    ("cHuRnEd", "Churned"),
])
async def test_stage_is_matched_case_insensitively_and_stored_in_the_orgs_spelling(
        client: httpx.AsyncClient, org: Org, sent: str, stored: str) -> None:
    c = await create(client, org.admin, stage=sent)
    assert c["stage"] == stored
    other = await create(client, org.admin, name="Other")
    r = await patch(client, org.admin, other["id"], stage=sent)
    assert r.status_code == 200 and r.json()["stage"] == stored


async def test_patching_the_same_stage_in_another_case_changes_nothing(client: httpx.AsyncClient, db: Database,
                                                                      org: Org) -> None:
    c = await create(client, org.admin, stage="Qualified")
    r = await patch(client, org.admin, c["id"], stage="QUALIFIED")
    assert r.json()["version"] == 1
    assert [e["type"] for e in await events_about(db, c["id"])] == ["company.created"]


@pytest.mark.parametrize("stage", ["Nirvana", "closed won", "Qualifiedd"])
async def test_an_unknown_company_stage_is_refused(client: httpx.AsyncClient, org: Org, stage: str) -> None:
    body = problem(await client.post(API, json={"name": "X", "stage": stage}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "stage"
    c = await create(client, org.admin, stage="Lead")
    problem(await patch(client, org.admin, c["id"], stage=stage), 422)
    assert (await client.get(f"{API}/{c['id']}", headers=org.admin.h)).json()["stage"] == "Lead"


async def test_company_stage_may_move_in_any_direction_by_hand(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, stage="Customer")
    for stage in ("Lead", "Churned", "Opportunity"):
        r = await patch(client, org.admin, c["id"], stage=stage)
        assert r.status_code == 200 and r.json()["stage"] == stage


# --- PATCH, filters, sort ------------------------------------------------------------------------

async def test_company_metadata_merges_and_tags_replace(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, metadata={"crm_owner": "Sam", "plan": {"name": "pro", "seats": 3}},
                     tags=["a", "b"])
    r = await patch(client, org.admin, c["id"], metadata={"crm_owner": None, "plan": {"seats": 9}}, tags=["c"])
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"plan": {"name": "pro", "seats": 9}}
    assert r.json()["tags"] == ["c"]
    assert await ids_of(client, org.admin, tag="a") == []
    assert await ids_of(client, org.admin, tag="c") == [c["id"]]


async def test_company_patch_writes_only_the_fields_sent(client: httpx.AsyncClient, org: Org) -> None:
    c = await create(client, org.admin, name="Acme", domain="acme.com", industry="Tools", deal_value="10.00",
                     stage="Lead")
    r = await patch(client, org.admin, c["id"], industry="Anvils")
    after = r.json()
    assert after["version"] == 2 and after["industry"] == "Anvils"
    assert {k: after[k] for k in ("name", "domain", "deal_value", "stage", "tags", "metadata")} == {
        "name": "Acme", "domain": "acme.com", "deal_value": "10.00", "stage": "Lead", "tags": [], "metadata": {}}


async def test_companies_filter_by_field(client: httpx.AsyncClient, org: Org) -> None:
    a = await create(client, org.admin, name="A", stage="Customer", industry="Tools", domain="a.com",
                     external_id="ext-a", tags=["vip"], owner_id=org.rep.user_id)
    b = await create(client, org.admin, name="B", stage="Lead", industry="Tools", tags=["vip", "eu"])
    c = await create(client, org.admin, name="C")
    contact = (await client.post("/api/v1/contacts", json={"name": "P"}, headers=org.admin.h)).json()
    r = await client.post(f"/api/v1/contacts/{contact['id']}/companies", json={"company_id": c["id"]},
                          headers=org.admin.h)
    assert r.status_code == 201
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"stage": "customer"}, {a["id"]}),
        ({"stage": "LEAD"}, {b["id"]}),
        ({"industry": "Tools"}, {a["id"], b["id"]}),
        ({"domain": "A.com"}, {a["id"]}),
        ({"external_id": "ext-a"}, {a["id"]}),
        ({"tag": "eu"}, {b["id"]}),
        ({"owner_id": org.rep.user_id}, {a["id"]}),
        ({"contact_id": contact["id"]}, {c["id"]}),
        ({"q": "b"}, {b["id"]}),
        ({"q": "a.com"}, {a["id"]}),
    ]
    for params, expected in cases:
        assert set(await ids_of(client, org.admin, **params)) == expected, params


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at", "updated_at", "id", "-id"])
async def test_companies_sort(client: httpx.AsyncClient, org: Org, sort: str) -> None:
    for i, name in enumerate(["Mid", "Alpha", "Zulu", "Alpha"]):
        with clock.frozen(datetime(2024, 1, 1, 0, i, tzinfo=UTC)):
            await create(client, org.admin, name=name)
    r = await client.get(API, params={"sort": sort}, headers=org.admin.h)
    rows = r.json()["data"]
    field = sort.lstrip("-")
    keyed = [(c[field], c["id"]) for c in rows]
    assert len(keyed) == 4 and keyed == sorted(keyed, reverse=sort.startswith("-"))


# --- events --------------------------------------------------------------------------------------

async def test_each_company_write_emits_exactly_its_event(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await create(client, org.manager, name="Evented", stage="Lead", deal_value=100)
    assert (await patch(client, org.manager, c["id"], stage="customer", deal_value="250.5")).status_code == 200
    assert (await client.delete(f"{API}/{c['id']}", headers=org.admin.h)).status_code == 204
    assert (await client.post(f"{API}/{c['id']}/restore", headers=org.admin.h)).status_code == 200
    evs = await events_about(db, c["id"])
    assert [(e["type"], e["actor_id"]) for e in evs] == [
        ("company.created", org.manager.user_id), ("company.updated", org.manager.user_id),
        ("company.deleted", org.admin.user_id), ("company.restored", org.admin.user_id)]
    created, updated, deleted, _ = (e["data"] for e in evs)
    assert created["after"]["name"] == "Evented" and created["after"]["deal_value"] == "100.00"
    assert updated == {"before": {"stage": "Lead", "deal_value": "100.00"},
                       "after": {"stage": "Customer", "deal_value": "250.50"}}
    assert deleted["before"] == {"name": "Evented"}


async def test_the_company_timeline_lists_its_events_newest_first(client: httpx.AsyncClient, org: Org) -> None:
    with clock.frozen(datetime(2024, 1, 1, tzinfo=UTC)):
        c = await create(client, org.admin, name="T")
    with clock.frozen(datetime(2024, 1, 2, tzinfo=UTC)):
        await patch(client, org.admin, c["id"], industry="Tools")
    r = await client.get(f"{API}/{c['id']}/timeline", headers=org.admin.h)
    assert r.status_code == 200
    assert [e["type"] for e in r.json()["data"]] == ["company.updated", "company.created"]
