"""The nightly analytics snapshot: ``take_snapshot(uow, org_id, day)`` stores the day's figures in
the org currency, is idempotent per (org, day), never touches another org, and feeds the daily,
weekly and monthly trend series of ``/analytics/trends`` and ``/analytics/pipeline?series=``."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from kith.analytics import model
from kith.analytics.snapshot import take_snapshot
from kith.analytics.tables import analytics_snapshots
from kith.core import clock
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from tests.api.deal_support import V1, contact, deal, ok, verb
from tests.conftest import Org

MONDAY = date(2026, 3, 2)


def at(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


async def snapshots(db: Database, org_id: str) -> list[dict[str, Any]]:
    s = analytics_snapshots.c
    async with db.engine.connect() as conn:
        q = sa.select(analytics_snapshots).where(s.org_id == org_id).order_by(s.day)
        return [dict(r._mapping) for r in await conn.execute(q)]


async def snap(db: Database, org: Org, day: date) -> None:
    with clock.frozen(at(day + timedelta(days=1), 0)):  # the job runs just after the day ends
        await take_snapshot(UnitOfWork(db), org.id, day)


@pytest.fixture
async def monday(client: httpx.AsyncClient, org: Org, other_org: Org) -> dict[str, Any]:
    """On Monday 2026-03-02: D1 100 USD opens; D2 50 EUR is won; D3 30 USD is lost; a lead is created
    and converted into a 20 USD deal; D4 5000 JPY opens (no JPY rate). EUR is worth 2 USD."""
    await ok(await client.put(f"{V1}/currency-rates", json={"rates": {"EUR": "2"}}, headers=org.admin.h))
    await ok(await client.patch(f"{V1}/org", json={"settings": {"high_value_thresholds": {"EUR": "45000"}}},
                                headers=org.admin.h))
    with clock.frozen(at(MONDAY)):
        c = await contact(client, org.rep)
        d1 = await deal(client, org.rep, title="D1", value={"amount": "100"})
        d2 = await deal(client, org.rep, title="D2", value={"amount": "50", "currency": "EUR"},
                        expected_close_date="2026-03-02")
        d3 = await deal(client, org.rep, title="D3", value={"amount": "30"})
        await deal(client, org.rep, title="D4", value={"amount": "5000", "currency": "JPY"})
        await ok(await verb(client, org.admin, d2["id"], "won", {}))
        await ok(await verb(client, org.admin, d3["id"], "lost", {"reason": "price"}))
        lead = await ok(await client.post(f"{V1}/leads", json={"contact_id": c["id"], "title": "L", "score": 60},
                                          headers=org.rep.h), 201)
        for step in ("contacted", "qualify"):
            await ok(await client.post(f"{V1}/leads/{lead['id']}/{step}", headers=org.rep.h))
        await ok(await client.post(f"{V1}/leads/{lead['id']}/convert", json={"value": {"amount": "20"}},
                                   headers=org.rep.h))
        await deal(client, other_org.admin, title="Elsewhere", value={"amount": "7"})
    return {"d1": d1}


async def test_a_snapshot_stores_the_days_figures_in_the_org_currency(
        client: httpx.AsyncClient, db: Database, org: Org, monday: dict[str, Any]) -> None:
    await snap(db, org, MONDAY)
    [row] = await snapshots(db, org.id)
    assert row["day"] == MONDAY and row["currency"] == "USD" and row["taken_at"] == at(MONDAY + timedelta(days=1), 0)
    assert (row["open_count"], row["pipeline_value"], row["weighted_value"]) == (2, Decimal("120.00"),
                                                                              Decimal("12.00"))  # D1 + lead's deal, 10%
    assert (row["won_count"], row["won_value"], row["lost_count"], row["lost_value"]) == (
        1, Decimal("100.00"), 1, Decimal("30.00"))  # 50 EUR × 2
    assert (row["leads_created"], row["leads_converted"], row["missing_rates"]) == (1, 1, ["JPY"])


async def test_taking_a_snapshot_again_replaces_the_days_row(client: httpx.AsyncClient, db: Database, org: Org,
                                                             monday: dict[str, Any]) -> None:
    await snap(db, org, MONDAY)
    await snap(db, org, MONDAY)
    assert len(await snapshots(db, org.id)) == 1
    await ok(await client.put(f"{V1}/currency-rates", json={"rates": {"EUR": "2", "JPY": "0.01"}},
                              headers=org.admin.h))
    await snap(db, org, MONDAY)
    [row] = await snapshots(db, org.id)
    assert (row["open_count"], row["pipeline_value"], row["missing_rates"]) == (3, Decimal("170.00"), [])


async def test_concurrent_snapshots_of_one_day_leave_one_row(client: httpx.AsyncClient, db: Database, org: Org,
                                                             monday: dict[str, Any]) -> None:
    with clock.frozen(at(MONDAY, 23)):
        await asyncio.gather(*(take_snapshot(UnitOfWork(db), org.id, MONDAY) for _ in range(4)))
    assert len(await snapshots(db, org.id)) == 1


async def test_a_snapshot_joins_the_callers_transaction(client: httpx.AsyncClient, db: Database, org: Org,
                                                        monday: dict[str, Any]) -> None:
    uow = UnitOfWork(db)
    with pytest.raises(RuntimeError), clock.frozen(at(MONDAY, 23)):
        async with uow.transaction(write=True):
            await take_snapshot(uow, org.id, MONDAY)
            raise RuntimeError("the job failed after the snapshot")
    assert await snapshots(db, org.id) == []


async def test_another_org_gets_its_own_snapshot(client: httpx.AsyncClient, db: Database, org: Org,
                                                 other_org: Org, monday: dict[str, Any]) -> None:
    await snap(db, other_org, MONDAY)
    assert await snapshots(db, org.id) == []
    [row] = await snapshots(db, other_org.id)
    assert (row["open_count"], row["pipeline_value"], row["won_count"], row["leads_created"]) == (
        1, Decimal("7.00"), 0, 0)


async def test_snapshots_feed_daily_weekly_and_monthly_series(client: httpx.AsyncClient, db: Database, org: Org,
                                                              monday: dict[str, Any]) -> None:
    await snap(db, org, MONDAY)
    with clock.frozen(at(MONDAY + timedelta(days=1))):  # Tuesday: D1 is won
        await ok(await client.patch(f"{V1}/deals/{monday['d1']['id']}", json={"expected_close_date": "2026-03-03"},
                                    headers=org.admin.h))
        await ok(await verb(client, org.admin, monday["d1"]["id"], "won", {}))
    await snap(db, org, MONDAY + timedelta(days=1))
    await snap(db, org, MONDAY + timedelta(days=7))  # the next Monday: nothing happened
    params = {"from": "2026-03-01", "to": "2026-03-31"}

    async def series(name: str, route: str = "trends") -> list[dict[str, Any]]:
        with clock.frozen(at(date(2026, 3, 20))):
            out = await ok(await client.get(f"{V1}/analytics/{route}", params={**params, "series": name},
                                            headers=org.viewer.h))
        assert out["currency"] == "USD" and out["series"] == name and out["from"] == "2026-03-01"
        return out["points"]  # type: ignore[no-any-return]

    daily = await series("daily")
    assert [(p["period_start"], p["open_count"], p["pipeline_value"], p["won_count"], p["won_value"])
            for p in daily] == [("2026-03-02", 2, "120.00", 1, "100.00"), ("2026-03-03", 1, "20.00", 1, "100.00"),
                                ("2026-03-09", 1, "20.00", 0, "0.00")]
    weekly = await series("weekly")
    assert [(p["period_start"], p["period_end"], p["days"], p["last_day"]) for p in weekly] == [
        ("2026-03-02", "2026-03-08", 2, "2026-03-03"), ("2026-03-09", "2026-03-15", 1, "2026-03-09")]
    first = weekly[0]
    assert (first["open_count"], first["pipeline_value"], first["weighted_value"]) == (1, "20.00", "2.00")  # Tuesday
    assert (first["won_count"], first["won_value"], first["lost_count"], first["lost_value"]) == (
        2, "200.00", 1, "30.00")  # Monday + Tuesday
    assert (first["win_rate"], first["leads_created"], first["leads_converted"], first["lead_conversion_rate"]) == (
        0.6667, 1, 1, 1.0)
    assert first["missing_rates"] == ["JPY"]
    monthly = await series("monthly", route="pipeline")
    assert [(p["period_start"], p["period_end"], p["days"], p["won_count"]) for p in monthly] == [
        ("2026-03-01", "2026-03-31", 3, 2)]


async def test_a_series_without_snapshots_is_empty_and_defaults_to_recent_periods(
        client: httpx.AsyncClient, org: Org) -> None:
    with clock.frozen(at(date(2026, 3, 20))):
        out = await ok(await client.get(f"{V1}/analytics/trends", headers=org.admin.h))
    assert out == {"currency": "USD", "series": "weekly", "from": "2025-09-20", "to": "2026-03-20", "points": []}


# --- the folding of snapshots into periods (pure) --------------------------------------------------

def _snapshot(day: date, n: int) -> dict[str, Any]:
    money = Decimal(n) / 4
    return {"day": day, "currency": "USD", "open_count": n, "pipeline_value": money, "weighted_value": money / 2,
            "won_count": n % 3, "won_value": money, "lost_count": n % 2, "lost_value": money, "leads_created": n % 5,
            "leads_converted": n % 4, "missing_rates": ["JPY"] if n % 7 == 0 else []}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=800), min_size=1, max_size=60, unique=True),
       st.sampled_from(["daily", "weekly", "monthly"]))
def test_every_series_adds_up_the_flows_and_shows_each_periods_last_stock(offsets: list[int], name: str) -> None:
    start = date(2025, 1, 1)
    snaps = [_snapshot(start + timedelta(days=o), o) for o in sorted(offsets)]
    points = model.buckets(snaps, name)
    assert sum(p["days"] for p in points) == len(snaps)
    for key in model.FLOWS:
        assert sum(p[key] for p in points) == sum(s[key] for s in snaps)
    for p in points:
        inside = [s for s in snaps if p["period_start"] <= s["day"] <= p["period_end"]]
        assert len(inside) == p["days"] and p["last_day"] == inside[-1]["day"]
        assert p["open_count"] == inside[-1]["open_count"]
        assert model.bucket_start(p["period_start"], name) == p["period_start"]
    assert [p["period_start"] for p in points] == sorted({model.bucket_start(s["day"], name) for s in snaps})


@given(st.integers(min_value=0, max_value=10**15), st.decimals(min_value=Decimal("0.000001"), max_value=1000,
                                                               places=6, allow_nan=False))
def test_conversion_rounds_half_up_to_the_cent_and_is_exact_in_the_org_currency(cents: int, rate: Decimal) -> None:
    conv = model.Converter("USD", {"EUR": rate})
    assert conv.convert(cents, "USD") == Decimal(cents) / 100
    got = conv.convert(cents, "EUR")
    assert got == got.quantize(Decimal("0.01")) and abs(got - Decimal(cents) / 100 * rate) <= Decimal("0.005")
    assert conv.convert(cents, "JPY") == 0 and conv.missing_rates() == ["JPY"]
