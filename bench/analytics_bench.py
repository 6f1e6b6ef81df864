"""Analytics latency at size: p50/p95 of each report over a generated org.

    .venv/bin/python bench/analytics_bench.py [--backend sqlite|postgresql|both] [--deals 300000] [--quick]
                                              [--runs 30] [--plans]

Per backend, on a fresh database migrated with Alembic (the real schema and indexes):
- one org (``kith.orgs.service.create_org``) with its default pipeline, 20 owners;
- ``--deals`` deals (default 300,000; 20,000 with ``--quick``), generated deterministically: created
  over two years, in USD/EUR/GBP (and 1% JPY, which has no rate), spread over the pipeline's open
  stages, 20% won and 15% lost (with a reason), close dates over 18 months; one or two
  ``deal.stage-moved`` events per deal that left its first stage; a third as many leads (a quarter
  converted) and as many activities as deals. Rows go in with SQLAlchemy Core executemany, then
  ``ANALYZE``.
- each report is called in-process through its service function (the SQL, the Decimal
  conversion and the response dict: everything but HTTP and JSON encoding), ``--runs`` times after
  a warm-up, unfiltered over all time (the worst case), then with a one-quarter window, then for one
  owner. The table shows p50/p95 in ms against the 500 ms target (issue 6).
- ``--plans``: print the query plan of the pipeline and forecast aggregates.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql

from kith.activities.tables import activities
from kith.analytics import service
from kith.analytics.repo import Scope
from kith.analytics.tables import currency_rates
from kith.auth.model import Actor
from kith.core import ids, migrate
from kith.core.db import Database, sync_url
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads.tables import leads
from kith.orgs import service as orgs
from kith.pipelines.tables import stages

PG = "postgresql://postgres@127.0.0.1:5432"
TARGET_MS = 500
CURRENCIES = ("USD",) * 6 + ("EUR",) * 2 + ("GBP",)
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
BATCH = 5000  # rows per executemany: large enough to amortise round trips, small enough for memory


def _at(rnd: random.Random, after: datetime | None = None) -> datetime:
    base = after or START
    left = START + SPAN - base
    return base + timedelta(seconds=rnd.random() * max(left.total_seconds(), 3600))


def rows(org_id: str, owners: list[str], stage_rows: list[dict[str, Any]], pipeline_id: str, n: int
         ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(table name, batch of rows) for deals, their stage-move events, leads and activities."""
    rnd = random.Random(6)
    open_stages = [s for s in stage_rows if s["outcome"] is None]
    outcome = {s["outcome"]: s for s in stage_rows if s["outcome"]}
    deal_batch: list[dict[str, Any]] = []
    event_batch: list[dict[str, Any]] = []
    for i in range(n):
        created = _at(rnd)
        roll = rnd.random()
        status = "won" if roll < 0.20 else "lost" if roll < 0.35 else "open"
        reached = rnd.randrange(len(open_stages))
        stage = outcome[status] if status != "open" else open_stages[reached]
        closed = _at(rnd, created) if status != "open" else None
        currency = "JPY" if rnd.random() < 0.01 else rnd.choice(CURRENCIES)
        deal_id = ids.new("deal")
        deal_batch.append({
            "org_id": org_id, "id": deal_id, "title": f"Deal {i}", "pipeline_id": pipeline_id, "stage_id": stage["id"],
            "owner_id": rnd.choice(owners), "amount": rnd.randrange(100, 200_000), "currency": currency,
            "expected_close_date": (created + timedelta(days=rnd.randrange(10, 540))).date(), "status": status,
            "probability": stage["probability"], "probability_override": False,
            "lost_reason": rnd.choice(("price", "timing", "competitor", "no budget")) if status == "lost" else None,
            "won_at": closed if status == "won" else None, "lost_at": closed if status == "lost" else None,
            "closed_at": closed, "stage_changed_at": closed or created, "tags": [], "metadata": {},
            "custom_fields": {}, "created_at": created, "updated_at": closed or created, "version": 1})
        path = [s["id"] for s in open_stages[:reached + 1]] + ([stage["id"]] if status != "open" else [])
        for a, b in zip(path, path[1:], strict=False):
            event_batch.append({"org_id": org_id, "id": ids.new("evt"), "type": "deal.stage-moved",
                                "subject_type": "deal", "subject_id": deal_id, "actor_type": "user",
                                "actor_id": owners[0],
                                "occurred_at": _at(rnd, created), "data": {"from_stage_id": a, "to_stage_id": b}})
        if len(deal_batch) >= BATCH:
            yield "deals", deal_batch
            yield "events", event_batch
            deal_batch, event_batch = [], []
    yield "deals", deal_batch
    yield "events", event_batch
    yield from _leads_and_activities(rnd, org_id, owners, n)


