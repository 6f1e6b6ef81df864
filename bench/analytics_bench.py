"""Analytics latency at size: p50/p95 of each report over a generated org.

    .venv/bin/python bench/analytics_bench.py [--backend sqlite|postgresql|both] [--deals 300000 | --scale 0.1]
                                              [--quick] [--runs 30] [--plans]
    .venv/bin/python bench/analytics_bench.py --db sqlite:////tmp/analytics.db   # kept: loaded once, reused

Per backend, on a fresh database (or, with ``--db``, one kept between runs) migrated with Alembic
(the real schema and indexes):
- one org (``kith.orgs.service.create_org``) with its default pipeline, 20 owners;
- ``--deals`` deals (default 300,000; 20,000 with ``--quick``), generated deterministically: created
  over two years (in creation order, so their ids follow their creation times as live ones do), in
  USD/EUR/GBP (and 1% JPY, which has no rate), spread over the pipeline's open stages, 20% won and
  15% lost (with a reason), close dates over 18 months; a ``deal.stage-moved`` event per stage a
  deal left, and the ``deal_stage_moves`` rows and ``deals.stages_reached`` the live system writes
  with them (creation row included); a third as many leads (a quarter converted) and as many
  activities as deals. Rows go in with SQLAlchemy Core executemany, then
  ``ANALYZE`` (PostgreSQL: ``VACUUM ANALYZE``).
- each report is called in-process through its service function (the SQL, the Decimal
  conversion and the response dict: everything but HTTP and JSON encoding), ``--runs`` times after
  a warm-up, unfiltered over all time (the worst case), then with a one-quarter window, then for one
  owner. The table shows p50/p95 in ms against the 500 ms target (issue 6).
- ``--plans``: print the query plan of every aggregate each report runs (unfiltered), captured
  from the statements the services send; on PostgreSQL with EXPLAIN ANALYZE's node timings.
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
from kith.analytics import moves, service
from kith.analytics.repo import Scope
from kith.analytics.tables import currency_rates, deal_stage_moves
from kith.auth.model import Actor
from kith.core import ids, migrate
from kith.core.db import Database, sync_url
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads.tables import leads
from kith.orgs import service as orgs
from kith.orgs.schemas import ApiKeyCreate
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
    """(table name, batch of rows) for deals (``stages_reached`` included), their stage-move events,
    ``deal_stage_moves`` rows, leads and activities."""
    rnd = random.Random(6)
    open_stages = [s for s in stage_rows if s["outcome"] is None]
    outcome = {s["outcome"]: s for s in stage_rows if s["outcome"]}
    deal_batch: list[dict[str, Any]] = []
    event_batch: list[dict[str, Any]] = []
    move_batch: list[dict[str, Any]] = []
    # made in creation order, as the live system makes them: deal ids (time-ordered) follow created_at
    created_times = sorted(_at(rnd) for _ in range(n))
    for i, created in enumerate(created_times):
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
        deal = deal_batch[-1]
        # the stages its moves left or entered (moves._add_reached); NULL if it never moved
        deal["stages_reached"] = moves.join_stages(path) if len(path) > 1 else None
        move_batch.append(moves.move_row(org_id, ids.new("evt"), deal, None, path[0], created))
        for a, b in zip(path, path[1:], strict=False):
            event: dict[str, Any] = {
                "org_id": org_id, "id": ids.new("evt"), "type": "deal.stage-moved", "subject_type": "deal",
                "subject_id": deal_id, "actor_type": "user", "actor_id": owners[0],
                "occurred_at": _at(rnd, created), "data": {"from_stage_id": a, "to_stage_id": b}}
            event_batch.append(event)
            # what kith.analytics.moves writes for the event in the same transaction
            move_batch.append(moves.move_row(org_id, event["id"], deal, a, b, event["occurred_at"]))
        if len(deal_batch) >= BATCH:
            yield "deals", deal_batch
            yield "events", event_batch
            yield "deal_stage_moves", move_batch
            deal_batch, event_batch, move_batch = [], [], []
    yield "deals", deal_batch
    yield "events", event_batch
    yield "deal_stage_moves", move_batch
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

    tables = {"deals": deals, "events": events, "leads": leads, "activities": activities, "contacts": contacts,
              "deal_stage_moves": deal_stage_moves}
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
        # PostgreSQL: VACUUM too, as autovacuum would have by then (index-only scans need the
        # visibility map); it cannot run inside a transaction
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"))
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


def calls_for(db: Database, actor: Actor) -> list[tuple[str, str, Callable[[], Awaitable[Any]]]]:
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
    return calls


async def measure(url: str, actor: Actor, runs: int) -> list[tuple[str, str, float, float, float, float]]:
    """Per report: p50 and p95 wall ms, p50 CPU ms of this process (all of SQLite's work, only the
    Python side on PostgreSQL), and the raw-driver floor: the same statements run by the driver
    alone (no SQLAlchemy, no Decimal, no response), p50 ms."""
    db = Database(url)
    seen: list[tuple[str, Any]] = []
    engine_ = db.sync_engine or db.engine.sync_engine
    capture = [False]

    def note(*a: Any) -> None:
        if capture[0]:
            seen.append((a[2], a[3]))

    sa.event.listen(engine_, "before_cursor_execute", note)
    plain = sa.create_engine(sync_url(url))
    out = []
    try:
        for name, label, call in calls_for(db, actor):
            for _ in range(2):
                await call()
            seen.clear()
            capture[0] = True
            await call()
            capture[0] = False
            times, cpu = [], []
            for _ in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                await call()
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            times.sort()
            raw = _raw(plain, list(seen), max(3, runs // 2))
            out.append((name, label, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)],
                        statistics.median(cpu), raw))
            print(f"  {name} ({label}): p50 {out[-1][2]:.1f} ms, p95 {out[-1][3]:.1f} ms, cpu {out[-1][4]:.1f} ms, "
                  f"raw driver {raw:.1f} ms", file=sys.stderr, flush=True)
    finally:
        plain.dispose()
        await db.dispose()
    return out


def _raw(engine: sa.Engine, statements: list[tuple[str, Any]], runs: int) -> float:
    """p50 ms of running ``statements`` (with their parameters) on the bare DB-API cursor."""
    times = []
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        for _ in range(runs):
            t0 = time.perf_counter()
            for stmt, params in statements:
                cursor.execute(stmt, params)
                cursor.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
        cursor.close()
    return statistics.median(times)


async def plans(url: str, actor: Actor) -> None:
    """The plan of every aggregate each report runs unfiltered (PostgreSQL: EXPLAIN ANALYZE, with
    the time each node took), captured from the statements the services send."""
    db = Database(url)
    seen: list[tuple[str, Any]] = []
    engine_ = db.sync_engine or db.engine.sync_engine
    sa.event.listen(engine_, "before_cursor_execute", lambda *a: seen.append((a[2], a[3])))
    explain = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
    plain = sa.create_engine(sync_url(url))
    try:
        for name, label, call in calls_for(db, actor):
            if label != "all time":
                continue
            seen.clear()
            await call()
            for stmt, params in list(seen):
                if not any(f in stmt.lower() for f in ("count(", "sum(")):
                    continue  # lookups by key: nothing to plan
                print(f"-- {name} ({db.backend}): {' '.join(stmt.split())[:160]}…", file=sys.stderr)
                with plain.connect() as conn:
                    for row in conn.exec_driver_sql(explain + stmt, params):
                        print("  ", " ".join(str(x) for x in row), file=sys.stderr)
    finally:
        plain.dispose()
        await db.dispose()


Result = list[tuple[str, str, float, float, float, float]]


def run_backend(backend: str, n: int, runs: int, show_plans: bool) -> Result | None:
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


async def reuse(url: str) -> Actor:
    """The admin of the Bench org a previous ``--db`` run loaded, through a fresh API key (the schema
    is migrated first, so a kept database gets this code's indexes)."""
    migrate.upgrade(url)
    db = Database(url)
    try:
        uow = UnitOfWork(db)
        async with uow.transaction():
            org_id = (await uow.execute(sa.text("SELECT id FROM orgs WHERE name = 'Bench'"))).scalar_one()
            user_id = (await uow.execute(sa.text("SELECT id FROM users WHERE org_id = :o AND email = :e"),
                                         {"o": org_id, "e": "admin@bench.test"})).scalar_one()
        async with uow.transaction(write=True):
            _, key = await orgs.create_api_key(uow, Actor.system(org_id), user_id, ApiKeyCreate(name="bench"))
        actor = await orgs.authenticate(db, key)
        assert isinstance(actor, Actor)
        return actor
    finally:
        await db.dispose()


def has_bench_org(url: str) -> bool:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("orgs"):
                return False
            return conn.execute(sa.text("SELECT 1 FROM orgs WHERE name = 'Bench'")).first() is not None
    finally:
        engine.dispose()


def _run(url: str, n: int, runs: int, show_plans: bool) -> Result:
    if has_bench_org(url):
        actor = asyncio.run(reuse(url))
        print(f"reusing the Bench org of {url} (its deals as loaded before)", file=sys.stderr, flush=True)
    else:
        actor, seconds = asyncio.run(setup(url, n))
        print(f"loaded {n:,} deals (+ events, leads, activities) in {seconds:.1f} s", file=sys.stderr, flush=True)
    if show_plans:
        asyncio.run(plans(url, actor))
    return asyncio.run(measure(url, actor, runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--deals", type=int, default=None)
    ap.add_argument("--scale", type=float, default=None, help="deals = 300,000 × scale (bench/generate.py's scale)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="20,000 deals, 10 runs")
    ap.add_argument("--plans", action="store_true")
    ap.add_argument("--db", help="one backend's database URL to keep between runs: loaded on the first run (an "
                                 "empty SQLite file or PostgreSQL database), reused as it is after that")
    args = ap.parse_args()
    n = args.deals or (round(300_000 * args.scale) if args.scale else 20_000 if args.quick else 300_000)
    runs = args.runs or (10 if args.quick else 30)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if args.db:
        backends = ("sqlite" if args.db.startswith("sqlite") else "postgresql",)
        results: dict[str, Result | None] = {backends[0]: _run(args.db, n, runs, args.plans)}
    else:
        results = {b: run_backend(b, n, runs, args.plans) for b in backends}
    print(f"\n### Analytics at {n:,} deals (in-process service calls, {runs} runs; target p95 ≤ {TARGET_MS} ms)\n")
    print("| report | filter | " + " | ".join(f"{b} p50 / p95 ms (cpu p50; raw-driver p50; ratio)" for b in backends)
          + " |")
    print("|---|---|" + "---|" * len(backends))
    first = next((r for r in results.values() if r), [])
    for i, (name, label, *_) in enumerate(first):
        cells = []
        for b in backends:
            res = results[b]
            if not res:
                cells.append("—")
                continue
            _, _, p50, p95, cpu, raw = res[i]
            cells.append(f"{p50:.1f} / {p95:.1f}{'' if p95 <= TARGET_MS else ' ⚠'} ({cpu:.1f}; {raw:.1f}; "
                         f"{p50 / raw if raw else 0:.1f}×)")
        print(f"| {name} | {label} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
