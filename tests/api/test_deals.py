"""Deals over HTTP (seed 004 §4, §5, §6, §8; DESIGN §4, §5.3): create with the pipeline's defaults,
money and line items computed here, probability from the stage unless overridden, the deal state
machine with every pair of states, the "Deal Won" hook, move-stage, the deal's contacts, lists,
own-scope per persona, another org's ids, and bad input. A refused call changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kith.core import clock
from kith.core.db import Database
from tests.api.deal_support import (
    PERSONAS,
    V1,
    contact,
    deal,
    events_of,
    get_deal,
    notifications_of,
    ok,
    pipeline,
    snapshot,
    stage_named,
    verb,
)
from tests.conftest import Org, problem

API = f"{V1}/deals"


# --- create -------------------------------------------------------------------------------------------

async def test_a_new_deal_lands_in_the_default_pipelines_first_stage_with_its_probability(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep, title="Acme renewal", value={"amount": "1200.5"})
    first = p["stages"][0]
    assert (d["pipeline_id"], d["stage_id"], d["probability"]) == (p["id"], first["id"], first["probability"])
    assert d["status"] == "open" and d["owner_id"] == org.rep.user_id and d["probability_override"] is False
    assert d["value"] == {"amount": "1200.50", "currency": "USD"} and d["version"] == 1
    assert d["won_at"] is None and d["closed_at"] is None
    [event] = await events_of(db, "deal.created", d["id"])
    assert event["actor_id"] == org.rep.user_id and event["data"]["after"]["amount"] == "1200.50"


async def test_the_currency_defaults_to_the_orgs(client: httpx.AsyncClient, org: Org) -> None:
    await ok(await client.patch(f"{V1}/org", json={"settings": {"currency": "EUR"}}, headers=org.admin.h))
    d = await deal(client, org.rep)
    assert d["value"] == {"amount": "0.00", "currency": "EUR"}
    d = await deal(client, org.rep, value={"amount": 5, "currency": "gbp"})
    assert d["value"] == {"amount": "5.00", "currency": "GBP"}


async def test_an_explicit_probability_overrides_the_stage_and_survives_stage_moves(
        client: httpx.AsyncClient, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep, probability=35)
    assert d["probability"] == 35 and d["probability_override"] is True
    moved = await ok(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": stage_named(p, "proposal")["id"]}))
    assert moved["probability"] == 35
    back = await ok(await client.patch(f"{API}/{d['id']}", json={"probability_override": False}, headers=org.rep.h))
    assert back["probability"] == 50 and back["probability_override"] is False
    again = await ok(await client.patch(f"{API}/{d['id']}", json={"probability": 60}, headers=org.rep.h))
    assert again["probability"] == 60 and again["probability_override"] is True


async def test_create_in_a_named_stage_and_pipeline(client: httpx.AsyncClient, org: Org) -> None:
    p = await pipeline(client, org)
    neg = stage_named(p, "negotiation")
    d = await deal(client, org.rep, pipeline_id=p["id"], stage_id=neg["id"])
    assert d["stage_id"] == neg["id"] and d["probability"] == 80
    other = await ok(await client.post(f"{V1}/pipelines", json={"name": "Partners", "stages": [
        {"name": "intro", "probability": 5}, {"name": "signed", "outcome": "won", "probability": 100}]},
        headers=org.admin.h), 201)
    d2 = await deal(client, org.rep, pipeline_id=other["id"])
    assert d2["stage_id"] == other["stages"][0]["id"] and d2["probability"] == 5


async def test_a_deal_starts_in_an_open_stage_of_its_own_pipeline(client: httpx.AsyncClient, db: Database,
                                                                   org: Org) -> None:
    p = await pipeline(client, org)
    other = await ok(await client.post(f"{V1}/pipelines", json={"name": "Other"}, headers=org.admin.h), 201)
    before = await snapshot(client, db, org, [])
    won_stage = stage_named(p, "closed won")["id"]
    body = problem(await client.post(API, json={"title": "x", "stage_id": won_stage}, headers=org.rep.h), 422)
    assert body["errors"][0]["field"] == "stage_id"
    body = problem(await client.post(API, json={"title": "x", "pipeline_id": other["id"],
                                                "stage_id": p["stages"][0]["id"]}, headers=org.rep.h), 422)
    assert body["errors"][0]["field"] == "stage_id"
    assert await snapshot(client, db, org, []) == before


# --- line items ---------------------------------------------------------------------------------------

async def catalog(client: httpx.AsyncClient, org: Org) -> dict[str, Any]:
    seat = await ok(await client.post(f"{V1}/products", json={"name": "Seat", "sku": "SEAT", "unit_price": "100"},
                                      headers=org.admin.h), 201)
    euro = await ok(await client.post(f"{V1}/products", json={"name": "Euro thing", "unit_price": "10",
                                                              "currency": "EUR"}, headers=org.admin.h), 201)
    plist = await ok(await client.post(f"{V1}/price-lists", json={"name": "Partners", "currency": "USD",
                                                                  "prices": {seat["id"]: "80"}},
                                       headers=org.admin.h), 201)
    return {"seat": seat, "euro": euro, "list": plist}


async def test_line_items_are_priced_from_the_catalog_and_the_amount_is_their_total(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    cat = await catalog(client, org)
    d = await deal(client, org.rep, line_items=[
        {"product_id": cat["seat"]["id"], "quantity": "3"},
        {"product_id": cat["seat"]["id"], "quantity": 2, "discount_percent": 10},
        {"name": "Setup", "unit_price": "99.99"}])
    assert d["value"]["amount"] == "579.99"  # 300 + 180 + 99.99
    items = d["line_items"]
    assert [(i["name"], i["quantity"], i["unit_price"], i["total"]) for i in items] == [
        ("Seat", "3", "100.00", "300.00"), ("Seat", "2", "100.00", "180.00"), ("Setup", "1", "99.99", "99.99")]
    with_list = await deal(client, org.rep, price_list_id=cat["list"]["id"],
                           line_items=[{"product_id": cat["seat"]["id"], "quantity": "1.5"}])
    assert with_list["value"] == {"amount": "120.00", "currency": "USD"}
    got = await get_deal(client, org, with_list["id"], include="line_items")
    assert got["line_items"][0]["unit_price"] == "80.00"


async def test_patching_line_items_replaces_them_and_recomputes_the_amount(client: httpx.AsyncClient,
                                                                           org: Org) -> None:
    cat = await catalog(client, org)
    d = await deal(client, org.rep, line_items=[{"product_id": cat["seat"]["id"]}])
    patched = await ok(await client.patch(f"{API}/{d['id']}", json={"line_items": [
        {"product_id": cat["seat"]["id"], "quantity": 5}]}, headers=org.rep.h))
    assert patched["value"]["amount"] == "500.00" and len(patched["line_items"]) == 1 and patched["version"] == 2
    problem(await client.patch(f"{API}/{d['id']}", json={"value": {"amount": "1"}}, headers=org.rep.h), 422)
    cleared = await ok(await client.patch(f"{API}/{d['id']}", json={"line_items": []}, headers=org.rep.h))
    assert cleared["line_items"] == []
    free = await ok(await client.patch(f"{API}/{d['id']}", json={"value": {"amount": "7"}}, headers=org.rep.h))
    assert free["value"]["amount"] == "7.00"


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"value": {"amount": "5"}, "line_items": [{"name": "x", "unit_price": "1"}]}, "value.amount",
                 id="amount-with-lines"),
    pytest.param({"line_items": [{"name": "x"}]}, "line_items.0.unit_price", id="no-price"),
    pytest.param({"line_items": [{"unit_price": "1"}]}, "line_items.0.name", id="no-name"),
    pytest.param({"line_items": [{"product_id": "EURO"}]}, "line_items.0.unit_price", id="product-in-other-currency"),
    pytest.param({"line_items": [{"product_id": "product_nope"}]}, "line_items.0.product_id", id="unknown-product"),
    pytest.param({"line_items": [{"name": "x", "unit_price": "1", "quantity": 0}]}, "line_items.0.quantity",
                 id="zero-quantity"),
    pytest.param({"line_items": [{"name": "x", "unit_price": "1", "discount_percent": 101}]},
                 "line_items.0.discount_percent", id="discount-over-100"),
    pytest.param({"line_items": [{"name": "x", "unit_price": "10000000000000", "quantity": "1000000"}]},
                 "line_items.0.quantity", id="total-too-large"),
    pytest.param({"price_list_id": "LIST", "value": {"currency": "EUR"}}, "price_list_id",
                 id="price-list-in-other-currency"),
])
async def test_bad_line_items_name_the_field_and_write_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                               body: dict[str, Any], field: str) -> None:
    cat = await catalog(client, org)
    body = json.loads(json.dumps(body).replace('"EURO"', f'"{cat["euro"]["id"]}"')
                      .replace('"LIST"', f'"{cat["list"]["id"]}"'))
    before = await snapshot(client, db, org, [])
    resp = problem(await client.post(API, json={"title": "x", **body}, headers=org.rep.h), 422)
    assert field in [e["field"].removeprefix("body.") for e in resp.get("errors", [])], resp
    assert await snapshot(client, db, org, []) == before


# --- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    pytest.param({}, "title", id="no-title"),
    pytest.param({"title": ""}, "title", id="empty-title"),
    pytest.param({"title": "x" * 201}, "title", id="long-title"),
    pytest.param({"title": 5}, "title", id="title-not-text"),
    pytest.param({"title": "x", "value": {"amount": "-1"}}, "value.amount", id="negative"),
    pytest.param({"title": "x", "value": {"amount": "1.234"}}, "value.amount", id="three-decimals"),
    pytest.param({"title": "x", "value": {"amount": "abc"}}, "value.amount", id="not-a-number"),
    pytest.param({"title": "x", "value": {"amount": "1e20"}}, "value.amount", id="too-large"),
    pytest.param({"title": "x", "value": {"amount": "NaN"}}, "value.amount", id="nan"),
    pytest.param({"title": "x", "value": {"currency": "XXX"}}, "value.currency", id="unknown-currency"),
    pytest.param({"title": "x", "value": "100"}, "value", id="value-not-object"),
    pytest.param({"title": "x", "probability": 101}, "probability", id="probability-over-100"),
    pytest.param({"title": "x", "probability": -1}, "probability", id="probability-negative"),
    pytest.param({"title": "x", "expected_close_date": "31/12/2026"}, "expected_close_date", id="bad-date"),
    pytest.param({"title": "x", "status": "won"}, "status", id="status-is-not-writable"),
    pytest.param({"title": "x", "tags": ["a,b"]}, "tags.0", id="bad-tag"),
    pytest.param({"title": "x", "contact_id": "x" * 41}, "contact_id", id="long-id"),
    pytest.param({"title": "x", "contact_id": "contact_nope"}, "contact_id", id="unknown-contact"),
    pytest.param({"title": "x", "company_id": "company_nope"}, "company_id", id="unknown-company"),
    pytest.param({"title": "x", "pipeline_id": "pipeline_nope"}, "pipeline_id", id="unknown-pipeline"),
    pytest.param({"title": "x", "stage_id": "stage_nope"}, "stage_id", id="unknown-stage"),
    pytest.param({"title": "x", "price_list_id": "pl_nope"}, "price_list_id", id="unknown-price-list"),
    pytest.param({"title": "x", "owner_id": "user_nope"}, "owner_id", id="unknown-owner"),
    pytest.param({"title": "x", "contacts": [{"contact_id": "contact_nope"}]}, "contacts.0.contact_id",
                 id="unknown-listed-contact"),
    pytest.param({"title": "x", "notes": "a\x00b"}, "notes", id="nul"),
])
async def test_a_bad_create_names_the_field_and_writes_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                               body: dict[str, Any], field: str) -> None:
    before = await snapshot(client, db, org, [])
    who = org.admin
    resp = problem(await client.post(API, json=body, headers=who.h), 422)
    fields = [e["field"].removeprefix("body.") for e in resp.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in fields), resp
    assert await snapshot(client, db, org, []) == before


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"title": None}, "title", id="null-title"),
    pytest.param({"value": None}, "value", id="null-value"),
    pytest.param({"value": {"amount": None}}, "value.amount", id="null-amount"),
    pytest.param({"stage_id": "x"}, "stage_id", id="stage-through-move-stage"),
    pytest.param({"probability": 50, "probability_override": False}, "probability_override", id="both"),
    pytest.param({"probability_override": True}, "probability_override", id="override-true"),
    pytest.param({"line_items": None}, "line_items", id="null-lines"),
])
async def test_a_bad_patch_names_the_field_and_changes_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                               body: dict[str, Any], field: str) -> None:
    d = await deal(client, org.rep)
    before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
    resp = problem(await client.patch(f"{API}/{d['id']}", json=body, headers=org.rep.h), 422)
    fields = [e["field"].removeprefix("body.") for e in resp.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in fields), resp
    assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before


async def test_a_stale_if_match_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    d = await deal(client, org.rep)
    await ok(await client.patch(f"{API}/{d['id']}", json={"title": "v2"}, headers=org.rep.h))
    problem(await client.patch(f"{API}/{d['id']}", json={"title": "v3"}, headers={**org.rep.h, "If-Match": '"v1"'}),
            412)


# --- another org ----------------------------------------------------------------------------------------

async def test_references_to_another_orgs_records_are_refused_and_nothing_is_written(
        client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    theirs_contact = await contact(client, other_org.admin)
    theirs_company = await ok(await client.post(f"{V1}/companies", json={"name": "Globex"}, headers=other_org.admin.h),
                              201)
    theirs_p = await pipeline(client, other_org)
    theirs_product = await ok(await client.post(f"{V1}/products", json={"name": "P", "unit_price": "1"},
                                                headers=other_org.admin.h), 201)
    theirs_deal = await deal(client, other_org.admin)
    before = await snapshot(client, db, org, [])
    for body, field in [({"contact_id": theirs_contact["id"]}, "contact_id"),
                        ({"company_id": theirs_company["id"]}, "company_id"),
                        ({"pipeline_id": theirs_p["id"]}, "pipeline_id"),
                        ({"stage_id": theirs_p["stages"][0]["id"]}, "stage_id"),
                        ({"owner_id": other_org.admin.user_id}, "owner_id"),
                        ({"line_items": [{"product_id": theirs_product["id"]}]}, "line_items.0.product_id")]:
        resp = problem(await client.post(API, json={"title": "x", **body}, headers=org.admin.h), 422)
        assert resp["errors"][0]["field"] == field
    mine = await deal(client, org.admin)
    before = await snapshot(client, db, org, [f"{API}/{mine['id']}"])
    problem(await verb(client, org.admin, mine["id"], "move-stage", {"stage_id": theirs_p["stages"][1]["id"]}), 422)
    problem(await client.patch(f"{API}/{mine['id']}", json={"contact_id": theirs_contact["id"]}, headers=org.admin.h),
            422)
    problem(await verb(client, org.admin, mine["id"], "contacts", {"contact_id": theirs_contact["id"]}), 422)
    problem(await client.get(f"{API}/{theirs_deal['id']}", headers=org.admin.h), 404)
    problem(await client.patch(f"{API}/{theirs_deal['id']}", json={"title": "x"}, headers=org.admin.h), 404)
    for path, body in (("won", {}), ("lost", {"reason": "x"}), ("abandon", None), ("reopen", None),
                       ("move-stage", {"stage_id": theirs_p["stages"][1]["id"]}), ("approval-requests", None),
                       ("reassign", {"owner_id": org.rep.user_id}), ("contacts", {"contact_id": theirs_contact["id"]})):
        problem(await verb(client, org.admin, theirs_deal["id"], path, body), 404)
    problem(await client.get(f"{V1}/contacts/{theirs_contact['id']}/deals", headers=org.admin.h), 404)
    assert await snapshot(client, db, org, [f"{API}/{mine['id']}"]) == before


# --- permissions (seed 004 §3) ----------------------------------------------------------------------------

CREATE = {"admin": 201, "manager": 201, "rep": 201, "other_rep": 201, "support": 403, "marketing": 403,
          "viewer": 403}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_who_may_create_a_deal(client: httpx.AsyncClient, db: Database, org: Org, persona: str) -> None:
    before = await snapshot(client, db, org, [])
    r = await client.post(API, json={"title": "x"}, headers=getattr(org, persona).h)
    assert r.status_code == CREATE[persona], r.text
    if r.status_code == 403:
        problem(r, 403)
        assert await snapshot(client, db, org, []) == before


# The rep's deal, seen by each persona: read / update / close / delete / reassign.
MATRIX = {
    "admin": (200, 200, 200, 204, 200),
    "manager": (200, 200, 200, 403, 200),  # the rep's manager
    "rep": (200, 200, 200, 403, 403),  # the owner
    "other_rep": (404, 404, 404, 403, 403),  # own-only: another rep's deal does not exist for them
    "support": (403, 403, 403, 403, 403),
    "marketing": (403, 403, 403, 403, 403),
    "viewer": (200, 403, 403, 403, 403),
}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_the_permission_matrix_on_a_reps_deal(client: httpx.AsyncClient, db: Database, org: Org,
                                                    persona: str) -> None:
    who = getattr(org, persona)
    read, update, close, delete, reassign = MATRIX[persona]
    d = await deal(client, org.rep, expected_close_date="2026-12-31")
    assert (await client.get(f"{API}/{d['id']}", headers=who.h)).status_code == read
    listed = await client.get(API, headers=who.h)
    if read == 200:
        assert d["id"] in [x["id"] for x in listed.json()["data"]]
    elif listed.status_code == 200:
        assert d["id"] not in [x["id"] for x in listed.json()["data"]]
    before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
    r = await client.patch(f"{API}/{d['id']}", json={"title": "mine now"}, headers=who.h)
    assert r.status_code == update, r.text
    if update != 200:
        assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before
    r = await verb(client, who, d["id"], "abandon")
    assert r.status_code == close, r.text
    r = await verb(client, who, d["id"], "reassign", {"owner_id": org.other_rep.user_id})
    assert r.status_code in ((reassign,) if reassign != 200 else (200, 409)), r.text
    r = await client.delete(f"{API}/{d['id']}", headers=who.h)
    assert r.status_code == delete, r.text


async def test_a_manager_sees_the_teams_deals_and_a_rep_only_their_own(client: httpx.AsyncClient, org: Org) -> None:
    mine = await deal(client, org.rep, title="rep's")
    theirs = await deal(client, org.other_rep, title="other rep's")
    rep_sees = {x["id"] for x in (await ok(await client.get(API, headers=org.rep.h)))["data"]}
    manager_sees = {x["id"] for x in (await ok(await client.get(API, headers=org.manager.h)))["data"]}
    assert rep_sees == {mine["id"]} and {mine["id"], theirs["id"]} <= manager_sees
    problem(await client.get(f"{API}/{theirs['id']}", headers=org.rep.h), 404)


async def test_a_rep_cannot_hand_a_deal_to_someone_else_on_create(client: httpx.AsyncClient, db: Database,
                                                                  org: Org) -> None:
    before = await snapshot(client, db, org, [])
    problem(await client.post(API, json={"title": "x", "owner_id": org.other_rep.user_id}, headers=org.rep.h), 403)
    assert await snapshot(client, db, org, []) == before
    d = await deal(client, org.manager, owner_id=org.rep.user_id)
    assert d["owner_id"] == org.rep.user_id


# --- the state machine over HTTP -------------------------------------------------------------------------

STATUSES = ("open", "won", "lost", "abandoned")
ROUTE = {"won": ("won", {}), "lost": ("lost", {"reason": "budget"}), "abandoned": ("abandon", None),
         "open": ("reopen", None)}
LEGAL = {("open", "won"), ("open", "lost"), ("open", "abandoned"), ("won", "open")}


async def deal_in(client: httpx.AsyncClient, org: Org, status: str) -> dict[str, Any]:
    d = await deal(client, org.rep, expected_close_date="2026-12-31", value={"amount": "100"})
    if status != "open":
        name, body = ROUTE[status]
        d = await ok(await verb(client, org.rep, d["id"], name, body))
    return d


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
async def test_every_pair_of_deal_states(client: httpx.AsyncClient, db: Database, org: Org, current: str,
                                         target: str) -> None:
    d = await deal_in(client, org, current)
    name, body = ROUTE[target]
    url = f"{API}/{d['id']}"
    if (current, target) in LEGAL:
        after = await ok(await verb(client, org.rep, d["id"], name, body))
        assert after["status"] == target and after["version"] == d["version"] + 1
        assert len(await events_of(db, {"open": "deal.reopened", "won": "deal.won", "lost": "deal.lost",
                                         "abandoned": "deal.abandoned"}[target], d["id"])) >= 1
        return
    before = await snapshot(client, db, org, [url])
    resp = problem(await verb(client, org.rep, d["id"], name, body), 409)
    assert resp["type"].endswith("invalid-transition")
    assert await snapshot(client, db, org, [url]) == before


# --- won ------------------------------------------------------------------------------------------------------

async def test_winning_makes_the_contact_a_customer_and_tells_the_owners_manager(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep, email="ann@buyer.test")
    assert c["stage"] == "lead"
    p = await pipeline(client, org)
    d = await deal(client, org.rep, contact_id=c["id"], value={"amount": "900"})
    won = await ok(await verb(client, org.rep, d["id"], "won", {"expected_close_date": "2026-12-20"}))
    assert won["status"] == "won" and won["won_at"] and won["closed_at"] == won["won_at"] and won["lost_at"] is None
    assert won["stage_id"] == stage_named(p, "closed won")["id"] and won["probability"] == 100
    assert won["expected_close_date"] == "2026-12-20"
    got = await ok(await client.get(f"{V1}/contacts/{c['id']}", headers=org.admin.h))
    assert got["stage"] == "customer" and got["version"] == c["version"] + 1
    [stage_event] = [e for e in await events_of(db, "contact.updated", c["id"]) if e["data"].get("reason")]
    assert stage_event["data"]["before"] == {"stage": "lead"} and stage_event["data"]["after"] == {"stage": "customer"}
    [won_event] = await events_of(db, "deal.won", d["id"])
    assert won_event["data"]["contact_stage"]["changed"] is True
    assert won_event["data"]["value"] == {"amount": "900.00", "currency": "USD"}
    [note] = await notifications_of(db, org.manager.user_id, "deal.won")
    assert note["subject_id"] == d["id"] and note["data"]["owner_id"] == org.rep.user_id
    assert await events_of(db, "deal.stage-moved", d["id"])


async def test_a_customer_or_churned_contact_keeps_its_stage_when_a_deal_is_won(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep, stage="customer")
    await ok(await client.patch(f"{V1}/contacts/{c['id']}", json={"stage": "churned"}, headers=org.admin.h))
    d = await deal(client, org.rep, contact_id=c["id"], expected_close_date="2026-12-31")
    await ok(await verb(client, org.rep, d["id"], "won"))
    got = await ok(await client.get(f"{V1}/contacts/{c['id']}", headers=org.admin.h))
    assert got["stage"] == "churned"
    [won_event] = await events_of(db, "deal.won", d["id"])
    assert won_event["data"]["contact_stage"] == {"contact_id": c["id"], "before": "churned", "after": "churned",
                                                  "changed": False}


async def test_the_owner_without_a_manager_tells_nobody(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    d = await deal(client, org.other_rep, expected_close_date="2026-12-31")
    await ok(await verb(client, org.other_rep, d["id"], "won"))
    assert await notifications_of(db, org.manager.user_id, "deal.won") == []


async def test_winning_without_a_close_date_fails_its_rule_and_writes_nothing(client: httpx.AsyncClient,
                                                                              db: Database, org: Org) -> None:
    d = await deal(client, org.rep)
    before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
    body = problem(await verb(client, org.rep, d["id"], "won"), 422)
    assert body["rule"] == "deal-won-requires-close-date"
    assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before


async def test_reopening_clears_the_closing_stamps_and_returns_to_an_open_stage(client: httpx.AsyncClient,
                                                                                org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal_in(client, org, "won")
    again = await ok(await verb(client, org.rep, d["id"], "reopen"))
    assert again["status"] == "open" and again["won_at"] is None and again["closed_at"] is None
    assert again["stage_id"] == stage_named(p, "negotiation")["id"] and again["probability"] == 80
    d2 = await deal_in(client, org, "won")
    into = stage_named(p, "proposal")["id"]
    again2 = await ok(await verb(client, org.rep, d2["id"], "reopen", {"stage_id": into}))
    assert again2["stage_id"] == into


async def test_reopening_a_deal_after_30_days_is_rejected(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    with clock.frozen(start):
        d = await deal_in(client, org, "won")
    with clock.frozen(start + timedelta(days=30, minutes=1)):
        before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
        body = problem(await verb(client, org.rep, d["id"], "reopen"), 409)
        assert body["type"].endswith("invalid-transition") and body["window_days"] == 30
        assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before
    with clock.frozen(start + timedelta(days=29)):
        await ok(await verb(client, org.rep, d["id"], "reopen"))


# --- lost, abandoned ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [None, {}, {"reason": None}, {"reason": "  "}])
async def test_losing_without_a_reason_fails_its_rule(client: httpx.AsyncClient, db: Database, org: Org,
                                                      body: Any) -> None:
    d = await deal(client, org.rep)
    before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
    resp = problem(await verb(client, org.rep, d["id"], "lost", body), 422)
    assert resp["rule"] == "deal-lost-requires-reason"
    assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before


async def test_losing_records_the_reason_and_moves_to_the_lost_stage(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep)
    lost = await ok(await verb(client, org.rep, d["id"], "lost", {"reason": "went with a competitor"}))
    assert lost["status"] == "lost" and lost["lost_reason"] == "went with a competitor" and lost["lost_at"]
    assert lost["stage_id"] == stage_named(p, "closed lost")["id"] and lost["probability"] == 0
    [event] = await events_of(db, "deal.lost", d["id"])
    assert event["data"]["reason"] == "went with a competitor"


async def test_a_long_lost_reason_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    d = await deal(client, org.rep)
    problem(await verb(client, org.rep, d["id"], "lost", {"reason": "x" * 2001}), 422)


# --- move-stage -------------------------------------------------------------------------------------------------

async def test_moving_a_deal_records_from_and_to_and_takes_the_stages_probability(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep)
    target = stage_named(p, "proposal")
    moved = await ok(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": target["id"]}))
    assert moved["stage_id"] == target["id"] and moved["probability"] == 50 and moved["version"] == 2
    assert moved["stage_changed_at"] > d["stage_changed_at"]
    [event] = await events_of(db, "deal.stage-moved", d["id"])
    assert (event["data"]["from_stage_id"], event["data"]["to_stage_id"]) == (d["stage_id"], target["id"])
    same = await ok(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": target["id"]}))
    assert same["version"] == 2


async def test_moving_into_the_won_stage_goes_through_the_won_rules(client: httpx.AsyncClient, db: Database,
                                                                    org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep)
    won_stage = stage_named(p, "closed won")["id"]
    before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
    body = problem(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": won_stage}), 422)
    assert body["rule"] == "deal-won-requires-close-date"
    assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before
    await ok(await client.patch(f"{API}/{d['id']}", json={"expected_close_date": "2026-12-24"}, headers=org.rep.h))
    won = await ok(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": won_stage}))
    assert won["status"] == "won" and won["stage_id"] == won_stage
    assert await events_of(db, "deal.won", d["id"])
    lost_stage = stage_named(p, "closed lost")["id"]
    d2 = await deal(client, org.rep)
    assert problem(await verb(client, org.rep, d2["id"], "move-stage", {"stage_id": lost_stage}), 422)["rule"] == \
        "deal-lost-requires-reason"
    lost = await ok(await verb(client, org.rep, d2["id"], "move-stage", {"stage_id": lost_stage, "reason": "no"}))
    assert lost["status"] == "lost"


async def test_a_closed_deal_does_not_move(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal_in(client, org, "abandoned")
    before = await snapshot(client, db, org, [f"{API}/{d['id']}"])
    problem(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": stage_named(p, "proposal")["id"]}), 409)
    assert await snapshot(client, db, org, [f"{API}/{d['id']}"]) == before


async def test_a_stage_of_another_pipeline_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    other = await ok(await client.post(f"{V1}/pipelines", json={"name": "Other"}, headers=org.admin.h), 201)
    d = await deal(client, org.rep)
    body = problem(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": other["stages"][1]["id"]}), 422)
    assert body["errors"][0]["field"] == "stage_id"
    problem(await verb(client, org.rep, d["id"], "move-stage", {}), 422)
    problem(await verb(client, org.rep, d["id"], "move-stage", {"stage_id": 5}), 422)


# --- the deal's contacts ----------------------------------------------------------------------------------------

async def test_a_deal_involves_several_contacts_with_role_labels(client: httpx.AsyncClient, db: Database,
                                                                 org: Org) -> None:
    ann, bob, cid = (await contact(client, org.rep, name="Ann"), await contact(client, org.rep, name="Bob"),
                     await contact(client, org.rep, name="Cid"))
    d = await deal(client, org.rep, contact_id=ann["id"], contacts=[{"contact_id": bob["id"], "role": "Champion"}])
    r = await verb(client, org.rep, d["id"], "contacts", {"contact_id": cid["id"], "role": "Decision maker"})
    people = (await ok(r, 201))["data"]
    assert [(p["name"], p["role"], p["is_primary"]) for p in people] == [
        ("Ann", None, True), ("Bob", "Champion", False), ("Cid", "Decision maker", False)]
    relabel = await verb(client, org.rep, d["id"], "contacts", {"contact_id": cid["id"], "role": "Blocker"})
    assert (await ok(relabel))["data"][2]["role"] == "Blocker"
    assert len(await events_of(db, "deal.contact-linked", d["id"])) == 2
    for who in (ann, bob, cid):
        listed = await ok(await client.get(f"{V1}/contacts/{who['id']}/deals", headers=org.rep.h))
        assert [x["id"] for x in listed["data"]] == [d["id"]]
    await ok(await client.delete(f"{API}/{d['id']}/contacts/{bob['id']}", headers=org.rep.h), 204)
    problem(await client.delete(f"{API}/{d['id']}/contacts/{bob['id']}", headers=org.rep.h), 404)
    assert (await ok(await client.get(f"{V1}/contacts/{bob['id']}/deals", headers=org.rep.h)))["data"] == []
    got = await get_deal(client, org, d["id"], include="contacts,line_items,activities")
    assert [p["name"] for p in got["contacts"]] == ["Ann", "Cid"] and got["line_items"] == []
    assert got["activities"] == []
    problem(await verb(client, org.other_rep, d["id"], "contacts", {"contact_id": bob["id"]}), 404)
    problem(await verb(client, org.viewer, d["id"], "contacts", {"contact_id": bob["id"]}), 403)


async def test_a_contacts_deals_hide_the_deals_the_caller_may_not_see(client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.admin)
    mine = await deal(client, org.rep, contact_id=c["id"])
    await deal(client, org.other_rep, contact_id=c["id"])
    listed = await ok(await client.get(f"{V1}/contacts/{c['id']}/deals", headers=org.rep.h))
    assert [x["id"] for x in listed["data"]] == [mine["id"]]
    assert len((await ok(await client.get(f"{V1}/contacts/{c['id']}/deals", headers=org.manager.h)))["data"]) == 2
    problem(await client.get(f"{V1}/contacts/{c['id']}/deals", headers=org.support.h), 403)


# --- lists ----------------------------------------------------------------------------------------------------

async def test_list_filters_sorts_and_pages(client: httpx.AsyncClient, org: Org) -> None:
    p = await pipeline(client, org)
    c = await contact(client, org.rep)
    a = await deal(client, org.rep, title="Alpha", value={"amount": "300"}, contact_id=c["id"], tags=["vip"],
                   expected_close_date="2026-12-01")
    b = await deal(client, org.rep, title="Beta", value={"amount": "100"}, expected_close_date="2027-01-15")
    g = await deal(client, org.manager, title="Gamma", value={"amount": "200"})
    await ok(await verb(client, org.rep, b["id"], "move-stage", {"stage_id": stage_named(p, "proposal")["id"]}))
    await ok(await verb(client, org.manager, g["id"], "abandon"))

    async def ids(**params: Any) -> list[str]:
        body = await ok(await client.get(API, params=params, headers=org.admin.h))
        return [x["id"] for x in body["data"]]

    assert await ids(status="abandoned") == [g["id"]]
    assert await ids(stage_id=stage_named(p, "proposal")["id"]) == [b["id"]]
    assert set(await ids(pipeline_id=p["id"])) == {a["id"], b["id"], g["id"]}
    assert set(await ids(owner_id=org.rep.user_id)) == {a["id"], b["id"]}
    assert await ids(contact_id=c["id"]) == [a["id"]]
    assert await ids(tag="vip") == [a["id"]]
    assert await ids(close_date_from="2027-01-01") == [b["id"]]
    assert await ids(close_date_to="2026-12-31") == [a["id"]]
    assert await ids(q="alp") == [a["id"]]
    assert await ids(sort="amount") == [b["id"], g["id"], a["id"]]
    assert await ids(sort="-title") == [g["id"], b["id"], a["id"]]
    first = await ok(await client.get(API, params={"limit": 2, "sort": "title"}, headers=org.admin.h))
    second = await ok(await client.get(API, params={"limit": 2, "sort": "title", "cursor": first["next_cursor"]},
                                       headers=org.admin.h))
    assert [x["title"] for x in first["data"] + second["data"]] == ["Alpha", "Beta", "Gamma"]
    assert second["next_cursor"] is None
    with_items = await ok(await client.get(API, params={"include": "line_items,contacts"}, headers=org.admin.h))
    assert all("line_items" in x and "contacts" in x for x in with_items["data"])


@pytest.mark.parametrize("params", [
    {"status": "closed"}, {"bogus": "1"}, {"created_after": "yesterday"}, {"close_date_from": "2026-13-01"},
    {"sort": "probability"}, {"include": "everything"}, {"limit": 0}, {"limit": 501}, {"cursor": "###"},
    {"owner_id": "x" * 41},
])
async def test_bad_list_parameters_are_refused(client: httpx.AsyncClient, org: Org, params: dict[str, Any]) -> None:
    r = await client.get(API, params=params, headers=org.admin.h)
    assert r.status_code in (400, 422), r.text
    problem(r, r.status_code)


# --- reassign, delete ---------------------------------------------------------------------------------------------

async def test_a_manager_reassigns_a_deal_and_the_new_owner_is_told(client: httpx.AsyncClient, db: Database,
                                                                    org: Org) -> None:
    d = await deal(client, org.rep)
    moved = await ok(await verb(client, org.manager, d["id"], "reassign", {"owner_id": org.other_rep.user_id}))
    assert moved["owner_id"] == org.other_rep.user_id
    [event] = await events_of(db, "deal.assigned", d["id"])
    assert event["data"] == {"before": {"owner_id": org.rep.user_id}, "after": {"owner_id": org.other_rep.user_id}}
    [note] = await notifications_of(db, org.other_rep.user_id, "deal.assigned")
    assert note["subject_id"] == d["id"]
    problem(await verb(client, org.manager, d["id"], "reassign", {"owner_id": "user_nope"}), 422)
    problem(await verb(client, org.manager, d["id"], "reassign", {}), 422)


async def test_delete_moves_a_deal_to_the_trash_and_restore_brings_it_back(client: httpx.AsyncClient, db: Database,
                                                                           org: Org) -> None:
    d = await deal(client, org.rep, title="Trash me")
    await ok(await client.delete(f"{API}/{d['id']}", headers=org.admin.h), 204)
    problem(await client.get(f"{API}/{d['id']}", headers=org.admin.h), 404)
    assert d["id"] not in [x["id"] for x in (await ok(await client.get(API, headers=org.admin.h)))["data"]]
    [event] = await events_of(db, "deal.deleted", d["id"])
    assert event["data"]["before"] == {"title": "Trash me"}
    back = await ok(await client.post(f"{API}/{d['id']}/restore", headers=org.admin.h))
    assert back["title"] == "Trash me" and back["value"]["amount"] == "0.00"
    await ok(await client.delete(f"{API}/{d['id']}", params={"permanent": "true"}, headers=org.admin.h), 204)
    problem(await client.post(f"{API}/{d['id']}/restore", headers=org.admin.h), 404)


async def test_concurrent_wins_of_one_deal_win_it_once(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await contact(client, org.rep)
    d = await deal(client, org.rep, contact_id=c["id"], expected_close_date="2026-12-31")
    answers = await asyncio.gather(*(verb(client, org.rep, d["id"], "won") for _ in range(5)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) == 1 and set(codes) <= {200, 409, 412}, codes
    assert len(await events_of(db, "deal.won", d["id"])) == 1
    assert len(await notifications_of(db, org.manager.user_id, "deal.won")) == 1


async def test_concurrent_moves_of_one_deal_keep_its_version_and_events_in_step(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    p = await pipeline(client, org)
    d = await deal(client, org.rep)
    targets = [s["id"] for s in p["stages"][1:4]]
    answers = await asyncio.gather(*(verb(client, org.rep, d["id"], "move-stage", {"stage_id": t}) for t in targets))
    moved = [r for r in answers if r.status_code == 200]
    assert all(r.status_code in (200, 412) for r in answers) and moved
    got = await get_deal(client, org, d["id"])
    assert got["version"] == 1 + len(await events_of(db, "deal.stage-moved", d["id"]))