def _leads_and_activities(rnd: random.Random, org_id: str, owners: list[str], n: int
                          ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    contact_id = ids.new("contact")
    yield "contacts", [{"org_id": org_id, "id": contact_id, "name": "Bench person", "stage": "lead", "status": "active",
                        "lead_score": 0, "tags": [], "metadata": {}, "custom_fields": {}, "created_at": START,
                        "updated_at": START, "version": 1}]
    batch: list[dict[str, Any]] = []
    for i in range(n // 3):
        created = _at(rnd)
        converted = _at(rnd, created) if rnd.random() < 0.25 else None
        batch.append({"org_id": org_id, "id": ids.new("lead"), "contact_id": contact_id, "title": f"Lead {i}",
                      "owner_id": rnd.choice(owners), "status": "converted" if converted else "new", "score": 10,
                      "converted_to_deal_id": "deal_x" if converted else None, "converted_at": converted,
                      "payload": {}, "created_at": created, "updated_at": created, "version": 1})
        if len(batch) >= BATCH:
            yield "leads", batch
            batch = []
    yield "leads", batch
    batch = []
    for i in range(n):
        at = _at(rnd)
        batch.append({"org_id": org_id, "id": ids.new("activity"), "type": "call", "actor_id": rnd.choice(owners),
                      "subject": f"Call {i}", "occurred_at": at, "metadata": {}, "created_at": at, "updated_at": at,
                      "version": 1})
        if len(batch) >= BATCH:
            yield "activities", batch
            batch = []
    yield "activities", batch


def load(url: str, org_id: str, owners: list[str], n: int) -> float:
    from kith.contacts.tables import contacts

    tables = {"deals": deals, "events": events, "leads": leads, "activities": activities, "contacts": contacts}
    engine = sa.create_engine(sync_url(url))
    t0 = time.perf_counter()
    try:
        with engine.begin() as conn:
            stage_rows = [dict(r._mapping) for r in conn.execute(
                sa.select(stages).where(stages.c.org_id == org_id).order_by(stages.c.position))]
            pipeline_id = stage_rows[0]["pipeline_id"]
            stage_rows = [s for s in stage_rows if s["pipeline_id"] == pipeline_id]
            conn.execute(currency_rates.insert(), [
                {"org_id": org_id, "currency": c, "rate": r, "updated_at": START}
                for c, r in (("EUR", "1.08"), ("GBP", "1.27"))])
        for name, batch in rows(org_id, owners, stage_rows, pipeline_id, n):
            if batch:
                with engine.begin() as conn:
                    conn.execute(tables[name].insert(), batch)
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()
    finally:
        engine.dispose()
    return time.perf_counter() - t0


async def setup(url: str, n: int) -> tuple[Actor, float]:
    migrate.upgrade(url)
    db = Database(url)
    try:
        res = await orgs.create_org(UnitOfWork(db), name="Bench", admin_email="admin@bench.test", admin_password=None)
        actor = await orgs.authenticate(db, res.api_key)
        assert isinstance(actor, Actor)
    finally:
        await db.dispose()
    owners = [ids.new("user") for _ in range(19)] + [res.user_id]
    return actor, load(url, actor.org_id, owners, n)


def _call(fn: Callable[..., Awaitable[Any]], db: Database, actor: Actor, scope: Scope
          ) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(UnitOfWork(db), actor, scope)


async def measure(url: str, actor: Actor, runs: int) -> list[tuple[str, str, float, float]]:
    db = Database(url)
    quarter = Scope(actor.org_id, start=date(2026, 1, 1), end=date(2026, 3, 31))
    everything = service.scope_for(actor)
    one_owner = Scope(actor.org_id, owner_id=actor.user_id)
    calls: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = []
    for label, scope in (("all time", everything), ("one quarter", quarter), ("one owner", one_owner)):
        for name, fn in (("pipeline", service.pipeline), ("forecast", service.forecast),
                         ("rep-performance", service.rep_performance), ("conversion-rates", service.conversion_rates)):
            calls.append((name, label, _call(fn, db, actor, scope)))
    calls.append(("trends (weekly)", "one year",
                  lambda: service.trends(UnitOfWork(db), actor, "weekly", date(2025, 3, 1), date(2026, 3, 1))))
    out = []
    try:
        for name, label, call in calls:
            for _ in range(3):
                await call()
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                await call()
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out.append((name, label, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]))
            print(f"  {name} ({label}): p50 {out[-1][2]:.1f} ms, p95 {out[-1][3]:.1f} ms", file=sys.stderr, flush=True)
    finally:
        await db.dispose()
    return out


def plans(url: str, org_id: str) -> None:
    from kith.analytics import repo

    engine = sa.create_engine(sync_url(url))
    scope = Scope(org_id)
    d = deals.c
    q = (sa.select(d.stage_id, d.currency, sa.func.count(), sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger)))
         .where(*repo.live_deals(scope), d.status == "open").group_by(d.stage_id, d.currency))
    with engine.connect() as conn:
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        sql = str(q.compile(engine, compile_kwargs={"literal_binds": True}))
        print(f"-- pipeline aggregate ({engine.dialect.name})")
        for row in conn.execute(sa.text(explain + sql)):
            print("  ", " ".join(str(x) for x in row))
    engine.dispose()


