"""The org's currency rates over HTTP: read and replace (org:manage), canonical decimal text, the
org currency fixed at 1, an event per change, bad input refused without writing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kith.core import clock
from kith.core.db import Database
from tests.api.deal_support import PERSONAS, V1, events_of, ok
from tests.conftest import Org, count_rows, problem

API = f"{V1}/currency-rates"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def put(client: httpx.AsyncClient, org: Org, rates: dict[str, Any]) -> httpx.Response:
    return await client.put(API, json={"rates": rates}, headers=org.admin.h)


async def test_a_new_org_has_no_rates(client: httpx.AsyncClient, org: Org) -> None:
    assert await ok(await client.get(API, headers=org.admin.h)) == {"currency": "USD", "rates": []}


async def test_put_replaces_the_table_and_keeps_the_time_of_unchanged_rates(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    with clock.frozen(T0):
        first = await ok(await put(client, org, {"eur": "1.10", "GBP": 1.25, "JPY": "0.006700"}))
    assert first == {"currency": "USD", "rates": [
        {"currency": "EUR", "rate": "1.1", "updated_at": "2026-03-01T12:00:00Z"},
        {"currency": "GBP", "rate": "1.25", "updated_at": "2026-03-01T12:00:00Z"},
        {"currency": "JPY", "rate": "0.0067", "updated_at": "2026-03-01T12:00:00Z"}]}
    with clock.frozen(T0 + timedelta(days=1)):
        second = await ok(await put(client, org, {"EUR": "1.1", "GBP": "1.30", "USD": "1"}))
    assert second["rates"] == [
        {"currency": "EUR", "rate": "1.1", "updated_at": "2026-03-01T12:00:00Z"},   # unchanged
        {"currency": "GBP", "rate": "1.3", "updated_at": "2026-03-02T12:00:00Z"}]   # JPY dropped
    assert await ok(await client.get(API, headers=org.admin.h)) == second
    evts = await events_of(db, "currency_rates.updated", org.id)
    assert [e["data"]["after"] for e in evts] == [{"EUR": "1.1", "GBP": "1.25", "JPY": "0.0067"},
                                                  {"EUR": "1.1", "GBP": "1.3"}]
    assert evts[1]["data"]["before"] == evts[0]["data"]["after"] and evts[1]["actor_id"] == org.admin.user_id


async def test_putting_the_same_rates_again_writes_nothing(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await ok(await put(client, org, {"EUR": "1.10"}))
    before = await count_rows(db)
    await ok(await put(client, org, {"EUR": "1.100"}))
    assert await count_rows(db) == before


async def test_rates_belong_to_one_org(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    await ok(await put(client, org, {"EUR": "1.10"}))
    assert (await ok(await client.get(API, headers=other_org.admin.h)))["rates"] == []


@pytest.mark.parametrize("persona", PERSONAS)
async def test_only_org_managers_read_and_change_rates(client: httpx.AsyncClient, org: Org, persona: str) -> None:
    who = getattr(org, persona)
    got = await client.get(API, headers=who.h)
    changed = await client.put(API, json={"rates": {"EUR": "1.1"}}, headers=who.h)
    if persona == "admin":
        assert got.status_code == 200 and changed.status_code == 200
    else:
        assert problem(got, 403)["permission"] == "org:manage"
        assert problem(changed, 403)["permission"] == "org:manage"


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"rates": {"EUR": "0"}}, "rates.EUR", id="zero"),
    pytest.param({"rates": {"EUR": "-1.2"}}, "rates.EUR", id="negative"),
    pytest.param({"rates": {"EUR": "NaN"}}, "rates.EUR", id="nan"),
    pytest.param({"rates": {"EUR": "1e10"}}, "rates.EUR", id="too-big"),
    pytest.param({"rates": {"EUR": "0.0000000000001"}}, "rates.EUR", id="too-many-places"),
    pytest.param({"rates": {"EUR": "one"}}, "rates.EUR", id="not-a-number"),
    pytest.param({"rates": {"EUR": None}}, "rates.EUR", id="null"),
    pytest.param({"rates": {"XXX": "1"}}, "rates.XXX", id="unknown-currency"),
    pytest.param({"rates": {"USD": "2"}}, "rates.USD", id="org-currency-not-1"),
    pytest.param({"rates": []}, "rates", id="not-an-object"),
    pytest.param({}, "rates", id="missing"),
    pytest.param({"rates": {}, "extra": 1}, "extra", id="unknown-field"),
])
async def test_bad_rates_are_refused_and_nothing_changes(client: httpx.AsyncClient, db: Database, org: Org,
                                                        body: dict[str, Any], field: str) -> None:
    await ok(await put(client, org, {"EUR": "1.10"}))
    before = await count_rows(db)
    err = problem(await client.put(API, json=body, headers=org.admin.h), 422)
    assert any(e["field"].startswith(field) for e in err["errors"]), err
    assert await count_rows(db) == before


async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.put(API, content=b"{", headers={**org.admin.h, "content-type": "application/json"}), 400)
