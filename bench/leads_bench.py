"""Lead feed benchmark: batch upsert rows/s against the raw driver's executemany, in one table.

    .venv/bin/python bench/leads_bench.py [--backend sqlite|postgresql|both] [--quick]

Per backend, in one run on a fresh database (``kith init``):
- service, new keys: ``kith.leads.feed.upsert_batch`` in-process, batches of 1,000 leads, each
  with a new ``external_key`` and a new contact (matched by email, so created): leads + contacts
  + events + event refs written.
- service, new keys for known contacts: new leads whose people exist (matched by email).
- service, re-sent keys: the same leads again with a changed score: 1,000 updates per batch.
- HTTP, new keys / re-sent keys: the same through ``POST /api/v1/leads/batch`` on ``kith serve``
  (one uvicorn worker), one request after the other.
Service measures also print this process's CPU per lead (on a loaded machine rates drift; the
CPU per lead and the share of the raw rate measured in the same run are what compare).
- raw executemany: the driver alone inserting the same number of lead rows (sqlite3 /
  psycopg ``executemany``, one transaction per 1,000 rows) into the same table with the same
  indexes: the machine's ceiling for this table, measured in the same run.
Aim (issue 4): batch upsert ≥ 20,000 leads/s on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

import dbkit  # bench/ is on sys.path when this file runs as a script
from kith.auth.model import Actor
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.leads import feed
from kith.orgs import service as orgs

VENV_BIN = Path(sys.executable).parent
BATCH = 1000  # the feed's maximum batch


def lead_bodies(tag: str, start: int, n: int, score: int = 10, person: str | None = None) -> list[dict[str, Any]]:
    """Feed leads keyed ``<tag>-<i>``, for people ``<person or tag>.<i>@example.com``."""
    person = person or tag
    return [{"external_key": f"{tag}-{i}", "title": f"Listing {i}", "source": "scraper", "channel": "email",
             "source_url": f"https://listings.example.com/{tag}/{i}", "listing_ref": f"L{i}", "score": score,
             "payload": {"price": 1000 + i, "rooms": i % 5}, "contact": {"email": f"{person}.{i}@example.com",
                                                                         "name": f"Owner {i}"}}
            for i in range(start, start + n)]


def kith_init(url: str, workdir: Path) -> dict[str, str]:
    out = subprocess.run([str(VENV_BIN / "kith"), "init", "--db", url, "--json", "--org", "Bench",
                          "--admin-email", "bench@example.com", "--admin-password", secrets.token_urlsafe(16)],
                         capture_output=True, text=True, check=True, cwd=workdir)
    creds: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return creds


# --- in-process ----------------------------------------------------------------------------------

async def service_rate(url: str, creds: dict[str, str], batches: list[list[dict[str, Any]]]) -> float:
    db = Database(url)
    try:
        actor = await orgs.authenticate(db, creds["api_key"])
        assert isinstance(actor, Actor)
        n = sum(map(len, batches))
        t0, c0 = time.perf_counter(), time.process_time()
        for body in batches:
            out = await feed.upsert_batch(UnitOfWork(db), actor, body)
            assert out["failed"] == 0, out["results"][:3]
        rate = n / (time.perf_counter() - t0)
        # CPU of this process per lead (the driver's work included; PostgreSQL's server is not)
        print(f"    cpu {(time.process_time() - c0) / n * 1e6:,.0f} µs/lead", file=sys.stderr, flush=True)
        return rate
    finally:
        await db.dispose()


# --- HTTP ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen([str(VENV_BIN / "kith"), "serve", "--db", url, "--host", "127.0.0.1", "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "KITH_MAX_BODY_BYTES": str(64 * 1024 * 1024)}, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kith serve exited: {(workdir / 'serve.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError("kith serve did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def http_rate(base: str, key: str, batches: list[list[dict[str, Any]]]) -> float:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [orjson.dumps({"leads": b}) for b in batches]
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        t0 = time.perf_counter()
        for body in bodies:
            r = client.post("/api/v1/leads/batch", content=body)
            assert r.status_code == 200 and r.json()["failed"] == 0, r.text[:500]
        return sum(map(len, batches)) / (time.perf_counter() - t0)


# --- raw driver ----------------------------------------------------------------------------------

LEAD_COLUMNS = ("org_id", "id", "contact_id", "title", "source", "owner_id", "status", "score", "external_key",
                "source_url", "channel", "listing_ref", "payload", "created_at", "updated_at", "version")


def raw_rate(url: str, org_id: str, n: int) -> float:
    """The driver's executemany of ``n`` lead rows (contacts taken from the org), 1,000 per commit."""
    backend = dbkit.backend_of(url)
    with dbkit.connect(url) as conn:
        contact_ids = [r[0] for r in conn.execute("SELECT id FROM contacts WHERE org_id = %s LIMIT 1000"
                                                   .replace("%s", "?" if backend == "sqlite" else "%s"), (org_id,))]
        now = dbkit.clock.now()
        stamp = now.replace(tzinfo=None).isoformat(sep=" ") if backend == "sqlite" else now
        tag = secrets.token_hex(3)
        rows = [(org_id, f"lead_raw{tag}{i:012d}", contact_ids[i % len(contact_ids)], f"Listing {i}", "scraper", None,
                 "new", 10, f"raw-{tag}-{i}", f"https://listings.example.com/raw/{i}", "email", f"L{i}",
                 json.dumps({"price": 1000 + i, "rooms": i % 5}), stamp, stamp, 1) for i in range(n)]
        mark = "?" if backend == "sqlite" else "%s"
        marks = ", ".join(f"{mark}::jsonb" if c == "payload" and backend != "sqlite" else mark for c in LEAD_COLUMNS)
        sql = f"INSERT INTO leads ({', '.join(LEAD_COLUMNS)}) VALUES ({marks})"
        t0 = time.perf_counter()
        if backend == "sqlite":
            for i in range(0, n, BATCH):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows[i:i + BATCH])
                conn.execute("COMMIT")
        else:
            with conn.cursor() as cur:
                for i in range(0, n, BATCH):
                    cur.executemany(sql, rows[i:i + BATCH])
                    conn.commit()
        return n / (time.perf_counter() - t0)