def run_backend(backend: str, n: int, runs: int, show_plans: bool) -> list[tuple[str, str, float, float]] | None:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="kith-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'analytics.db'}"
            return _run(url, n, runs, show_plans)
    name = f"kith_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    except psycopg.OperationalError:
        print("PostgreSQL unreachable: skipped", file=sys.stderr)
        return None
    try:
        return _run(f"{PG}/{name}", n, runs, show_plans)
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def _run(url: str, n: int, runs: int, show_plans: bool) -> list[tuple[str, str, float, float]]:
    actor, seconds = asyncio.run(setup(url, n))
    print(f"loaded {n:,} deals (+ events, leads, activities) in {seconds:.1f} s", file=sys.stderr, flush=True)
    if show_plans:
        plans(url, actor.org_id)
    return asyncio.run(measure(url, actor, runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--deals", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="20,000 deals, 10 runs")
    ap.add_argument("--plans", action="store_true")
    args = ap.parse_args()
    n = args.deals or (20_000 if args.quick else 300_000)
    runs = args.runs or (10 if args.quick else 30)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = {b: run_backend(b, n, runs, args.plans) for b in backends}
    print(f"\n### Analytics at {n:,} deals (in-process service calls, {runs} runs; target p95 ≤ {TARGET_MS} ms)\n")
    print("| report | filter | " + " | ".join(f"{b} p50 / p95 ms" for b in backends) + " |")
    print("|---|---|" + "---|" * len(backends))
    first = next((r for r in results.values() if r), [])
    for i, (name, label, _, _) in enumerate(first):
        cells = []
        for b in backends:
            res = results[b]
            if not res:
                cells.append("—")
                continue
            p50, p95 = res[i][2], res[i][3]
            cells.append(f"{p50:.1f} / {p95:.1f}{'' if p95 <= TARGET_MS else ' ⚠'}")
        print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
