"""Analytics over HTTP (seed 004 §8, DESIGN §6): every figure of the pipeline, forecast,
rep-performance and conversion-rates reports checked against numbers worked out by hand on a small
data set built through the API (deals in USD, EUR, GBP and JPY, stage moves, won and lost deals,
activities, converted leads) with a frozen clock; filters; permissions per persona; another org's
records and ids; bad parameters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kith.core import clock
from kith.core.db import Database
from tests.api.deal_support import PERSONAS, V1, contact, deal, ok, pipeline, stage_named, verb
from tests.conftest import Org, Persona, problem

A = f"{V1}/analytics"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)  # 2026-03-11 12:00, when the reports are read
REPORTS = ("pipeline", "forecast", "rep-performance", "conversion-rates", "trends")


@contextmanager
def day(n: float) -> Iterator[None]:
    with clock.frozen(T0 + timedelta(days=n)):
        yield


async def rates(client: httpx.AsyncClient, org: Org, **values: str) -> dict[str, Any]:
    return await ok(await client.put(f"{V1}/currency-rates", json={"rates": values}, headers=org.admin.h))  # type: ignore[no-any-return]


async def report(client: httpx.AsyncClient, who: Persona, name: str, **params: str) -> dict[str, Any]:
    with clock.frozen(NOW):
        return await ok(await client.get(f"{A}/{name}", params=params, headers=who.h))  # type: ignore[no-any-return]


async def move(client: httpx.AsyncClient, org: Org, deal_id: str, stage_id: str) -> None:
    await ok(await verb(client, org.admin, deal_id, "move-stage", {"stage_id": stage_id}))


@pytest.fixture
async def data(client: httpx.AsyncClient, org: Org, other_org: Org) -> dict[str, Any]:
    """The known data set (see the module docstring of each test for the arithmetic).

    deal  owner      value        created  history (day)                       close date
    D1    rep        1000 USD     0        appointment                          2026-04-15
    D2    rep        2000 EUR     0        → proposal (2)                       2026-04-20
    D3    other_rep   500 GBP     0        → qualification (1) → negotiation (3)  2026-05-10
    D4    rep        3000 USD     0        → qualification (1) → won (5)        2026-03-31
    D5    other_rep  1500 USD     0        → lost "price" (4)
    D6    other_rep   700 EUR     2        → qualification (3) → lost "timing" (6)
    D7    rep       10000 JPY     0        appointment (no JPY rate)            2026-04-01
    D8    manager     400 USD     2        created in qualification, probability 25
    Rates: EUR 1.10, GBP 1.25 (USD org). Another org holds a deal that must never show up.
    """
    p = await pipeline(client, org)
    s = {n: stage_named(p, n)["id"] for n in ("appointment", "qualification", "proposal", "negotiation")}
    await rates(client, org, EUR="1.10", GBP="1.25")
    c = await contact(client, org.admin)
    deals: dict[str, dict[str, Any]] = {}

    async def new(name: str, who: Persona, amount: str, currency: str, close: str | None = None, **extra: Any
                  ) -> None:
        body: dict[str, Any] = {"title": name, "value": {"amount": amount, "currency": currency},
                                "contact_id": c["id"], **extra}
        if close:
            body["expected_close_date"] = close
        deals[name] = await deal(client, who, **body)

    with day(0):
        await new("D1", org.rep, "1000", "USD", "2026-04-15")
        await new("D2", org.rep, "2000", "EUR", "2026-04-20")
        await new("D3", org.other_rep, "500", "GBP", "2026-05-10")
        await new("D4", org.rep, "3000", "USD", "2026-03-31")
        await new("D5", org.other_rep, "1500", "USD")
        await new("D7", org.rep, "10000", "JPY", "2026-04-01")
    with day(1):
        await move(client, org, deals["D3"]["id"], s["qualification"])
        await move(client, org, deals["D4"]["id"], s["qualification"])
        await ok(await client.post(f"{V1}/activities", json={"type": "call", "subject": "Intro"}, headers=org.rep.h),
                 201)
    with day(2):
        await move(client, org, deals["D2"]["id"], s["proposal"])
        await new("D6", org.other_rep, "700", "EUR")
        await new("D8", org.manager, "400", "USD", stage_id=s["qualification"], probability=25)
    with day(3):
        await move(client, org, deals["D3"]["id"], s["negotiation"])
        await move(client, org, deals["D6"]["id"], s["qualification"])
        await ok(await client.post(f"{V1}/activities", json={"type": "email", "subject": "Terms"},
                                   headers=org.other_rep.h), 201)
    with day(4):
        await ok(await verb(client, org.admin, deals["D5"]["id"], "lost", {"reason": "price"}))
    with day(5):
        await ok(await verb(client, org.admin, deals["D4"]["id"], "won", {}))
        await ok(await client.post(f"{V1}/activities", json={"type": "meeting", "subject": "Kickoff"},
                                   headers=org.rep.h), 201)
    with day(6):
        await ok(await verb(client, org.admin, deals["D6"]["id"], "lost", {"reason": "timing"}))
    with day(0):
        await deal(client, other_org.admin, title="Elsewhere", value={"amount": "999999", "currency": "USD"},
                   expected_close_date="2026-04-02")
    return {"pipeline": p, "stages": s, "deals": deals}


# --- pipeline -------------------------------------------------------------------------------------

async def test_the_pipeline_report_gives_count_value_weighted_value_and_age_per_stage_in_the_org_currency(
        client: httpx.AsyncClient, org: Org, data: dict[str, Any]) -> None:
    out = await report(client, org.viewer, "pipeline")
    assert out["currency"] == "USD" and out["pipeline_id"] == data["pipeline"]["id"]
    assert out["missing_rates"] == ["JPY"]  # D7 is left out, and said to be
    got = {s["name"]: (s["count"], s["value"], s["weighted_value"], s["average_age_days"]) for s in out["stages"]}
    assert got == {
        "appointment": (1, "1000.00", "100.00", 10.0),      # D1: 1000 × 10%
        "qualification": (1, "400.00", "100.00", 8.0),      # D8: 400 × 25% (override), created day 2
        "proposal": (1, "2200.00", "1100.00", 10.0),        # D2: 2000 EUR × 1.10, × 50%
        "negotiation": (1, "625.00", "500.00", 10.0),       # D3: 500 GBP × 1.25, × 80%
        "closed won": (0, "0.00", "0.00", None),
        "closed lost": (0, "0.00", "0.00", None),
    }
    assert [s["name"] for s in out["stages"]][:2] == ["appointment", "qualification"]
    assert out["totals"] == {"count": 4, "value": "4225.00", "weighted_value": "1800.00"}


async def test_the_pipeline_report_filters_by_owner_and_creation_window(
        client: httpx.AsyncClient, org: Org, data: dict[str, Any]) -> None:
    mine = await report(client, org.admin, "pipeline", owner_id=org.rep.user_id)
    assert mine["totals"] == {"count": 2, "value": "3200.00", "weighted_value": "1200.00"}  # D1 + D2
    late = await report(client, org.admin, "pipeline", **{"from": "2026-03-03"})
    assert late["totals"] == {"count": 1, "value": "400.00", "weighted_value": "100.00"}  # D8 only
    assert late["missing_rates"] == []
    early = await report(client, org.admin, "pipeline", to="2026-03-01", pipeline_id=data["pipeline"]["id"])
    assert early["totals"]["count"] == 3 and early["missing_rates"] == ["JPY"]  # D1, D2, D3


async def test_a_deal_counts_once_its_currency_has_a_rate(client: httpx.AsyncClient, org: Org,
                                                          data: dict[str, Any]) -> None:
    await rates(client, org, EUR="1.10", GBP="1.25", JPY="0.0067")
    out = await report(client, org.admin, "pipeline")
    appointment = next(s for s in out["stages"] if s["name"] == "appointment")
    # D1 1000.00 + D7 10000 JPY × 0.0067 = 67.00; weighted 100.00 + 6.70
    assert (appointment["count"], appointment["value"], appointment["weighted_value"]) == (2, "1067.00", "106.70")
    assert out["missing_rates"] == []


async def test_an_org_in_another_currency_reports_in_it(client: httpx.AsyncClient, org: Org,
                                                       data: dict[str, Any]) -> None:
    await ok(await client.patch(f"{V1}/org", json={"settings": {"currency": "EUR"}}, headers=org.admin.h))
    await rates(client, org, USD="0.5")
    out = await report(client, org.admin, "pipeline")
    assert out["currency"] == "EUR" and out["missing_rates"] == ["GBP", "JPY"]
    # D1 1000 USD → 500, D8 400 USD → 200, D2 2000 EUR as it is
    assert out["totals"] == {"count": 3, "value": "2700.00", "weighted_value": "1100.00"}  # 50 + 50 + 1000


# --- forecast -------------------------------------------------------------------------------------

async def test_the_forecast_splits_open_and_won_deals_by_close_month_and_owner(
        client: httpx.AsyncClient, org: Org, data: dict[str, Any]) -> None:
    out = await report(client, org.manager, "forecast")
    assert out["currency"] == "USD" and out["missing_rates"] == ["JPY"]
    months = {m["month"]: m for m in out["months"]}
    assert [m["month"] for m in out["months"]] == ["2026-03", "2026-04", "2026-05", None]

    def figures(m: dict[str, Any]) -> tuple[Any, ...]:
        return (m["open_count"], m["won_count"], m["won_value"], m["weighted_value"], m["best_case_value"])

    assert figures(months["2026-03"]) == (0, 1, "3000.00", "3000.00", "3000.00")   # D4 won
    assert figures(months["2026-04"]) == (2, 0, "0.00", "1200.00", "3200.00")     # D1 100 + D2 1100; 1000 + 2200
    assert figures(months["2026-05"]) == (1, 0, "0.00", "500.00", "625.00")       # D3
    assert figures(months[None]) == (1, 0, "0.00", "100.00", "400.00")            # D8 has no close date
    assert [(o["owner_id"], o["weighted_value"]) for o in months["2026-04"]["owners"]] == [
        (org.rep.user_id, "1200.00")]
    assert [o["owner_id"] for o in months["2026-05"]["owners"]] == [org.other_rep.user_id]
    assert figures(out["totals"]) == (4, 1, "3000.00", "4800.00", "7225.00")


async def test_the_forecast_window_bounds_the_close_date(client: httpx.AsyncClient, org: Org,
                                                         data: dict[str, Any]) -> None:
    out = await report(client, org.admin, "forecast", **{"from": "2026-04-01", "to": "2026-04-30"})
    assert [m["month"] for m in out["months"]] == ["2026-04"]
    assert out["totals"]["best_case_value"] == "3200.00" and out["missing_rates"] == ["JPY"]
    none = await report(client, org.admin, "forecast", owner_id=org.manager.user_id, **{"from": "2026-01-01"})
    assert none["months"] == [] and none["totals"]["open_count"] == 0


# --- rep performance ------------------------------------------------------------------------------

async def test_rep_performance_gives_won_value_win_rate_activities_and_cycle_time_per_rep(
        client: httpx.AsyncClient, org: Org, data: dict[str, Any]) -> None:
    out = await report(client, org.marketing, "rep-performance")
    reps = {r["owner_id"]: r for r in out["reps"]}
    rep, other = reps[org.rep.user_id], reps[org.other_rep.user_id]
    assert (rep["name"], rep["won_count"], rep["lost_count"], rep["won_value"], rep["win_rate"],
            rep["average_cycle_days"], rep["activity_count"]) == ("Rep", 1, 0, "3000.00", 1.0, 5.0, 2)
    # D5 1500 USD + D6 700 EUR × 1.10
    assert (other["won_count"], other["lost_count"], other["lost_value"], other["win_rate"],
            other["average_cycle_days"], other["activity_count"]) == (0, 2, "2270.00", 0.0, None, 1)
    assert org.manager.user_id not in reps  # no closed deal, no activity


async def test_rep_performance_counts_only_the_window(client: httpx.AsyncClient, org: Org,
                                                      data: dict[str, Any]) -> None:
    out = await report(client, org.admin, "rep-performance", **{"from": "2026-03-06", "to": "2026-03-06"})
    assert [(r["owner_id"], r["won_count"], r["lost_count"], r["activity_count"]) for r in out["reps"]] == [
        (org.rep.user_id, 1, 0, 1)]  # D4 won on day 5, the kickoff meeting
    only = await report(client, org.admin, "rep-performance", owner_id=org.other_rep.user_id)
    assert [r["owner_id"] for r in only["reps"]] == [org.other_rep.user_id]


# --- conversion rates -----------------------------------------------------------------------------

async def test_conversion_rates_give_the_stage_funnel_transitions_and_win_loss_with_reasons(
        client: httpx.AsyncClient, org: Org, data: dict[str, Any]) -> None:
    out = await report(client, org.admin, "conversion-rates")
    assert out["leads"] == {"created": 0, "converted": 0, "rate": None}
    # Furthest open stage: D1 D5 D7 appointment; D6 D8 qualification; D2 proposal; D3 negotiation; D4 won.
    assert [(s["name"], s["reached"], s["advanced"], s["rate"]) for s in out["stages"]] == [
        ("appointment", 8, 5, 0.625), ("qualification", 5, 3, 0.6), ("proposal", 3, 2, 0.6667),
        ("negotiation", 2, 1, 0.5)]
    ids = {v: k for k, v in data["stages"].items()}
    for stage in data["pipeline"]["stages"]:
        ids.setdefault(stage["id"], stage["name"])
    moves = {(ids[t["from_stage_id"]], ids[t["to_stage_id"]]): t["count"] for t in out["transitions"]}
    assert moves == {("appointment", "qualification"): 3, ("appointment", "proposal"): 1,
                     ("qualification", "negotiation"): 1, ("qualification", "closed won"): 1,
                     ("appointment", "closed lost"): 1, ("qualification", "closed lost"): 1}
    assert out["transitions"][0]["count"] == 3  # most frequent first
    assert out["win_loss"] == {"won": 1, "lost": 2, "win_rate": 0.3333, "win_loss_ratio": 0.5, "lost_reasons": [
        {"reason": "price", "count": 1, "share": 0.5}, {"reason": "timing", "count": 1, "share": 0.5}]}


async def test_conversion_rates_follow_the_owner_and_window_filters(client: httpx.AsyncClient, org: Org,
                                                                   data: dict[str, Any]) -> None:
    out = await report(client, org.admin, "conversion-rates", owner_id=org.other_rep.user_id)
    assert [(s["reached"], s["advanced"]) for s in out["stages"]] == [(3, 2), (2, 1), (1, 1), (1, 0)]
    assert out["win_loss"]["won"] == 0 and out["win_loss"]["lost"] == 2 and out["win_loss"]["win_loss_ratio"] == 0.0
    window = await report(client, org.admin, "conversion-rates", **{"from": "2026-03-05", "to": "2026-03-06"})
    assert window["win_loss"]["won"] == 1 and window["win_loss"]["lost"] == 1  # D4 (day 5), D5 (day 4)
    assert [s["reached"] for s in window["stages"]] == [0, 0, 0, 0]  # no deal was created then
    assert {t["count"] for t in window["transitions"]} == {1} and len(window["transitions"]) == 2


async def test_lead_to_deal_conversion_counts_leads_created_in_the_window(
        client: httpx.AsyncClient, org: Org) -> None:
    made = []
    for i in range(4):
        with day(i):
            c = await contact(client, org.rep, name=f"Lead person {i}")
            made.append(await ok(await client.post(f"{V1}/leads", json={
                "contact_id": c["id"], "title": f"Lead {i}", "score": 60}, headers=org.rep.h), 201))
    with day(4):
        for lead in made[:2]:
            for step in ("contacted", "qualify"):
                await ok(await client.post(f"{V1}/leads/{lead['id']}/{step}", headers=org.rep.h))
            await ok(await client.post(f"{V1}/leads/{lead['id']}/convert", json={}, headers=org.rep.h))
    out = await report(client, org.admin, "conversion-rates")
    assert out["leads"] == {"created": 4, "converted": 2, "rate": 0.5}
    out = await report(client, org.admin, "conversion-rates", **{"from": "2026-03-02"})
    assert out["leads"] == {"created": 3, "converted": 1, "rate": 0.3333}
    out = await report(client, org.admin, "conversion-rates", owner_id=org.other_rep.user_id)
    assert out["leads"] == {"created": 0, "converted": 0, "rate": None}


# --- permissions, other orgs, bad input ------------------------------------------------------------

ALLOWED = {"admin", "manager", "marketing", "viewer"}  # analytics:read (seed 004 §3)


@pytest.mark.parametrize("name", REPORTS)
@pytest.mark.parametrize("persona", PERSONAS)
async def test_who_may_read_analytics(client: httpx.AsyncClient, org: Org, persona: str, name: str) -> None:
    r = await client.get(f"{A}/{name}", headers=getattr(org, persona).h)
    if persona in ALLOWED:
        assert r.status_code == 200, r.text
    else:
        assert problem(r, 403)["permission"] == "analytics:read"


async def test_reports_need_an_api_key(client: httpx.AsyncClient) -> None:
    problem(await client.get(f"{A}/pipeline"), 401)


async def test_another_orgs_pipeline_is_not_found(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    theirs = await pipeline(client, other_org)
    for name in ("pipeline", "conversion-rates"):
        body = problem(await client.get(f"{A}/{name}", params={"pipeline_id": theirs["id"]}, headers=org.admin.h),
                       404)
        assert body["id"] == theirs["id"]


async def test_another_orgs_deals_never_count(client: httpx.AsyncClient, org: Org, other_org: Org,
                                              data: dict[str, Any]) -> None:
    out = await report(client, other_org.admin, "pipeline")
    assert out["totals"] == {"count": 1, "value": "999999.00", "weighted_value": "99999.90"}
    out = await report(client, other_org.admin, "rep-performance")
    assert out["reps"] == []


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"from": "yesterday"}, "from", id="unparseable-date"),
    pytest.param({"to": "2026-02-30"}, "to", id="impossible-date"),
    pytest.param({"from": "2026-03-02", "to": "2026-03-01"}, "from", id="from-after-to"),
    pytest.param({"pipeline_id": "x" * 41}, "pipeline_id", id="id-too-long"),
    pytest.param({"owner_id": ""}, "owner_id", id="empty-owner"),
    pytest.param({"stage": "proposal"}, "stage", id="unknown-parameter"),
    pytest.param({"series": "yearly"}, "series", id="unknown-series"),
    pytest.param({"series": "weekly", "owner_id": "user_x"}, "owner_id", id="series-is-org-wide"),
    pytest.param({"from": "\x00"}, "from", id="nul"),
])
async def test_bad_parameters_answer_422_naming_the_parameter(client: httpx.AsyncClient, org: Org,
                                                               params: dict[str, str], field: str) -> None:
    body = problem(await client.get(f"{A}/pipeline", params=params, headers=org.admin.h), 422)
    assert field in [e["field"] for e in body["errors"]], body


async def test_a_trend_series_is_at_most_ten_years(client: httpx.AsyncClient, org: Org) -> None:
    body = problem(await client.get(f"{A}/trends", params={"series": "daily", "from": "2010-01-01",
                                                           "to": "2026-01-01"}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "from"


async def test_the_reports_are_documented_in_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get(f"{V1}/openapi.json")).json()
    for name in REPORTS:
        op = spec["paths"][f"/api/v1/analytics/{name}"]["get"]
        assert "200" in op["responses"] and "422" in op["responses"], name
    schema = spec["components"]["schemas"]["StageFigures"]["properties"]
    assert {"count", "value", "weighted_value", "average_age_days"} <= set(schema)


async def test_reports_are_read_only(client: httpx.AsyncClient, db: Database, org: Org, data: dict[str, Any]) -> None:
    from tests.conftest import count_rows

    before = await count_rows(db)
    for name in REPORTS:
        await report(client, org.admin, name)
    assert await count_rows(db) == before
