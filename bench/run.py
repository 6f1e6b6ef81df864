"""Kith's benchmark: where Kith stands against the limits of the machine, in one table.

    .venv/bin/python bench/run.py [--quick] [--backend sqlite|postgresql|both] [--rows 100000] [--search-rows 1000000]

Every figure in the table is measured in the same run, so the ratios between columns mean
something; absolute numbers move from run to run. See bench/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dbkit
import loadgen

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
BACKENDS = ("sqlite", "postgresql")
LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass
class Sizes:
    raw_bulk: int  # rows through executemany
    raw_single: int  # rows through one-row transactions
    service_seq: int  # create_contact calls, one after the other
    service_conc: int  # create_contact calls spread over `tasks` concurrent tasks
    tasks: int
    http_seconds: float
    http_warmup: float
    connections: int
    wrk_threads: int
    list_requests: int
    rows: int  # contacts in the org when the list is measured
    search_rows: int  # contacts in the org when search is measured
    search_requests: int  # per search measure, cycling through SEARCH_TERMS ...
    search_budget: float  # ... or until this many seconds are spent (slow searches must not stall the run)
    identify_calls: int  # in-process identify calls (new, then returning) and raw replays of each kind


def executing_engine(db: Any) -> Any:
    """The engine a unit of work's statements go through: on SQLite the inline synchronous one."""
    return db.sync_engine if getattr(db, "sync_engine", None) is not None else db.engine.sync_engine


def sizes(quick: bool, rows: int | None, search_rows: int | None = None) -> Sizes:
    if quick:
        return Sizes(raw_bulk=5_000, raw_single=300, service_seq=300, service_conc=300, tasks=32,
                     http_seconds=3, http_warmup=1, connections=32, wrk_threads=1, list_requests=60,
                     rows=rows or 10_000, search_rows=search_rows or 20_000, search_requests=50, search_budget=3,
                     identify_calls=100)
    return Sizes(raw_bulk=20_000, raw_single=2_000, service_seq=2_000, service_conc=2_000, tasks=32,
                 http_seconds=10, http_warmup=2, connections=32, wrk_threads=1, list_requests=300,
                 rows=rows or 100_000, search_rows=search_rows or 1_000_000, search_requests=300, search_budget=30,
                 identify_calls=1000)


# What the search rows look for, cycled (dbkit's word lists: realistic name frequencies, so a
# prefix hits about as many contacts as it would in a real CRM; the run reports how many).
SEARCH_TERMS = ("mar", "john", "garc", "john sm", "kowal")
IDENTIFY = "/api/v1/widget/identify"
# Widget calls are rate-limited per key (KITH_WIDGET_RATE, default 100/s): lifted for the benchmark.
UNLIMITED_WIDGET = {"KITH_WIDGET_RATE": "1000000000", "KITH_WIDGET_BURST": "1000000000"}


# ---- clean-up: servers, temp files, scratch databases -------------------------------------------

@dataclass
class Cleanup:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    pg_dbs: list[str] = field(default_factory=list)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (start_new_session)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc in self.procs:
            self.procs.remove(proc)

    def drop_pg(self, name: str) -> None:
        try:
            dbkit.pg_drop_database(name)
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning
            print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)
        if name in self.pg_dbs:
            self.pg_dbs.remove(name)

    def all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        for name in list(self.pg_dbs):
            self.drop_pg(name)
        for d in list(self.dirs):
            shutil.rmtree(d, ignore_errors=True)
            self.dirs.remove(d)


CLEANUP = Cleanup()
atexit.register(CLEANUP.all)


def _on_signal(signum: int, _frame: Any) -> None:
    # Our own handler for SIGINT too: asyncio.Runner then leaves it alone (its own handler only
    # cancels the main task, and a cancellation swallowed in a driver would let the run go on).
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


# ---- servers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})}, cwd=log.parent)
    CLEANUP.procs.append(proc)
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/healthz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    CLEANUP.stop(proc)
    raise RuntimeError(f"{cmd[0]} did not answer {url} within {timeout}s: {log.read_text()[-2000:]}")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(proc: subprocess.Popen[bytes], fn: Callable[[], loadgen.LoadResult]) -> loadgen.LoadResult:
    """Run a load and note the server's CPU per request: robust to other load on the machine,
    unlike req/s (the database server's own CPU, on PostgreSQL, is not included)."""
    try:
        c0 = proc_cpu(proc.pid)
    except OSError:
        return fn()
    result = fn()
    with contextlib.suppress(OSError):
        result.cpu_ms = (proc_cpu(proc.pid) - c0) * 1e3 / max(1, result.requests)
    return result


