"""Timeline benchmark: a contact's timeline (events + activities merged) at 10,000 events.

    .venv/bin/python bench/timeline_bench.py [--backend sqlite|postgresql|both] [--quick]

Per backend, on a fresh database (``kith init``):
- one contact made through ``kith.contacts.service``; then, with the raw driver, 10,000 events
  indexed under it (``contact.updated`` with a before/after, spread over a year, ids in
  ``kith.core.ids`` format so id order is time order) and 300 activities linked to it (100 with
  ``--quick``), plus other contacts' events and activities (30,000 / 3,000; a tenth with
  ``--quick``) so the indexes hold more than the one contact.
- HTTP: ``kith serve`` (one uvicorn worker) as a subprocess; ``GET /api/v1/contacts/{id}/timeline``
  (50 items) sequentially over one keep-alive connection, cycling through the first page and
  three deep pages (cursors taken at about 1,000, 5,000 and 9,000 items in). p50 / p95.
- in-process: ``kith.timeline.service.for_record`` for the same pages, on uvloop.
- HTTP floor: ``GET /api/v1/notifications/unread-count`` on the same server and connection (API-key
  authentication plus one indexed count): what any authenticated request costs before its own work.
- raw driver: the exact SQL the service sent for each page (captured with a
  ``before_cursor_execute`` hook: the event read and the activity read), replayed with sqlite3 /
  psycopg, both statements per request, ``fetchall`` included.
The aim (issue 4): HTTP p95 ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sqlalchemy import event  # noqa: E402

import dbkit  # noqa: E402
from kith.auth.model import Actor  # noqa: E402
from kith.contacts import service as contacts  # noqa: E402
from kith.contacts.schemas import ContactCreate  # noqa: E402
from kith.core.db import Database  # noqa: E402
from kith.core.uow import UnitOfWork  # noqa: E402
from kith.orgs import service as orgs  # noqa: E402
from kith.timeline import service as timeline  # noqa: E402
from run import CLEANUP, free_port, http_sequential, kith_init, pct, start_server, uvloop_run  # noqa: E402

VENV_BIN = Path(sys.executable).parent
EVENTS = 10_000  # the figure: a contact with 10,000 events
PAGE = 50
DEEP = (1_000, 5_000, 9_000)  # where the deep pages start (items in)
TYPES = ("call", "email", "meeting", "note", "task", "demo", "sms", "chat")


# --- data ------------------------------------------------------------------------------------------

def _ts(backend: str, at: datetime) -> Any:
    return at.replace(tzinfo=None).isoformat(" ", "microseconds") if backend == "sqlite" else at


def _json(backend: str, value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def load(url: str, org_id: str, user_id: str, contact_id: str, *, events: int, acts: int, noise_events: int,
         noise_acts: int) -> float:
    """Raw-driver load of the contact's events and activities and the other contacts' noise; seconds."""
    backend = dbkit.backend_of(url)
    rnd = random.Random(7)
    now = datetime.now(UTC)
    j = "%s::jsonb" if backend == "postgresql" else "?"
    m = "%s" if backend == "postgresql" else "?"
    ev_sql = ("INSERT INTO events (org_id, id, type, subject_type, subject_id, actor_type, actor_id, occurred_at, "
              f"data) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {j})")
    ref_sql = f"INSERT INTO event_refs (org_id, record_id, event_id) VALUES ({m}, {m}, {m})"
    cols = ("org_id", "id", "type", "contact_id", "actor_id", "assignee_id", "subject", "body", "outcome", "channel",
            "direction", "occurred_at", "due_at", "completed_at", "metadata", "created_at", "updated_at", "version")
    act_sql = (f"INSERT INTO activities ({', '.join(cols)}) VALUES "
               f"({', '.join(j if c == 'metadata' else m for c in cols)})")
    others = [f"contact_bench{i:08d}" for i in range(200)]

    def ev_rows(n: int, owner: Callable[[int], str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        ages = sorted((rnd.random() * 365 for _ in range(n)), reverse=True)  # oldest first, as they happened
        evs, refs = [], []
        for i, age in enumerate(ages):
            at = now - timedelta(days=age)
            eid, subject = dbkit.fast_id("evt", at, rnd), owner(i)
            data = {"before": {"lead_score": i % 100}, "after": {"lead_score": (i + 1) % 100}}
            evs.append((org_id, eid, "contact.updated", "contact", subject, "user", user_id, _ts(backend, at),
                        _json(backend, data)))
            refs.append((org_id, subject, eid))
        return evs, refs

    def act_rows(n: int, owner: Callable[[int], str]) -> list[tuple[Any, ...]]:
        rows = []
        for i in range(n):
            at = now - timedelta(days=rnd.random() * 365)
            rows.append((org_id, dbkit.fast_id("activity", at, rnd), TYPES[i % len(TYPES)], owner(i), user_id, None,
                         f"Activity {i}", "Notes of the conversation " * 3, None, "phone", "outbound",
                         _ts(backend, at), None, _ts(backend, at), "{}", _ts(backend, at), _ts(backend, at), 1))
        return rows

    mine_ev, mine_ref = ev_rows(events, lambda _i: contact_id)
    noise_ev, noise_ref = ev_rows(noise_events, lambda i: others[i % len(others)])
    activities = act_rows(acts, lambda _i: contact_id) + act_rows(noise_acts, lambda i: others[i % len(others)])
    t0 = time.perf_counter()
    with dbkit.connect(url) as conn:
        if backend == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
        cur = conn.cursor()
        for sql, rows in ((ev_sql, mine_ev + noise_ev), (ref_sql, mine_ref + noise_ref), (act_sql, activities)):
            cur.executemany(sql, rows)
        conn.execute("COMMIT") if backend == "sqlite" else conn.commit()
    dbkit.analyze(url)
    return time.perf_counter() - t0


async def make_contact(url: str, api_key: str) -> tuple[str, str, str]:
    db = Database(url)
    try:
        actor = await orgs.authenticate(db, api_key)
        assert isinstance(actor, Actor) and actor.user_id is not None
        row = await contacts.create_contact(UnitOfWork(db), actor, ContactCreate(name="Timeline Bench"))
        return actor.org_id, actor.user_id, str(row["id"])
    finally:
        await db.dispose()


# --- measures --------------------------------------------------------------------------------------

async def cursors_and_sql(url: str, api_key: str, contact_id: str) -> tuple[list[str | None], list[Any]]:
    """The cursors of the first page and the deep pages, and the SQL each page sends."""
    db = Database(url)
    try:
        actor = await orgs.authenticate(db, api_key)
        cursors: list[str | None] = [None]
        cursor, seen = None, 0
        while len(cursors) <= len(DEEP):
            page = await timeline.for_record(UnitOfWork(db), actor, contacts.KIND, contact_id, limit=500,
                                             cursor=cursor)
            seen += len(page.data)
            cursor = page.next_cursor
            if cursor is None:
                raise RuntimeError(f"the timeline ended after {seen} items")
            if seen >= DEEP[len(cursors) - 1]:
                cursors.append(cursor)
        engine = db.sync_engine if db.sync_engine is not None else db.engine.sync_engine
        statements: list[Any] = []
        for c in cursors:
            captured: list[tuple[str, Any]] = []

            def grab(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool,
                     into: list[tuple[str, Any]] = captured) -> None:
                if "event_refs" in statement or "FROM activities" in statement:
                    into.append((statement, params))

            event.listen(engine, "before_cursor_execute", grab)
            await timeline.for_record(UnitOfWork(db), actor, contacts.KIND, contact_id, limit=PAGE, cursor=c)
            event.remove(engine, "before_cursor_execute", grab)
            assert len(captured) == 2, captured
            statements.append(captured)
        return cursors, statements
    finally:
        await db.dispose()


async def in_process(url: str, api_key: str, contact_id: str, cursors: list[str | None], n: int) -> list[float]:
    db = Database(url)
    try:
        actor = await orgs.authenticate(db, api_key)
        samples = []
        for i in range(10 + n):
            t0 = time.perf_counter()
            page = await timeline.for_record(UnitOfWork(db), actor, contacts.KIND, contact_id, limit=PAGE,
                                             cursor=cursors[i % len(cursors)])
            if i >= 10:
                samples.append(time.perf_counter() - t0)
            assert len(page.data) == PAGE
        return samples
    finally:
        await db.dispose()


def run_backend(backend: str, args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'timeline-bench.db'}"
    else:
        name = f"kith_bench_{secrets.token_hex(4)}"
        dbkit.pg_create_database(name)
        CLEANUP.pg_dbs.append(name)
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        creds = kith_init(url, workdir)
        org_id, user_id, contact_id = asyncio.run(make_contact(url, creds["api_key"]))
        scale = 10 if args.quick else 1
        secs = load(url, org_id, user_id, contact_id, events=EVENTS, acts=100 if args.quick else 300,
                    noise_events=30_000 // scale, noise_acts=3_000 // scale)
        log(f"[{backend}] loaded {EVENTS:,} events (+ noise) and activities in {secs:.1f}s")
        cursors, statements = uvloop_run(cursors_and_sql(url, creds["api_key"], contact_id))
        res: dict[str, Any] = {"raw": dbkit.time_queries(url, statements, args.n)}
        log(f"[{backend}] raw SQL p50 {pct(res['raw'], 0.5):.2f} ms")
        res["service"] = uvloop_run(in_process(url, creds["api_key"], contact_id, cursors, args.n))
        log(f"[{backend}] in-process p50 {pct(res['service'], 0.5):.2f} ms")
        port = free_port()
        proc = start_server([str(VENV_BIN / "kith"), "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)],
                            port, workdir / f"serve-{backend}.log")
        try:
            from urllib.parse import quote

            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {creds['api_key']}"}
            paths = [f"/api/v1/contacts/{contact_id}/timeline?limit={PAGE}" + (f"&cursor={quote(c)}" if c else "")
                     for c in cursors]
            res["http_first"], res["size"] = http_sequential(base, headers, paths[:1], args.n)
            res["http_deep"], _ = http_sequential(base, headers, paths[1:], args.n)
            res["http_all"] = res["http_first"] + res["http_deep"]
            res["http_floor"], _ = http_sequential(base, headers, ["/api/v1/notifications/unread-count"], args.n)
        finally:
            CLEANUP.stop(proc)
        log(f"[{backend}] HTTP first page p50 {pct(res['http_first'], 0.5):.2f} ms, "
            f"deep p50 {pct(res['http_deep'], 0.5):.2f} ms")
        res["plans"] = [dbkit.explain(url, sql, params) for sql, params in statements[1]]
        return res
    finally:
        if backend == "postgresql":
            CLEANUP.drop_pg(name)


def cell(samples: list[float] | None) -> str:
    if not samples:
        return "—"
    return f"{pct(samples, 0.50):.2f} / {pct(samples, 0.95):.2f}"


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    backends = list(results)
    head = "| timeline, 50 items, contact with 10,000 events — p50 / p95 ms | " + " | ".join(
        {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[b] for b in backends) + " |"
    lines = [head, "|---|" + "---|" * len(backends)]
    rows = [("HTTP `GET …/timeline`, first page", "http_first"),
            ("HTTP, deep pages (cursor ~1k / 5k / 9k items in)", "http_deep"),
            ("HTTP, all pages (aim: p95 ≤ 30 ms)", "http_all"),
            ("HTTP floor: `GET /api/v1/notifications/unread-count` (auth + one count)", "http_floor"),
            ("in-process `timeline.for_record` (all pages)", "service"),
            ("raw driver, the same two statements (all pages)", "raw")]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(cell(results[b].get(key)) for b in backends) + " |")
    verdict = ", ".join(f"{b}: {'met' if pct(results[b]['http_all'], 0.95) <= 30 else 'MISSED'}"
                        for b in backends if results[b].get("http_all"))
    lines.append("")
    lines.append(f"{args.n} requests per measure after 10 warm-up; one keep-alive connection; `kith serve` one "
                 f"uvicorn worker. Aim p95 ≤ 30 ms — {verdict}.")
    for b in backends:
        lines.append(f"\n{b} plans (a deep page):\n```\n" + "\n---\n".join(results[b]["plans"]) + "\n```")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="fewer requests and less noise (checks the script works)")
    args = ap.parse_args()
    args.n = 60 if args.quick else 400
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kith-timeline-bench-") as tmp:
        for backend in backends:
            results[backend] = run_backend(backend, args, Path(tmp), lambda s: print(s, file=sys.stderr, flush=True))
    print(table(results, args))


if __name__ == "__main__":
    main()