# --- one backend ---------------------------------------------------------------------------------

def run_backend(backend: str, n: int, workdir: Path, log: Callable[[str], None]) -> dict[str, float]:
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'leads-bench.db'}"
    else:
        pg_name = f"kith_leads_bench_{secrets.token_hex(4)}"
        dbkit.pg_create_database(pg_name)
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    try:
        creds = kith_init(url, workdir)
        res: dict[str, float] = {}
        svc = [lead_bodies("svc", i, BATCH) for i in range(0, n, BATCH)]
        res["service_new"] = asyncio.run(service_rate(url, creds, svc))
        log(f"[{backend}] service, new keys: {res['service_new']:,.0f} leads/s")
        known = [lead_bodies("known", i, BATCH, person="svc") for i in range(0, n, BATCH)]
        res["service_known"] = asyncio.run(service_rate(url, creds, known))
        log(f"[{backend}] service, new keys, known contacts: {res['service_known']:,.0f} leads/s")
        resend = [lead_bodies("svc", i, BATCH, score=20) for i in range(0, n, BATCH)]
        res["service_resend"] = asyncio.run(service_rate(url, creds, resend))
        log(f"[{backend}] service, re-sent keys: {res['service_resend']:,.0f} leads/s")
        proc, base = serve(url, workdir)
        try:
            http = [lead_bodies("http", i, BATCH) for i in range(0, n, BATCH)]
            res["http_new"] = http_rate(base, creds["api_key"], http)
            log(f"[{backend}] HTTP, new keys: {res['http_new']:,.0f} leads/s")
            again = [lead_bodies("http", i, BATCH, score=20) for i in range(0, n, BATCH)]
            res["http_resend"] = http_rate(base, creds["api_key"], again)
            log(f"[{backend}] HTTP, re-sent keys: {res['http_resend']:,.0f} leads/s")
        finally:
            stop(proc)
        res["raw"] = raw_rate(url, creds["org_id"], n)
        log(f"[{backend}] raw executemany: {res['raw']:,.0f} rows/s")
        return res
    finally:
        if pg_name:
            dbkit.pg_drop_database(pg_name)


def table(results: dict[str, dict[str, float]], n: int) -> str:
    rows = [("service (in-process), new keys + new contacts", "service_new"),
            ("service (in-process), new keys, contacts matched by email", "service_known"),
            ("service (in-process), re-sent keys (updates)", "service_resend"),
            ("HTTP `POST /leads/batch`, new keys + new contacts", "http_new"),
            ("HTTP `POST /leads/batch`, re-sent keys (updates)", "http_resend"),
            ("raw driver executemany, lead rows only", "raw")]
    backends = list(results)
    out = [f"Lead batch upsert, {n:,} leads per measure in batches of {BATCH:,} (rows/s; in brackets: share of "
           "the raw executemany rate)", "",
           "| measure | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for label, key in rows:
        cells = []
        for b in backends:
            v, raw = results[b].get(key), results[b].get("raw")
            cells.append("—" if v is None else f"{v:,.0f}" + ("" if key == "raw" or not raw else f" ({v / raw:.0%})"))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="10,000 leads per measure instead of 50,000")
    args = ap.parse_args()
    n = 10_000 if args.quick else 50_000
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="kith-leads-bench-") as tmp:
        for backend in backends:
            results[backend] = run_backend(backend, n, Path(tmp), lambda s: print(s, file=sys.stderr, flush=True))
    print(table(results, n))


if __name__ == "__main__":
    main()