def uvloop_run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run in-process measures on the loop uvicorn uses (`loop="auto"` picks uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# ---- measures -----------------------------------------------------------------------------------

def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1e3


def p50_p99(samples: list[float]) -> str:
    return f"{pct(samples, 0.50):.2f} / {pct(samples, 0.99):.2f}"


def p50_p95(samples: list[float]) -> str:
    return f"{pct(samples, 0.50):.1f} / {pct(samples, 0.95):.1f}"


async def service_creates(url: str, api_key: str, tag: str, sz: Sizes) -> dict[str, Any]:
    from kith.contacts.schemas import ContactCreate
    from kith.contacts.service import create_contact
    from kith.core.db import Database
    from kith.core.uow import UnitOfWork
    from kith.orgs import service as orgs

    def cmd(kind: str, i: int) -> ContactCreate:
        return ContactCreate.model_validate({
            "name": f"Svc {i}", "first_name": "Svc", "last_name": f"User {i}",
            "email": f"{tag}-{kind}-{i}@example.com", "stage": "qualified", "source": "bench"})

    db = Database(url)
    try:
        actor = await orgs.authenticate(db, api_key)
        for i in range(20):  # warm-up: caches, pool, statement compilation
            await create_contact(UnitOfWork(db), actor, cmd("warm", i))
        seq = [cmd("seq", i) for i in range(sz.service_seq)]
        t0 = time.perf_counter()
        created = [(await create_contact(UnitOfWork(db), actor, c))["id"] for c in seq]
        seq_s = time.perf_counter() - t0

        conc = [cmd("conc", i) for i in range(sz.service_conc)]

        async def worker(chunk: list[ContactCreate]) -> None:
            for c in chunk:
                created.append((await create_contact(UnitOfWork(db), actor, c))["id"])

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(conc[i::sz.tasks]) for i in range(sz.tasks)))
        conc_s = time.perf_counter() - t0
    finally:
        await db.dispose()
    return {"seq": sz.service_seq / seq_s, "conc": sz.service_conc / conc_s, "ids": created}


async def service_identify(url: str, org_id: str, tag: str, sz: Sizes) -> dict[str, Any]:
    """``kith.visitors.service.identify`` in-process over ``sz.tasks`` concurrent tasks: new
    visitors (fresh visitor_id + email), then the same visitors again (returning). Also captures
    the SQL one call of each kind sends (to replay with the raw driver)."""
    from sqlalchemy import event

    from kith.core.db import Database
    from kith.visitors import service as widget
    from kith.visitors.schemas import IdentifyIn

    def cmd(kind: str, i: int) -> IdentifyIn:
        return IdentifyIn.model_validate({"visitor_id": f"sv-{tag}-{kind}-{i}",
                                          "email": f"{tag}-sv{kind}-{i}@example.com", "name": f"Visitor {i}"})

    db = Database(url)
    seen: list[tuple[str, Any, bool]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        seen.append((statement, params, many))

    async def run(cmds: list[IdentifyIn]) -> float:
        async def worker(chunk: list[IdentifyIn]) -> None:
            for c in chunk:
                await widget.identify(db, org_id, c)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(cmds[i::sz.tasks]) for i in range(sz.tasks)))
        return len(cmds) / (time.perf_counter() - t0)

    try:
        for i in range(20):  # warm-up
            await widget.identify(db, org_id, cmd("warm", i))
        probes = [cmd("probe", i) for i in range(sz.tasks)]
        event.listen(executing_engine(db), "before_cursor_execute", grab)
        new_sql: list[Any] = []
        for p in probes:  # new visitors
            await widget.identify(db, org_id, p)
            new_sql.append((list(seen), dbkit.fresh_values(seen, (p.visitor_id, p.email or ""))))
            seen.clear()
        ret_sql: list[Any] = []
        for p in probes:  # the same again: returning visitors (one template each: they update their own rows)
            await widget.identify(db, org_id, p)
            ret_sql.append((list(seen), dbkit.fresh_values(seen)))
            seen.clear()
        event.remove(executing_engine(db), "before_cursor_execute", grab)
        cmds = [cmd("conc", i) for i in range(sz.identify_calls)]
        new = await run(cmds)
        returning = await run(cmds)
    finally:
        await db.dispose()
    return {"new": new, "returning": returning, "new_sql": new_sql, "returning_sql": ret_sql}


def statement_count(captured: list[tuple[str, Any, bool]]) -> tuple[int, int]:
    """(statements, writes) in a captured transaction, BEGIN left out (COMMIT is not a statement)."""
    kinds = [sql.lstrip().split(None, 1)[0].upper() for sql, _, _ in captured]
    return sum(1 for k in kinds if k != "BEGIN"), sum(1 for k in kinds if k in {"INSERT", "UPDATE", "DELETE"})


async def service_search(url: str, api_key: str, terms: tuple[str, ...]) -> list[dict[str, Any]]:
    """For each term, the SQL Kith sends for `GET /api/v1/contacts?q=` (``list_contacts`` sorted by
    relevance, as the route does) and for `GET /api/v1/search?q=` (``search``: one statement per
    searchable type), captured with a ``before_cursor_execute`` hook, to replay with the raw driver."""
    from sqlalchemy import event

    from kith.contacts.service import list_contacts
    from kith.core.db import Database
    from kith.core.listing import ListQuery
    from kith.core.uow import UnitOfWork
    from kith.orgs import service as orgs
    from kith.search import service as search

    db = Database(url)
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    out: list[dict[str, Any]] = []
    try:
        actor = await orgs.authenticate(db, api_key)
        event.listen(executing_engine(db), "before_cursor_execute", grab)
        for term in terms:
            captured.clear()
            page = await list_contacts(UnitOfWork(db), actor, ListQuery(q=term, sort="relevance"))
            list_sql = list(captured)
            captured.clear()
            hits = await search.search(UnitOfWork(db), actor, term)
            out.append({"term": term, "list_sql": list_sql, "list_rows": len(page.data),
                        "search_sql": list(captured), "search_hits": len(hits.data)})
    finally:
        await db.dispose()
    return out


