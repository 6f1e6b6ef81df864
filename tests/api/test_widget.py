"""Widget sync, every bullet of seed 000, through the HTTP API with the org's publishable key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa

from kith.companies.tables import companies
from kith.contacts.tables import contacts
from kith.core.db import Database
from tests.conftest import Org, count_rows, problem


def wk(org: Org, **extra: str) -> dict[str, str]:
    return {"X-Kith-Widget-Key": org.widget_key, **extra}


async def identify(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/widget/identify", json=body, headers=wk(org))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_the_seed_sync_pattern_links_contact_company_metadata_stage_and_deal(
        client: httpx.AsyncClient, org: Org) -> None:
    out = await identify(client, org, visitor_id="user_456", email="Alice@Acme.com",
                         metadata={"plan": "enterprise", "role": "admin"},
                         company={"id": "acme", "name": "Acme Inc", "stage": "qualified",
                                  "metadata": {"crm_owner": "Sam"}})
    contact, comps = out["contact"], out["companies"]
    assert contact["email"] == "alice@acme.com" and contact["metadata"] == {"plan": "enterprise", "role": "admin"}
    assert [c["name"] for c in comps] == ["Acme Inc"] and comps[0]["is_primary"] is True
    assert out["active_company_id"] == comps[0]["id"] and out["visitor"]["contact_id"] == contact["id"]
    company = (await client.get(f"/api/v1/companies/{comps[0]['id']}", headers=org.admin.h)).json()
    assert company["external_id"] == "acme" and company["stage"] == "Qualified"
    assert company["metadata"] == {"crm_owner": "Sam"}

    r = await client.post("/api/v1/widget/deal", json={"visitor_id": "user_456", "company_id": "acme",
                                                       "deal_value": 12000, "stage_name": "Qualified"},
                          headers=wk(org))
    assert r.status_code == 200, r.text
    assert r.json()["deal_value"] == "12000.00" and r.json()["stage"] == "Qualified"


async def test_a_returning_visitor_reuses_its_contact(client: httpx.AsyncClient, org: Org, db: Database) -> None:
    first = await identify(client, org, visitor_id="v1", email="bob@b.test")
    again = await identify(client, org, visitor_id="v1", name="Bob Builder")
    assert again["contact"]["id"] == first["contact"]["id"] and again["contact"]["name"] == "Bob Builder"
    assert (await count_rows(db, "contacts"))["contacts"] == 1


async def test_a_new_visitor_matches_by_email_case_insensitively_or_user_id(
        client: httpx.AsyncClient, org: Org) -> None:
    a = await identify(client, org, visitor_id="laptop", email="carol@c.test", user_id="u-42")
    b = await identify(client, org, visitor_id="phone", email="CAROL@C.TEST")
    c = await identify(client, org, visitor_id="tablet", user_id="u-42")
    assert a["contact"]["id"] == b["contact"]["id"] == c["contact"]["id"]
    assert a["contact"]["external_user_id"] == "u-42"


async def test_a_contact_without_company_gets_a_placeholder_that_a_real_company_replaces(
        client: httpx.AsyncClient, org: Org, db: Database) -> None:
    out = await identify(client, org, visitor_id="v", email="dan@d.test")
    [placeholder] = out["companies"]
    assert placeholder["is_placeholder"] is True
    again = await identify(client, org, visitor_id="v", email="dan@d.test")
    assert [c["id"] for c in again["companies"]] == [placeholder["id"]]  # reused, not a second one
    real = await identify(client, org, visitor_id="v", company={"id": "dcorp", "name": "D Corp"})
    assert [c["name"] for c in real["companies"]] == ["D Corp"]
    gone = await client.get(f"/api/v1/companies/{placeholder['id']}", headers=org.admin.h)
    problem(gone, 404)
    async with db.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(companies).where(
            companies.c.is_placeholder.is_(True)))).scalar_one()
    assert n == 0


async def test_a_placeholder_another_contact_still_uses_is_kept(client: httpx.AsyncClient, org: Org) -> None:
    out = await identify(client, org, visitor_id="v", email="erin@e.test")
    placeholder = out["companies"][0]["id"]
    other = (await client.post("/api/v1/contacts", json={"name": "Other"}, headers=org.admin.h)).json()
    linked = await client.post(f"/api/v1/contacts/{other['id']}/companies", json={"company_id": placeholder},
                               headers=org.admin.h)
    assert linked.status_code == 201
    await identify(client, org, visitor_id="v", company={"id": "ecorp"})
    still = await client.get(f"/api/v1/companies/{placeholder}", headers=org.admin.h)
    assert still.status_code == 200


async def test_company_ids_link_existing_companies_and_unknown_ones_are_refused(
        client: httpx.AsyncClient, org: Org, db: Database) -> None:
    a = (await client.post("/api/v1/companies", json={"name": "A", "external_id": "a"}, headers=org.admin.h)).json()
    b = (await client.post("/api/v1/companies", json={"name": "B"}, headers=org.admin.h)).json()
    out = await identify(client, org, visitor_id="v", email="f@f.test", company_ids=["a", b["id"]])
    assert sorted(c["id"] for c in out["companies"]) == sorted([a["id"], b["id"]])
    before = await count_rows(db)
    r = await client.post("/api/v1/widget/identify", headers=wk(org),
                          json={"visitor_id": "w", "email": "g@g.test", "company_ids": ["nope"]})
    body = problem(r, 422)
    assert body["errors"][0]["field"] == "company_ids.0"
    assert await count_rows(db) == before


async def test_stage_writes_advance_only_by_default_and_exact_on_request(
        client: httpx.AsyncClient, org: Org) -> None:
    await identify(client, org, visitor_id="v", email="h@h.test", company={"id": "hco", "stage": "Customer"})

    async def stage(name: str, **extra: Any) -> str:
        r = await client.post("/api/v1/widget/stage", json={"visitor_id": "v", "stage_name": name, **extra},
                              headers=wk(org))
        assert r.status_code == 200, r.text
        return str(r.json()["stage"])

    assert await stage("lead") == "Customer"  # backward: refused silently under advance_only
    assert await stage("churned") == "Churned"
    assert await stage("Qualified", mode="exact") == "Qualified"
    bad = await client.post("/api/v1/widget/stage", json={"visitor_id": "v", "stage_name": "Nirvana"},
                            headers=wk(org))
    assert problem(bad, 422)["errors"][0]["field"] == "stage_name"


async def test_target_resolution_explicit_then_active_then_single_then_409(
        client: httpx.AsyncClient, org: Org) -> None:
    await identify(client, org, visitor_id="v", email="i@i.test", company_ids=[])
    one = await client.post("/api/v1/widget/deal", json={"visitor_id": "v", "deal_value": 5}, headers=wk(org))
    assert one.status_code == 200 and one.json()["is_placeholder"] is True  # the single linked company
    for ext in ("x1", "x2"):
        await client.post("/api/v1/companies", json={"name": ext, "external_id": ext}, headers=org.admin.h)
    await identify(client, org, visitor_id="v", company_ids=["x1", "x2"])
    ambiguous = await client.post("/api/v1/widget/deal", json={"visitor_id": "v", "deal_value": 5}, headers=wk(org))
    problem(ambiguous, 409)
    explicit = await client.post("/api/v1/widget/deal", json={"visitor_id": "v", "deal_value": 7, "company_id": "x2"},
                                 headers=wk(org))
    assert explicit.json()["external_id"] == "x2"
    await identify(client, org, visitor_id="v", company={"id": "x1"})
    active = await client.post("/api/v1/widget/deal", json={"visitor_id": "v", "deal_value": 9}, headers=wk(org))
    assert active.json()["external_id"] == "x1" and active.json()["deal_value"] == "9.00"


async def test_widget_bad_input_and_keys_change_nothing(
        client: httpx.AsyncClient, org: Org, other_org: Org, db: Database) -> None:
    before = await count_rows(db)
    cases = [
        ({}, {"visitor_id": "v"}, 401),
        (wk(org, **{"X-Kith-Widget-Key": "pk_nope"}), {"visitor_id": "v"}, 401),
        (org.admin.h, {"visitor_id": "v"}, 401),
        (wk(org), {"email": "x@x.test"}, 422),
        (wk(org), {"visitor_id": "v", "email": "not-an-email"}, 422),
        (wk(org), {"visitor_id": "v", "company": {"id": "c", "stage": "Nirvana"}}, 422),
    ]
    for headers, body, status in cases:
        problem(await client.post("/api/v1/widget/identify", json=body, headers=headers), status)
    for body in ({"visitor_id": "v", "deal_value": -1}, {"visitor_id": "v", "deal_value": "lots"}):
        problem(await client.post("/api/v1/widget/deal", json=body, headers=wk(org)), 422)
    problem(await client.post("/api/v1/widget/deal", json={"visitor_id": "unknown", "deal_value": 1},
                              headers=wk(org)), 404)
    assert await count_rows(db) == before
    foreign = (await client.post("/api/v1/companies", json={"name": "G", "external_id": "g"},
                                 headers=other_org.admin.h)).json()
    await identify(client, org, visitor_id="v", email="j@j.test")
    r = await client.post("/api/v1/widget/deal", json={"visitor_id": "v", "deal_value": 1,
                                                       "company_id": foreign["id"]}, headers=wk(org))
    problem(r, 404)


async def test_concurrent_identify_with_one_email_makes_one_contact(
        client: httpx.AsyncClient, org: Org, db: Database) -> None:
    calls = [client.post("/api/v1/widget/identify", json={"visitor_id": f"v{i}", "email": "same@race.test"},
                         headers=wk(org)) for i in range(32)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert len({r.json()["contact"]["id"] for r in responses}) == 1
    async with db.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(contacts))).scalar_one()
    assert n == 1


async def test_visitor_api_and_widget_js(client: httpx.AsyncClient, org: Org) -> None:
    await identify(client, org, visitor_id="v-api", email="k@k.test", properties={"page": "/pricing"})
    r = await client.get("/api/v1/visitors/v-api", headers=org.viewer.h)
    assert r.status_code == 200 and r.json()["properties"] == {"page": "/pricing"}
    problem(await client.get("/api/v1/visitors/v-api", headers=org.viewer.h | {"Authorization": "Bearer x"}), 401)
    js = await client.get("/widget.js")
    assert js.status_code == 200 and "window.Kith" in js.text and "setDeal" in js.text
    pre = await client.options("/api/v1/widget/identify", headers={"Origin": "https://shop.test",
                                                                   "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "https://shop.test"


async def test_widget_origins_and_rate_limit(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch("/api/v1/org", json={"settings": {"widget_origins": ["https://shop.test"]}},
                           headers=org.admin.h)
    assert r.status_code == 200
    ok = await client.post("/api/v1/widget/identify", json={"visitor_id": "o"},
                           headers=wk(org, Origin="https://shop.test"))
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://shop.test"
    problem(await client.post("/api/v1/widget/identify", json={"visitor_id": "o"},
                              headers=wk(org, Origin="https://evil.test")), 403)
    limiter = client._transport.app.state.widget_limiter  # type: ignore[attr-defined]
    limiter.rate, limiter.burst = 0.01, 2.0
    limiter._state.clear()
    statuses = [(await client.post("/api/v1/widget/identify", json={"visitor_id": "o"},
                                   headers=wk(org, Origin="https://shop.test"))) for _ in range(3)]
    assert [s.status_code for s in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1
