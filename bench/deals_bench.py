"""Deal move-stage benchmark: moves/s over HTTP beside the raw driver's one-row UPDATE + COMMIT.

    .venv/bin/python bench/deals_bench.py [--backend sqlite|postgresql|both] [--quick]

Per backend, in one run on a fresh database (``kith init``):
- ``kith.deals.service.create_deal`` makes one open deal per (connection × deals per connection)
  in the org's default pipeline.
- HTTP: ``kith serve`` (one uvicorn worker) as a subprocess; ``--connections`` keep-alive
  connections (default 32; a small asyncio HTTP/1.1 client, not httpx, so client CPU stays out of
  the figure) each own their deals and send ``POST /api/v1/deals/{id}/move-stage``, alternating each
  deal between two open stages, so every request is a real move (lock, check, row update,
  ``deal.stage-moved`` event and its index rows, one commit). Warm-up, then the measure; req/s,
  p50/p99 and errors; the server's CPU per request.
- raw driver: the same deals, one ``UPDATE deals SET stage_id …`` + ``COMMIT`` per move with
  sqlite3 / psycopg, one after the other; on PostgreSQL also from the same number of concurrent
  connections (commits share WAL flushes there; SQLite has one writer at a time): the database's
  floor under any single-row write, measured in the same run.
At the end the ``deal.stage-moved`` events written are counted against the moves answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dbkit  # noqa: E402
import loadgen  # noqa: E402
from kith.auth.model import Actor  # noqa: E402
from kith.core.db import Database  # noqa: E402
from kith.core.uow import UnitOfWork  # noqa: E402
from kith.deals import service as deals  # noqa: E402
from kith.deals.schemas import DealCreate  # noqa: E402
from kith.orgs import service as orgs  # noqa: E402
from kith.pipelines import repo as pipelines  # noqa: E402
from leads_bench import kith_init, serve, stop  # noqa: E402

DEALS_PER_CONNECTION = 16  # each connection cycles its own deals: no two requests wait on one row


async def make_deals(url: str, api_key: str, n: int) -> tuple[list[str], tuple[str, str]]:
    """``n`` open deals and the ids of two open stages to move them between."""
    db = Database(url)
    try:
        actor = await orgs.authenticate(db, api_key)
        assert isinstance(actor, Actor)
        uow = UnitOfWork(db)
        ids = []
        for i in range(n):
            row = await deals.create_deal(uow, actor, DealCreate(title=f"Bench deal {i}"))
            ids.append(row["id"])
        pipeline_id, first = await pipelines.default_deal_pipeline(uow, actor.org_id)
        async with uow.transaction():
            q = ("SELECT id FROM stages WHERE org_id = :o AND pipeline_id = :p AND outcome IS NULL "
                 "ORDER BY position LIMIT 2")
            import sqlalchemy as sa

            stages = [r[0] for r in await uow.execute(sa.text(q), {"o": actor.org_id, "p": pipeline_id})]
        assert stages[0] == first and len(stages) == 2
        return ids, (stages[0], stages[1])
    finally:
        await db.dispose()


def http_moves(base: str, api_key: str, deal_ids: list[str], stages: tuple[str, str], where: dict[str, int], *,
               connections: int, seconds: float) -> loadgen.LoadResult:
    """Move-stage load. ``where`` (deal id → index in ``stages``) is kept up to date, so every
    request moves its deal to the other stage: a real move, never a no-op."""
    per = len(deal_ids) // connections
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    bodies = [f'{{"stage_id":"{s}"}}'.encode() for s in stages]

    def make(wid: int, n: int) -> tuple[str, str, dict[str, str], bytes]:
        deal = deal_ids[wid * per + (n - 1) % per]  # each connection cycles through its own deals
        where[deal] = 1 - where[deal]
        return "POST", f"/api/v1/deals/{deal}/move-stage", headers, bodies[where[deal]]

    return asyncio.run(loadgen._asyncio_load(base, make, seconds=seconds, connections=connections))


def raw_updates(url: str, deal_ids: list[str], stages: tuple[str, str], n: int) -> float:
    """One UPDATE + COMMIT per move with the raw driver, one after the other; moves/s."""
    backend = dbkit.backend_of(url)
    mark = "?" if backend == "sqlite" else "%s"
    sql = (f"UPDATE deals SET stage_id = {mark}, probability = {mark}, stage_changed_at = {mark}, "
           f"updated_at = {mark}, version = version + 1 WHERE org_id = {mark} AND id = {mark}")
    with dbkit.connect(url) as conn:
        org_id = conn.execute(f"SELECT org_id FROM deals WHERE id = {mark}", (deal_ids[0],)).fetchone()[0]
        t0 = time.perf_counter()
        for i in range(n):
            deal = deal_ids[i % len(deal_ids)]
            stage = stages[(i // len(deal_ids)) % 2]
            params = (stage, 20, _stamp(backend), _stamp(backend), org_id, deal)
            if backend == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, params)
                conn.execute("COMMIT")
            else:
                conn.execute(sql, params)
                conn.commit()
        return n / (time.perf_counter() - t0)


def pg_concurrent_updates(url: str, deal_ids: list[str], stages: tuple[str, str], connections: int,
                          seconds: float) -> float:
    """PostgreSQL: the same UPDATE + COMMIT from ``connections`` threads, each on its own deals."""
    import psycopg

    sql = ("UPDATE deals SET stage_id = %s, probability = %s, stage_changed_at = now(), updated_at = now(), "
           "version = version + 1 WHERE org_id = %s AND id = %s")
    per = len(deal_ids) // connections
    counts = [0] * connections
    conns = [psycopg.connect(dbkit.pg_conninfo(url)) for _ in range(connections)]
    org_id = conns[0].execute("SELECT org_id FROM deals WHERE id = %s", (deal_ids[0],)).fetchone()[0]
    conns[0].commit()
    start = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(w: int) -> None:
        mine = deal_ids[w * per:(w + 1) * per]
        start.wait()
        i = 0
        while time.perf_counter() < deadline[0]:
            conns[w].execute(sql, (stages[(i // per) % 2], 20, org_id, mine[i % per]))
            conns[w].commit()
            i += 1
        counts[w] = i

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(connections)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return sum(counts) / elapsed


def _stamp(backend: str) -> Any:
    now = dbkit.clock.now()
    return now.replace(tzinfo=None).isoformat(sep=" ") if backend == "sqlite" else now


def count_moves(url: str) -> int:
    with dbkit.connect(url) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE type = 'deal.stage-moved'").fetchone()[0])


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- one backend -------------------------------------------------------------------------------------

def run_backend(backend: str, args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'deals-bench.db'}"
    else:
        pg_name = f"kith_deals_bench_{secrets.token_hex(4)}"
        dbkit.pg_create_database(pg_name)
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    try:
        creds = kith_init(url, workdir)
        n = args.connections * DEALS_PER_CONNECTION
        deal_ids, stages = asyncio.run(make_deals(url, creds["api_key"], n))
        log(f"[{backend}] {n} deals created")
        res: dict[str, Any] = {}
        proc, base = serve(url, workdir)
        try:
            where = dict.fromkeys(deal_ids, 0)  # every deal starts in the first stage
            http_moves(base, creds["api_key"], deal_ids, stages, where, connections=args.connections,
                       seconds=args.warmup)
            events_before = count_moves(url)
            cpu0 = proc_cpu(proc.pid)
            http = http_moves(base, creds["api_key"], deal_ids, stages, where, connections=args.connections,
                              seconds=args.seconds)
            http.cpu_ms = (proc_cpu(proc.pid) - cpu0) * 1e3 / max(1, http.requests)
        finally:
            stop(proc)
        res["http"] = http
        res["events"] = count_moves(url) - events_before
        log(f"[{backend}] HTTP move-stage: {http.brief()}; {res['events']} deal.stage-moved events")
        res["raw"] = raw_updates(url, deal_ids, stages, args.raw_moves)
        log(f"[{backend}] raw one-row UPDATE + COMMIT: {res['raw']:,.0f}/s")
        if backend == "postgresql":
            res["raw_concurrent"] = pg_concurrent_updates(url, deal_ids, stages, args.connections, args.seconds)
            log(f"[{backend}] raw UPDATE + COMMIT, {args.connections} connections: {res['raw_concurrent']:,.0f}/s")
        return res
    finally:
        if pg_name:
            dbkit.pg_drop_database(pg_name)


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    backends = list(results)

    def cell(b: str, fn: Callable[[dict[str, Any]], str]) -> str:
        try:
            return fn(results[b])
        except KeyError:
            return "—"

    def http_cell(r: dict[str, Any]) -> str:
        h: loadgen.LoadResult = r["http"]
        floor = r.get("raw_concurrent") or r["raw"]
        err = f", {h.errors} errors" if h.errors else ""
        return f"{h.rps:,.0f} ({h.rps / floor:.0%} of the floor{err})"

    rows = [
        (f"HTTP `POST /deals/{{id}}/move-stage`, {args.connections} connections (moves/s)", http_cell),
        ("HTTP p50 / p99 latency", lambda r: f"{r['http'].p50_ms:.1f} / {r['http'].p99_ms:.1f} ms"),
        ("server CPU per move", lambda r: f"{r['http'].cpu_ms:.2f} ms"),
        ("`deal.stage-moved` events / moves answered", lambda r: f"{r['events']:,} / {r['http'].requests:,}"),
        ("raw driver one-row UPDATE + COMMIT, sequential (/s)", lambda r: f"{r['raw']:,.0f}"),
        (f"raw driver UPDATE + COMMIT, {args.connections} connections (/s)",
         lambda r: f"{r['raw_concurrent']:,.0f}" if "raw_concurrent" in r else "— (one writer)"),
    ]
    out = [f"Deal move-stage, {args.seconds:g} s after {args.warmup:g} s warm-up; the floor is the raw rate that "
           "applies (PostgreSQL: concurrent; SQLite: sequential, one writer)", "",
           "| measure | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(cell(b, fn) for b in backends) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="8 connections, 3 s measure (checks the script works)")
    ap.add_argument("--connections", type=int, default=None)
    args = ap.parse_args()
    args.connections = args.connections or (8 if args.quick else 32)
    args.seconds, args.warmup = (3.0, 1.0) if args.quick else (10.0, 2.0)
    args.raw_moves = 2_000 if args.quick else 10_000
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kith-deals-bench-") as tmp:
        for backend in backends:
            results[backend] = run_backend(backend, args, Path(tmp), lambda s: print(s, file=sys.stderr, flush=True))
    print(table(results, args))


if __name__ == "__main__":
    main()
