"""The product catalog and price lists over HTTP: CRUD, unique SKU, per-currency default price
lists, prices merged by product, products used by deals kept, permissions, another org, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kith.core.db import Database
from tests.api.deal_support import PERSONAS, V1, deal, events_of, ok, snapshot
from tests.conftest import Org, problem

API = f"{V1}/products"
LISTS = f"{V1}/price-lists"


async def product(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Seat")
    body.setdefault("unit_price", "100")
    return await ok(await client.post(API, json=body, headers=org.admin.h), 201)  # type: ignore[no-any-return]


async def test_a_product_has_a_price_in_a_currency(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await product(client, org, sku="SEAT-1", description="One seat")
    assert p["price"] == {"amount": "100.00", "currency": "USD"} and p["is_active"] and p["version"] == 1
    e = await product(client, org, name="Euro", unit_price=9.5, currency="eur")
    assert e["price"] == {"amount": "9.50", "currency": "EUR"}
    patched = await ok(await client.patch(f"{API}/{p['id']}", json={"unit_price": "120", "is_active": False},
                                          headers=org.admin.h))
    assert patched["price"]["amount"] == "120.00" and not patched["is_active"] and patched["version"] == 2
    same = await ok(await client.patch(f"{API}/{p['id']}", json={"unit_price": "120"}, headers=org.admin.h))
    assert same["version"] == 2
    assert [ev["type"] for ev in await events_of(db, "product.updated", p["id"])] == ["product.updated"]
    got = await ok(await client.get(f"{API}/{p['id']}", headers=org.viewer.h))
    assert got == patched


async def test_a_sku_is_unique_per_org(client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    p = await product(client, org, sku="A1")
    q = await product(client, org, name="Q", sku="B2")
    before = await snapshot(client, db, org, [f"{API}/{q['id']}"])
    body = problem(await client.post(API, json={"name": "x", "unit_price": "1", "sku": "A1"}, headers=org.admin.h),
                   409)
    assert body["existing_id"] == p["id"]
    problem(await client.patch(f"{API}/{q['id']}", json={"sku": "A1"}, headers=org.admin.h), 409)
    assert await snapshot(client, db, org, [f"{API}/{q['id']}"]) == before
    await product(client, other_org, sku="A1")


async def test_listing_products(client: httpx.AsyncClient, org: Org) -> None:
    for name in ("Charlie", "alpha", "Bravo"):
        await product(client, org, name=name)
    await product(client, org, name="Delta", currency="EUR", is_active=False)

    async def names(**params: Any) -> list[str]:
        return [p["name"] for p in (await ok(await client.get(API, params=params, headers=org.rep.h)))["data"]]

    assert await names() == ["Delta", "Bravo", "alpha", "Charlie"]
    assert await names(sort="name") == ["Bravo", "Charlie", "Delta", "alpha"]
    assert await names(is_active="true", sort="name") == ["Bravo", "Charlie", "alpha"]
    assert await names(currency="eur") == ["Delta"]
    assert await names(q="ALP") == ["alpha"]
    assert await names(sort="-name") == ["alpha", "Delta", "Charlie", "Bravo"]
    first = await ok(await client.get(API, params={"limit": 3, "sort": "name"}, headers=org.rep.h))
    rest = await ok(await client.get(API, params={"limit": 3, "sort": "name", "cursor": first["next_cursor"]},
                                     headers=org.rep.h))
    assert [p["name"] for p in first["data"] + rest["data"]] == ["Bravo", "Charlie", "Delta", "alpha"]
    problem(await client.get(API, params={"is_active": "maybe"}, headers=org.rep.h), 422)
    problem(await client.get(API, params={"colour": "red"}, headers=org.rep.h), 422)
    problem(await client.get(API, params={"sort": "price"}, headers=org.rep.h), 422)


async def test_a_product_a_deal_uses_is_kept(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await product(client, org)
    d = await deal(client, org.rep, line_items=[{"product_id": p["id"], "quantity": 2}])
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    body = problem(await client.delete(f"{API}/{p['id']}", headers=org.admin.h), 409)
    assert body["deal_id"] == d["id"]
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before
    await ok(await client.patch(f"{API}/{p['id']}", json={"unit_price": "1"}, headers=org.admin.h))
    got = await ok(await client.get(f"{V1}/deals/{d['id']}", params={"include": "line_items"}, headers=org.rep.h))
    assert got["value"]["amount"] == "200.00" and got["line_items"][0]["unit_price"] == "100.00"
    unused = await product(client, org, name="Unused")
    await ok(await client.delete(f"{API}/{unused['id']}", headers=org.admin.h), 204)
    problem(await client.get(f"{API}/{unused['id']}", headers=org.admin.h), 404)
    assert len(await events_of(db, "product.deleted", unused["id"])) == 1


# --- price lists ---------------------------------------------------------------------------------------------

async def test_a_price_list_gives_products_other_prices_merged_by_product(client: httpx.AsyncClient, db: Database,
                                                                          org: Org) -> None:
    a, b = await product(client, org, name="A"), await product(client, org, name="B")
    pl = await ok(await client.post(LISTS, json={"name": "Partners", "currency": "usd",
                                                 "prices": {a["id"]: "80", b["id"]: 90}}, headers=org.admin.h), 201)
    assert pl["currency"] == "USD" and [(x["name"], x["unit_price"]) for x in pl["prices"]] == [
        ("A", "80.00"), ("B", "90.00")]
    patched = await ok(await client.patch(f"{LISTS}/{pl['id']}", json={"prices": {a["id"]: "75", b["id"]: None}},
                                          headers=org.admin.h))
    assert [(x["name"], x["unit_price"]) for x in patched["prices"]] == [("A", "75.00")]
    assert patched["version"] == 2
    listed = (await ok(await client.get(LISTS, headers=org.rep.h)))["data"]
    assert [x["id"] for x in listed] == [pl["id"]]
    assert len(await events_of(db, "price_list.updated", pl["id"])) == 1


async def test_the_default_price_list_of_a_currency_prices_new_deals(client: httpx.AsyncClient, org: Org) -> None:
    a = await product(client, org, name="A")
    first = await ok(await client.post(LISTS, json={"name": "One", "currency": "USD", "is_default": True,
                                                    "prices": {a["id"]: "50"}}, headers=org.admin.h), 201)
    second = await ok(await client.post(LISTS, json={"name": "Two", "currency": "USD", "is_default": True,
                                                     "prices": {a["id"]: "40"}}, headers=org.admin.h), 201)
    assert not (await ok(await client.get(f"{LISTS}/{first['id']}", headers=org.admin.h)))["is_default"]
    d = await deal(client, org.rep, line_items=[{"product_id": a["id"]}])
    assert d["price_list_id"] == second["id"] and d["value"]["amount"] == "40.00"
    eur = await deal(client, org.rep, value={"currency": "EUR"}, line_items=[{"name": "x", "unit_price": "3"}])
    assert eur["price_list_id"] is None
    body = problem(await client.delete(f"{LISTS}/{second['id']}", headers=org.admin.h), 409)
    assert body["deal_id"] == d["id"]
    await ok(await client.delete(f"{LISTS}/{first['id']}", headers=org.admin.h), 204)


@pytest.mark.parametrize(("url", "body", "field"), [
    pytest.param(API, {"name": "x"}, "unit_price", id="product-no-price"),
    pytest.param(API, {"name": "", "unit_price": "1"}, "name", id="product-empty-name"),
    pytest.param(API, {"name": "x" * 201, "unit_price": "1"}, "name", id="product-long-name"),
    pytest.param(API, {"name": "x", "unit_price": "-1"}, "unit_price", id="product-negative"),
    pytest.param(API, {"name": "x", "unit_price": "0.001"}, "unit_price", id="product-sub-cent"),
    pytest.param(API, {"name": "x", "unit_price": "1", "currency": "ZZZ"}, "currency", id="product-currency"),
    pytest.param(API, {"name": "x", "unit_price": "1", "is_active": "yes"}, "is_active", id="product-bool"),
    pytest.param(API, {"name": "x", "unit_price": "1", "sku": "s" * 101}, "sku", id="product-long-sku"),
    pytest.param(API, {"name": "x", "unit_price": "1", "colour": "red"}, "colour", id="product-unknown-field"),
    pytest.param(LISTS, {"name": "x"}, "currency", id="list-no-currency"),
    pytest.param(LISTS, {"name": "x", "currency": "USD", "prices": {"product_nope": "1"}}, "prices.product_nope",
                 id="list-unknown-product"),
    pytest.param(LISTS, {"name": "x", "currency": "USD", "prices": {"product_nope": None}}, "prices.product_nope",
                 id="list-null-price"),
    pytest.param(LISTS, {"name": "x", "currency": "USD", "prices": {"p": "-3"}}, "prices.p", id="list-negative"),
    pytest.param(LISTS, {"name": "x", "currency": "USD", "prices": ["a"]}, "prices", id="list-prices-not-object"),
])
async def test_bad_catalog_input_names_the_field_and_writes_nothing(client: httpx.AsyncClient, db: Database,
                                                                    org: Org, url: str, body: dict[str, Any],
                                                                    field: str) -> None:
    before = await snapshot(client, db, org, [])
    resp = problem(await client.post(url, json=body, headers=org.admin.h), 422)
    fields = [e["field"].removeprefix("body.") for e in resp.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in fields), resp
    assert await snapshot(client, db, org, []) == before


@pytest.mark.parametrize("body", [{"name": None}, {"unit_price": None}, {"currency": None}, {"unit_price": "x"}])
async def test_bad_product_patches_change_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                  body: dict[str, Any]) -> None:
    p = await product(client, org)
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    problem(await client.patch(f"{API}/{p['id']}", json=body, headers=org.admin.h), 422)
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before


# --- permissions and tenancy ----------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", PERSONAS)
async def test_everyone_reads_the_catalog_and_only_the_admin_changes_it(client: httpx.AsyncClient, db: Database,
                                                                        org: Org, persona: str) -> None:
    who = getattr(org, persona)
    p = await product(client, org)
    pl = await ok(await client.post(LISTS, json={"name": "L", "currency": "USD"}, headers=org.admin.h), 201)
    await ok(await client.get(API, headers=who.h))
    await ok(await client.get(f"{API}/{p['id']}", headers=who.h))
    await ok(await client.get(f"{LISTS}/{pl['id']}", headers=who.h))
    if persona == "admin":
        return
    before = await snapshot(client, db, org, [f"{API}/{p['id']}"])
    problem(await client.post(API, json={"name": "x", "unit_price": "1"}, headers=who.h), 403)
    problem(await client.patch(f"{API}/{p['id']}", json={"name": "x"}, headers=who.h), 403)
    problem(await client.delete(f"{API}/{p['id']}", headers=who.h), 403)
    problem(await client.post(LISTS, json={"name": "x", "currency": "USD"}, headers=who.h), 403)
    problem(await client.patch(f"{LISTS}/{pl['id']}", json={"name": "x"}, headers=who.h), 403)
    problem(await client.delete(f"{LISTS}/{pl['id']}", headers=who.h), 403)
    assert await snapshot(client, db, org, [f"{API}/{p['id']}"]) == before


async def test_another_orgs_catalog_does_not_exist(client: httpx.AsyncClient, db: Database, org: Org,
                                                   other_org: Org) -> None:
    theirs = await product(client, other_org)
    their_list = await ok(await client.post(LISTS, json={"name": "L", "currency": "USD"}, headers=other_org.admin.h),
                          201)
    before = await snapshot(client, db, org, [])
    for url in (f"{API}/{theirs['id']}", f"{LISTS}/{their_list['id']}"):
        problem(await client.get(url, headers=org.admin.h), 404)
        problem(await client.patch(url, json={"name": "x"}, headers=org.admin.h), 404)
        problem(await client.delete(url, headers=org.admin.h), 404)
    mine = await ok(await client.post(LISTS, json={"name": "Mine", "currency": "USD"}, headers=org.admin.h), 201)
    before = await snapshot(client, db, org, [f"{LISTS}/{mine['id']}"])
    problem(await client.patch(f"{LISTS}/{mine['id']}", json={"prices": {theirs["id"]: "1"}}, headers=org.admin.h),
            422)
    problem(await client.post(f"{V1}/deals", json={"title": "x", "price_list_id": their_list["id"]},
                              headers=org.admin.h), 422)
    assert await snapshot(client, db, org, [f"{LISTS}/{mine['id']}"]) == before
    assert (await ok(await client.get(API, headers=org.admin.h)))["data"] == []