async def service_list(url: str, api_key: str, n: int) -> dict[str, Any]:
    """Time ``list_contacts`` in-process and capture the SQL it sends, to replay with the raw driver."""
    from sqlalchemy import event

    from kith.contacts.service import list_contacts
    from kith.core.db import Database
    from kith.core.listing import ListQuery
    from kith.core.uow import UnitOfWork
    from kith.orgs import service as orgs

    db = Database(url)
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if "FROM contacts" in statement and not captured:
            captured.append((statement, parameters))

    event.listen(executing_engine(db), "before_cursor_execute", grab)
    try:
        actor = await orgs.authenticate(db, api_key)
        query = ListQuery(sort="-created_at", filters={"stage": "qualified"})
        samples: list[float] = []
        rows = 0
        for i in range(10 + n):
            t0 = time.perf_counter()
            page = await list_contacts(UnitOfWork(db), actor, query)
            if i >= 10:
                samples.append(time.perf_counter() - t0)
            rows = len(page.data)
    finally:
        await db.dispose()
    statement, params = captured[0]
    return {"samples": samples, "rows": rows, "sql": statement, "params": params}


def http_sequential(base: str, headers: dict[str, str], paths: list[str], n: int, *, warmup: int = 10,
                    budget: float | None = None, min_n: int = 20) -> tuple[list[float], int]:
    """Sequential GETs cycling through ``paths`` on one keep-alive connection (stdlib http.client:
    little client overhead); ``warmup`` requests first; stops early once ``budget`` seconds of
    measuring are spent and at least ``min_n`` requests measured. Returns the seconds per
    request and the last response's size."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
    samples: list[float] = []
    size = 0
    start = time.perf_counter()
    try:
        for i in range(warmup + n):
            path = paths[i % len(paths)]
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                raise RuntimeError(f"GET {path} answered {resp.status}: {body[:300]!r}")
            if i >= warmup:
                samples.append(elapsed)
                if budget is not None and time.perf_counter() - start > budget and len(samples) >= min_n:
                    break
            else:
                start = time.perf_counter()
            size = len(body)
    finally:
        conn.close()
    return samples, size


def http_list(base: str, api_key: str, n: int) -> tuple[list[float], int]:
    return http_sequential(base, {"Authorization": f"Bearer {api_key}"},
                           ["/api/v1/contacts?stage=qualified&sort=-created_at"], n)


def per_term(samples: list[float], terms: int, warmup: int) -> list[list[float]]:
    """Split samples taken cycling through ``terms`` queries after ``warmup`` requests by term."""
    out: list[list[float]] = [[] for _ in range(terms)]
    for j, s in enumerate(samples):
        out[(warmup + j) % terms].append(s)
    return out


# ---- one backend --------------------------------------------------------------------------------

def kith_init(url: str, workdir: Path) -> dict[str, str]:
    out = subprocess.run([str(VENV_BIN / "kith"), "init", "--db", url, "--json", "--org", "Bench",
                          "--admin-email", "bench@example.com", "--admin-password", secrets.token_urlsafe(16)],
                         capture_output=True, text=True, check=True, cwd=workdir)
    creds: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return creds


def top_up(url: str, backend: str, org: str, owner: str, target: int, log: Callable[[str], None],
           seed: int = 1) -> None:
    """Bring the org to ``target`` contacts with the raw bulk path (``dbkit.bulk_load``: search
    index rebuilt after the load, PostgreSQL analyzed); creation times spread over a year."""
    have = dbkit.count_contacts(url, org)
    if have < target:
        t0 = time.perf_counter()
        chunks = dbkit.contact_row_chunks(backend, org, owner, target - have, spread_days=365, seed=seed)
        done = dbkit.bulk_load(url, chunks)
        log(f"[{backend}] bulk-loaded {done['rows']:,.0f} rows in {time.perf_counter() - t0:.1f}s "
            f"(insert {done['insert_s']:.1f}s = {done['rows'] / done['insert_s']:,.0f} rows/s; search index "
            f"rebuilt in {done['index_s']:.1f}s)")
    elif backend == "postgresql":
        dbkit.analyze(url)  # what autovacuum would have done by now; keeps the plan deterministic


def run_backend(backend: str, sz: Sizes, workdir: Path, use_wrk: bool, log: Callable[[str], None],
                res: dict[str, Any]) -> None:
    """Fill ``res`` as the measures complete (a failure part-way keeps what was measured)."""
    tag = secrets.token_hex(3)
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'kith-bench.db'}"
    else:
        name = f"kith_bench_{secrets.token_hex(4)}"
        CLEANUP.pg_dbs.append(name)  # registered first: a signal during CREATE DATABASE must not leak it
        dbkit.pg_create_database(name)
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        creds = kith_init(url, workdir)  # runs kith.core.migrate.upgrade(url), then creates org + admin + key
        org, owner, key = creds["org_id"], creds["user_id"], creds["api_key"]
        log(f"[{backend}] schema migrated, org {org}")

        # 1. raw driver inserts into the migrated schema
        rows = dbkit.contact_rows(backend, org, owner, sz.raw_bulk, f"{tag}-raw")
        secs = dbkit.executemany(url, rows)
        res["raw_bulk"] = sz.raw_bulk / secs
        rows = dbkit.contact_rows(backend, org, owner, sz.raw_single, f"{tag}-one")
        secs = dbkit.single_row_transactions(url, rows)
        res["raw_single"] = sz.raw_single / secs
        if backend == "postgresql":
            rows = dbkit.contact_rows(backend, org, owner, sz.raw_single, f"{tag}-rawconc")
            res["raw_single_conc"] = sz.raw_single / dbkit.pg_concurrent_single_row(url, rows, sz.tasks)
        else:
            res["raw_single_conc"] = None  # SQLite has one writer at a time: the sequential figure is the limit
        # The raw rows above filled a fresh table; Kith's own imports ANALYZE as they grow. Without it
        # PostgreSQL plans the create's lookups for an empty table: ~19 ms a create instead of ~3 ms.
        dbkit.analyze(url)
        log(f"[{backend}] raw executemany {res['raw_bulk']:,.0f} rows/s; single-row tx {res['raw_single']:,.0f}/s"
            + (f", {sz.tasks} connections {res['raw_single_conc']:,.0f}/s" if res["raw_single_conc"] else ""))

        # 2. service layer, in-process
        svc = uvloop_run(service_creates(url, key, tag, sz))
        res["svc_seq"], res["svc_conc"] = svc["seq"], svc["conc"]
        log(f"[{backend}] create_contact sequential {svc['seq']:,.0f}/s; {sz.tasks} tasks {svc['conc']:,.0f}/s")
        ident = uvloop_run(service_identify(url, org, tag, sz))
        res["svc_identify"] = {k: ident[k] for k in ("new", "returning")}
        res["identify_sql"] = {k: statement_count(ident[f"{k}_sql"][0][0]) for k in ("new", "returning")}
        res["raw_identify"] = {k: sz.identify_calls / dbkit.replay_transactions(
            url, ident[f"{k}_sql"], sz.identify_calls, connections=sz.tasks) for k in ("new", "returning")}
        log(f"[{backend}] identify in-process, {sz.tasks} tasks: new {ident['new']:,.0f}/s, returning "
            f"{ident['returning']:,.0f}/s; its SQL ({res['identify_sql']['new'][0]} / "
            f"{res['identify_sql']['returning'][0]} statements) replayed raw: {res['raw_identify']['new']:,.0f}/s "
            f"/ {res['raw_identify']['returning']:,.0f}/s")

        # 3. HTTP against `kith serve`
        port = free_port()
        server = start_server([str(VENV_BIN / "kith"), "serve", "--db", url, "--port", str(port)], port,
                              workdir / f"kith-serve-{backend}.log", env=UNLIMITED_WIDGET)
        try:
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            load = loadgen.LoadOpts(sz.connections, sz.wrk_threads, use_wrk)
            loadgen.post_load(base, "/api/v1/contacts", auth, f"{tag}-warm", seconds=sz.http_warmup, opts=load)
            res["http_post"] = measured(server, lambda: loadgen.post_load(
                base, "/api/v1/contacts", auth, f"{tag}-http", seconds=sz.http_seconds, opts=load))
            log(f"[{backend}] HTTP POST {res['http_post'].brief()}")
            paths = [f"/api/v1/contacts/{i}" for i in svc["ids"][:1000]]
            loadgen.get_load(base, paths, auth, seconds=sz.http_warmup, opts=load)
            res["http_get"] = measured(server, lambda: loadgen.get_load(
                base, paths, auth, seconds=sz.http_seconds, opts=load))
            log(f"[{backend}] HTTP GET {res['http_get'].brief()}")

            # 4. widget identify: new visitors, then visitors identified in the warm-up coming back
            widget = {"X-Kith-Widget-Key": creds["widget_key"], "Content-Type": "application/json",
                      "Origin": "https://www.example.com"}
            warm_tag = f"{tag}-iw"
            loadgen.post_load(base, IDENTIFY, widget, warm_tag, seconds=sz.http_warmup, opts=load,
                              template=loadgen.identify_template(warm_tag))
            res["identify_new"] = measured(server, lambda: loadgen.post_load(
                base, IDENTIFY, widget, f"{tag}-in", seconds=sz.http_seconds, opts=load,
                template=loadgen.identify_template(f"{tag}-in")))
            log(f"[{backend}] HTTP identify, new visitors {res['identify_new'].brief()}")
            bodies = dbkit.identify_bodies(url, org, f"v-{warm_tag}-", limit=1000)
            res["identify_returning_pool"] = len(bodies)
            loadgen.cycle_post_load(base, IDENTIFY, widget, bodies, seconds=sz.http_warmup, opts=load)
            res["identify_returning"] = measured(server, lambda: loadgen.cycle_post_load(
                base, IDENTIFY, widget, bodies, seconds=sz.http_seconds, opts=load))
            log(f"[{backend}] HTTP identify, returning visitors (cycling {len(bodies)}) "
                f"{res['identify_returning'].brief()}")

            # 5. the list at `rows` contacts: top up with raw executemany/COPY, then measure
            top_up(url, backend, org, owner, sz.rows, log)
            res["list_count"] = dbkit.count_contacts(url, org)
            lst = uvloop_run(service_list(url, key, sz.list_requests))
            res["svc_list"], res["list_rows"] = lst["samples"], lst["rows"]
            res["raw_list"] = dbkit.time_query(url, lst["sql"], lst["params"], sz.list_requests)
            res["plan"] = dbkit.explain(url, lst["sql"], lst["params"])
            res["sql"] = " ".join(lst["sql"].split())
            res["http_list"], res["list_bytes"] = http_list(base, key, sz.list_requests)
            log(f"[{backend}] list at {res['list_count']:,} contacts: HTTP {p50_p99(res['http_list'])} ms, "
                f"service {p50_p99(res['svc_list'])} ms, raw SQL {p50_p99(res['raw_list'])} ms")

            # 6. search at `search_rows` contacts: the list's `q=` and /search, beside the same SQL raw
            top_up(url, backend, org, owner, sz.search_rows, log, seed=2)
            res["search_count"] = dbkit.count_contacts(url, org)
            terms = uvloop_run(service_search(url, key, SEARCH_TERMS))
            for t in terms:
                # the page's statement is the one ending in LIMIT (the others: definitions, settings)
                counts = [n for n in (dbkit.count_matches(url, *q) for q in t["list_sql"]) if n is not None]
                t["matches"] = max(counts) if counts else None
            res["search_terms"] = terms
            warm = len(terms)  # one request per term; a multiple of the term count: sample j is term j % len(terms)
            bearer = {"Authorization": f"Bearer {key}"}
            for name, route, sql_key in (("search_list", "/api/v1/contacts?q=", "list_sql"),
                                         ("search", "/api/v1/search?q=", "search_sql")):
                res[f"raw_{name}"] = dbkit.time_queries(url, [t[sql_key] for t in terms], sz.search_requests,
                                                        warmup=warm, budget_s=sz.search_budget, min_n=2 * warm)
                res[f"http_{name}"], _ = http_sequential(
                    base, bearer, [route + urllib.parse.quote(t["term"]) for t in terms], sz.search_requests,
                    warmup=warm, budget=sz.search_budget, min_n=2 * warm)
            log(f"[{backend}] search at {res['search_count']:,} contacts (matches per term: "
                + ", ".join(f"{t['term']!r} " + (f"{t['matches']:,}" if t["matches"] is not None else "?")
                            for t in terms) + "): "
                f"list q= HTTP {p50_p95(res['http_search_list'])} ms, raw SQL {p50_p95(res['raw_search_list'])} ms; "
                f"/search HTTP {p50_p95(res['http_search'])} ms, raw SQL {p50_p95(res['raw_search'])} ms (p50 / p95)")
            first = terms[0]
            res["search_plan"] = [dbkit.explain(url, sql, params) for sql, params in first["list_sql"]]
            res["search_sql"] = [" ".join(sql.split()) for sql, _ in first["list_sql"]]
        finally:
            CLEANUP.stop(server)
    finally:
        if backend == "postgresql":
            CLEANUP.drop_pg(url.rsplit("/", 1)[1])


def run_bare(sz: Sizes, workdir: Path, use_wrk: bool, log: Callable[[str], None]) -> dict[str, Any]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "bare_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--loop", "auto", "--http", "auto", "--log-level", "warning", "--no-access-log"]
    server = start_server(cmd, port, workdir / "bare.log")
    res: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        hdrs = {"Content-Type": "application/json"}
        load = loadgen.LoadOpts(sz.connections, sz.wrk_threads, use_wrk)
        loadgen.post_load(base, "/items", hdrs, "bare-warm", seconds=sz.http_warmup, opts=load)
        res["http_post"] = measured(server, lambda: loadgen.post_load(
            base, "/items", hdrs, "bare", seconds=sz.http_seconds, opts=load))
        log(f"[bare FastAPI] POST {res['http_post'].brief()}")
        paths = [f"/items/contact_{i:026d}" for i in range(1000)]
        loadgen.get_load(base, paths, {}, seconds=sz.http_warmup, opts=load)
        res["http_get"] = measured(server, lambda: loadgen.get_load(
            base, paths, {}, seconds=sz.http_seconds, opts=load))
        log(f"[bare FastAPI] GET {res['http_get'].brief()}")
    finally:
        CLEANUP.stop(server)
    return res


# ---- the table ----------------------------------------------------------------------------------

def rps_cell(r: loadgen.LoadResult, bare: loadgen.LoadResult) -> str:
    return f"{r.rps:,.0f} (bare {bare.rps / r.rps:.1f}× faster)" + (f", {r.errors} errors" if r.errors else "")


def cpu_lat_cell(r: loadgen.LoadResult, bare: loadgen.LoadResult) -> str:
    return f"{r.cpu_ms:.2f} ({r.cpu_ms / bare.cpu_ms:.1f}× bare); {r.p50_ms:.1f} / {r.p99_ms:.1f}"


def lat_cell(samples: list[float], wanted: int) -> str:
    return p50_p95(samples) + (f" (n={len(samples)}: time budget)" if len(samples) < wanted else "")


def search_note(res: dict[str, dict[str, Any]]) -> str:
    """Which terms the search rows cycled through, and how many contacts each matches per backend."""
    per: dict[str, list[str]] = {}
    for b in BACKENDS:
        for t in res.get(b, {}).get("search_terms", []):
            per.setdefault(t["term"], []).append(
                f"{LABEL[b]} {t['matches']:,}" if t["matches"] is not None else f"{LABEL[b]} ?")
    if not per:
        return ""
    return ("Search terms, cycled (contacts each matches, i.e. ranked for one page): "
            + "; ".join(f"`{term}` ({', '.join(v)})" for term, v in per.items()) + ".")


def table(res: dict[str, dict[str, Any]], bare: dict[str, Any], sz: Sizes, tool: str) -> str:
    def cell(backend: str, fn: Callable[[dict[str, Any]], str]) -> str:
        r = res.get(backend)
        if r is None:
            return "—"
        try:
            return fn(r)
        except KeyError:
            return "failed"

    bp, bg = bare["http_post"], bare["http_get"]
    count = "/".join(f"{res[b]['list_count']:,}" for b in BACKENDS if b in res and "list_count" in res[b])
    scount = "/".join(f"{res[b]['search_count']:,}" for b in BACKENDS if b in res and "search_count" in res[b])
    lines = [
        ("Raw driver executemany into the migrated contacts table, 1,000 rows per commit (rows/s)",
         lambda r: f"{r['raw_bulk']:,.0f}",
         "RECIPES: SQLite 50–86k (unique index), PostgreSQL ~34k (all indexes)"),
        ("Raw driver, one INSERT + COMMIT per row (rows/s)",
         lambda r: f"{r['raw_single']:,.0f}",
         "RECIPES: ~8k / ~3.5k; the floor under one API create"),
        (f"Raw driver, one INSERT + COMMIT per row, {sz.tasks} concurrent connections (rows/s)",
         lambda r: f"{r['raw_single_conc']:,.0f}" if r["raw_single_conc"] else "= row above (one writer at a time)",
         "the floor under concurrent API creates (PostgreSQL groups concurrent commits into one WAL flush)"),
        ("Service `create_contact`, sequential, one transaction each (/s)",
         lambda r: f"{r['svc_seq']:,.0f} ({r['raw_single'] / r['svc_seq']:.1f}× below raw 1-row tx)",
         "raw one-row transactions (row above)"),
        (f"Service `create_contact`, {sz.tasks} concurrent tasks (/s)",
         lambda r: f"{r['svc_conc']:,.0f} ({(r['raw_single_conc'] or r['raw_single']) / r['svc_conc']:.1f}× below "
                   "raw concurrent 1-row tx)",
         "raw one-row transactions, concurrent"),
        (f"HTTP `POST /api/v1/contacts`, {sz.connections} connections (req/s)",
         lambda r: f"{r['http_post'].rps:,.0f} (bare {bp.rps / r['http_post'].rps:.1f}× faster)"
                   + (f", {r['http_post'].errors} errors" if r['http_post'].errors else ""),
         f"bare FastAPI POST, pydantic body: {bp.rps:,.0f} req/s (target: Kith within 3×)"),
        ("HTTP POST: server process CPU per request (ms)",
         lambda r: f"{r['http_post'].cpu_ms:.2f} ({r['http_post'].cpu_ms / bp.cpu_ms:.1f}× bare)",
         f"bare: {bp.cpu_ms:.2f} ms (robust to other load on the machine; excludes PostgreSQL's own CPU)"),
        ("HTTP POST latency p50 / p99 (ms)",
         lambda r: f"{r['http_post'].p50_ms:.1f} / {r['http_post'].p99_ms:.1f}",
         f"bare: {bp.p50_ms:.1f} / {bp.p99_ms:.1f}"),
        (f"HTTP `GET /api/v1/contacts/{{id}}`, {sz.connections} connections (req/s)",
         lambda r: f"{r['http_get'].rps:,.0f} (bare {bg.rps / r['http_get'].rps:.1f}× faster)"
                   + (f", {r['http_get'].errors} errors" if r['http_get'].errors else ""),
         f"bare FastAPI GET: {bg.rps:,.0f} req/s; RECIPES: FastAPI + raw async SQLite point read ~9.2k"),
        ("HTTP GET: server process CPU per request (ms)",
         lambda r: f"{r['http_get'].cpu_ms:.2f} ({r['http_get'].cpu_ms / bg.cpu_ms:.1f}× bare)",
         f"bare: {bg.cpu_ms:.2f} ms"),
        ("HTTP GET latency p50 / p99 (ms)",
         lambda r: f"{r['http_get'].p50_ms:.1f} / {r['http_get'].p99_ms:.1f}",
         f"bare: {bg.p50_ms:.1f} / {bg.p99_ms:.1f}"),
        ("Identify's own SQL (captured from one call) replayed through the raw driver, one transaction per "
         f"identify (SQLite one after the other, PostgreSQL over {sz.tasks} connections): new / returning "
         "visitors (/s)",
         lambda r: f"{r['raw_identify']['new']:,.0f} / {r['raw_identify']['returning']:,.0f} "
                   f"({r['identify_sql']['new'][0]} / {r['identify_sql']['returning'][0]} statements, "
                   f"{r['identify_sql']['new'][1]} / {r['identify_sql']['returning'][1]} writes per identify)",
         "the database's floor under one identify (fresh ids, emails and visitor_ids substituted per replay)"),
        (f"Service `identify` in-process, {sz.tasks} concurrent tasks: new / returning visitors (/s)",
         lambda r: f"{r['svc_identify']['new']:,.0f} / {r['svc_identify']['returning']:,.0f} "
                   f"({r['raw_identify']['new'] / r['svc_identify']['new']:.1f}× / "
                   f"{r['raw_identify']['returning'] / r['svc_identify']['returning']:.1f}× below the raw replay)",
         "the raw replay (row above)"),
        (f"HTTP `POST /api/v1/widget/identify`, new visitors (fresh visitor_id + email each), {sz.connections} "
         "connections (req/s)",
         lambda r: rps_cell(r["identify_new"], bp),
         f"**aim ≥ 1,000/s on SQLite**; bare FastAPI POST {bp.rps:,.0f} req/s"),
        ("HTTP identify, new visitors: server CPU per request (ms); latency p50 / p99 (ms)",
         lambda r: cpu_lat_cell(r["identify_new"], bp),
         f"bare POST: {bp.cpu_ms:.2f} ms; {bp.p50_ms:.1f} / {bp.p99_ms:.1f}"),
        (f"HTTP identify, returning visitors (the warm-up's visitors again, cycled), {sz.connections} "
         "connections (req/s)",
         lambda r: rps_cell(r["identify_returning"], bp) + f"; {r['identify_returning_pool']:,} visitors",
         f"**aim ≥ 1,000/s on SQLite**; bare FastAPI POST {bp.rps:,.0f} req/s"),
        ("HTTP identify, returning visitors: server CPU per request (ms); latency p50 / p99 (ms)",
         lambda r: cpu_lat_cell(r["identify_returning"], bp),
         f"bare POST: {bp.cpu_ms:.2f} ms; {bp.p50_ms:.1f} / {bp.p99_ms:.1f}"),
        (f"List `?stage=qualified&sort=-created_at` (50 rows) at {count} contacts, HTTP, sequential, p50 / p99 (ms)",
         lambda r: p50_p99(r["http_list"]),
         "target < 20 ms"),
        ("Same page, service `list_contacts` in-process, p50 / p99 (ms)",
         lambda r: p50_p99(r["svc_list"]),
         "—"),
        ("Same page, the same SQL through the raw driver, p50 / p99 (ms)",
         lambda r: p50_p99(r["raw_list"]),
         "RECIPES at 1M rows: page of 50 ~0.13 ms (SQLite) / ~0.4 ms (PostgreSQL)"),
        (f"Search `GET /api/v1/contacts?q=<prefix>` (50 rows, by relevance) at {scount} contacts, HTTP, "
         "sequential, p50 / p95 (ms)",
         lambda r: lat_cell(r["http_search_list"], sz.search_requests),
         "**aim p95 ≤ 50 ms at 1M contacts**; terms below the table"),
        ("Same query, the SQL Kith sent through the raw driver, p50 / p95 (ms)",
         lambda r: lat_cell(r["raw_search_list"], sz.search_requests),
         "RECIPES at 1M: SQLite FTS5 5-char prefix, FTS driving the join: ~2.5 ms p50, ~4 ms p99"),
        (f"Search `GET /api/v1/search?q=…` (contacts + companies, 20 hits) at {scount} contacts, HTTP, "
         "sequential, p50 / p95 (ms)",
         lambda r: lat_cell(r["http_search"], sz.search_requests),
         "**aim p95 ≤ 50 ms at 1M contacts**"),
        ("Same search, its SQL (one statement per record type) through the raw driver, p50 / p95 (ms)",
         lambda r: lat_cell(r["raw_search"], sz.search_requests),
         "—"),
    ]
    out = ["| measure | SQLite | PostgreSQL | limit/reference |", "|---|---|---|---|"]
    for label, fn, ref in lines:
        out.append(f"| {label} | {cell('sqlite', fn)} | {cell('postgresql', fn)} | {ref} |")
    return "\n".join(out)


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]), idle


def background_cpu(seconds: float = 2.0) -> float | None:
    """The share of all CPUs busy while this benchmark does nothing: other people's load."""
    try:
        t0, i0 = _cpu_times()
        time.sleep(seconds)
        t1, i1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def load_note(before: float | None, load0: str, load1: str) -> str:
    note = f"Background: {before:.0f}% of all CPUs busy before the run" if before is not None else "Background: n/a"
    note += f"; load average {load0} at start, {load1} at end."
    if before is not None and before > 15:
        note += " Other processes were using the CPU: absolute figures are depressed, compare ratios."
    return note


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def machine(tool: str, sz: Sizes) -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import fastapi
    import pydantic
    import sqlalchemy
    import uvicorn

    parts = [f"nproc {os.cpu_count()}" + (f" ({cpu})" if cpu else ""),
             f"Python {platform.python_version()}",
             f"SQLite {sqlite3.sqlite_version}",
             f"PostgreSQL {dbkit.pg_server_version() or 'n/a'}",
             f"FastAPI {fastapi.__version__}, pydantic {pydantic.__version__}, uvicorn {uvicorn.__version__}, "
             f"SQLAlchemy {sqlalchemy.__version__}",
             f"load: {tool}"]
    return "Machine: " + "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts: checks the script works (< 2 min)")
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--rows", type=int, default=None,
                    help="contacts in the org when the list is measured (default 100000; 10000 with --quick)")
    ap.add_argument("--search-rows", type=int, default=None,
                    help="contacts in the org when search is measured (default 1000000; 20000 with --quick)")
    ap.add_argument("--no-wrk", action="store_true", help="use the asyncio client even if wrk is installed")
    ap.add_argument("--details", action="store_true", help="also print the list SQL and its query plans")
    args = ap.parse_args(argv)

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    sz = sizes(args.quick, args.rows, args.search_rows)
    use_wrk = loadgen.wrk_available() and not args.no_wrk
    tool = (f"wrk -t{sz.wrk_threads} -c{sz.connections} -d{sz.http_seconds:g}s "
            "(Lua scripts: unique email / visitor per POST)"
            if use_wrk else f"asyncio HTTP/1.1 keep-alive client (not wrk), {sz.connections} connections, "
                    f"{sz.http_seconds:g}s")
    backends: tuple[str, ...] = BACKENDS if args.backend == "both" else (args.backend,)
    if "postgresql" in backends and dbkit.pg_server_version() is None:
        print("PostgreSQL is not reachable at 127.0.0.1:5432 (user postgres): skipping it", file=sys.stderr)
        backends = tuple(b for b in backends if b != "postgresql")

    load0, background = loadavg(), background_cpu()
    workdir = Path(tempfile.mkdtemp(prefix="kith-bench-"))
    CLEANUP.dirs.append(workdir)
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"{time.perf_counter() - started:6.1f}s  {msg}", file=sys.stderr, flush=True)

    log(f"load generator: {tool}; background CPU {background or 0:.0f}% busy, load average {load0}")
    bare = run_bare(sz, workdir, use_wrk, log)
    results: dict[str, dict[str, Any]] = {}
    failed = False
    for backend in backends:
        results[backend] = {}
        try:
            run_backend(backend, sz, workdir, use_wrk, log, results[backend])
        except Exception as exc:  # noqa: BLE001 - one failed backend still leaves the other's column
            log(f"[{backend}] FAILED: {exc!r}")
            failed = True
    print()
    print(table(results, bare, sz, tool))
    print()
    print(machine(tool, sz) + f" Whole run: {time.perf_counter() - started:.0f}s"
          + (" (--quick)" if args.quick else "") + ".")
    print(load_note(background, load0, loadavg()))
    print(search_note(results) + " Identify bodies: `{visitor_id, email, name}` with an `Origin` header; the "
          "widget rate limit (KITH_WIDGET_RATE, default 100/s per key) is lifted for the run.")
    if args.details:
        for backend, r in results.items():
            if "sql" in r:
                print(f"\n{LABEL[backend]} list SQL: {r['sql']}\nplan:\n{r['plan']}\n"
                      f"response: {r['list_bytes']:,} bytes for {r['list_rows']} rows")
            if "search_sql" in r:
                first = r["search_terms"][0]["term"]
                for sql, plan in zip(r["search_sql"], r["search_plan"], strict=True):
                    print(f"\n{LABEL[backend]} `?q={first}` SQL: {sql}\nplan:\n{plan}")
                n = len(SEARCH_TERMS)
                for name in ("http_search_list", "raw_search_list", "http_search", "raw_search"):
                    if name in r:
                        parts = per_term(r[name], n, n)
                        print(f"{LABEL[backend]} {name} p50 / p95 per term (ms): " + "; ".join(
                            f"{t}: {p50_p95(v)}" for t, v in zip(SEARCH_TERMS, parts, strict=True) if v))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
