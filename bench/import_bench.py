"""Import benchmark: `kith import contacts FILE.csv` rows/s against the raw driver's executemany of
the same rows into the same table, and the import process's peak RSS.

    .venv/bin/python bench/import_bench.py [--backend sqlite|postgresql|both] [--rows 100000]
    .venv/bin/python bench/import_bench.py --rows 1000000          # the full run (issue 6)

Per backend, on fresh migrated databases:
- import: a CSV of ``--rows`` realistic contacts (``dbkit.contact_rows``: name, first/last name,
  email, phone, title, stage, lead score) imported by ``kith import`` as a real process, with
  validation on (the API's schemas, custom fields, uniqueness, duplicates inside the file), in
  batches with progress and a before-image log; rows/s from the import's own started/finished
  times (process start-up excluded); peak RSS of that process.
- raw: the same rows (as Kith stores them) inserted by sqlite3 / psycopg ``executemany``, 2,000
  rows per transaction, into the migrated contacts table (same indexes, FTS triggers): the
  machine's ceiling for these rows, measured in the same run.
Aim (issue 6): import ≥ 50% of raw; a 1M-row import in bounded memory.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import dbkit  # bench/ is on sys.path when this file runs as a script
from kith.core import migrate
from kith.core.db import Database, sync_url
from kith.core.uow import UnitOfWork
from kith.orgs import service as orgs

KITH = [sys.executable, "-m", "kith.entrypoints.cli"]
CSV_COLUMNS = ("name", "first_name", "last_name", "email", "phone", "title", "stage", "source", "lead_score")
_IDX = {c: dbkit.COLUMNS.index(c) for c in CSV_COLUMNS}


def fresh_db(backend: str, tmp: Path, tag: str) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'{tag}.db'}"
    else:
        name = f"kith_bench_import_{tag}_{uuid.uuid4().hex[:8]}"
        dbkit.pg_create_database(name)
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    migrate.upgrade(url)
    return url


def drop_db(url: str) -> None:
    if dbkit.backend_of(url) == "postgresql":
        dbkit.pg_drop_database(url.rsplit("/", 1)[1])


async def make_org(url: str) -> tuple[str, str]:
    db = Database(url)
    try:
        res = await orgs.create_org(UnitOfWork(db), name="Bench", admin_email="bench@bench.test",
                                    admin_password="a long bench password")
        return res.org_id, res.user_id
    finally:
        await db.dispose()


def write_csv(rows: list[tuple[Any, ...]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(["" if r[_IDX[c]] is None else r[_IDX[c]] for c in CSV_COLUMNS])


# The import runs under this small wrapper, which reports its child's peak RSS: read from this
# process instead, RUSAGE_CHILDREN's peak would be this (large: it holds the rows) process's size,
# which a child has between fork and exec, and the largest of every child so far.
_PEAK_WRAPPER = ("import resource, subprocess, sys\n"
                 "code = subprocess.run(sys.argv[1:]).returncode\n"
                 "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
                 "sys.stderr.write('\\nKITH_PEAK_RSS_KB=%d\\n' % peak)\n"
                 "sys.exit(code)\n")


def run_import(url: str, path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "KITH_DATABASE_URL"}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = usage.ru_utime + usage.ru_stime
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *KITH, "import", "contacts", str(path), "--db", url],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {proc.stderr[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    rss_kb = int(proc.stderr.rsplit("KITH_PEAK_RSS_KB=", 1)[1].split()[0])
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as conn:
        started, finished, created, errors = conn.execute(sa.text(
            "SELECT started_at, finished_at, created, errors FROM imports")).one()
    engine.dispose()
    if isinstance(started, str):
        from datetime import datetime

        started, finished = datetime.fromisoformat(started), datetime.fromisoformat(finished)
    return {"seconds": (finished - started).total_seconds(), "wall": wall, "created": created, "errors": errors,
            "peak_rss_mb": rss_kb / 1024, "cpu_s": cpu}


def bench(backend: str, n: int, tmp: Path) -> dict[str, Any]:
    url_import = fresh_db(backend, tmp, "import")
    url_raw = fresh_db(backend, tmp, "raw")
    try:
        org_id, user_id = asyncio.run(make_org(url_import))
        raw_org, raw_user = asyncio.run(make_org(url_raw))
        rows = dbkit.contact_rows(backend, raw_org, raw_user, n, tag="import")
        path = tmp / f"contacts-{backend}.csv"
        write_csv(rows, path)
        load = [os.getloadavg()[0]]
        raw_s = dbkit.executemany(url_raw, rows, batch=2000)
        del rows
        load.append(os.getloadavg()[0])
        imp = run_import(url_import, path)
        load.append(os.getloadavg()[0])
        return {"backend": backend, "rows": n, "raw_rps": n / raw_s, "import_rps": imp["created"] / imp["seconds"],
                "load": load, **imp}
    finally:
        drop_db(url_import)
        drop_db(url_raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = []
    with tempfile.TemporaryDirectory(prefix="kith-import-bench-") as d:
        for backend in backends:
            print(f"[{backend}] {args.rows:,} rows…", file=sys.stderr, flush=True)
            results.append(bench(backend, args.rows, Path(d)))
    print(f"| measure ({args.rows:,} contacts) | " + " | ".join(r["backend"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    print("| raw driver executemany, 2,000 rows/transaction (rows/s) | "
          + " | ".join(f"{r['raw_rps']:,.0f}" for r in results) + " |")
    print("| `kith import contacts` with validation (rows/s) | "
          + " | ".join(f"{r['import_rps']:,.0f} ({r['import_rps'] / r['raw_rps']:.0%} of raw)" for r in results) + " |")
    print("| import process peak RSS (MB) | " + " | ".join(f"{r['peak_rss_mb']:,.0f}" for r in results) + " |")
    print("| import process CPU per row (µs, whole process incl. start-up) | "
          + " | ".join(f"{r['cpu_s'] / r['rows'] * 1e6:,.0f}" for r in results) + " |")
    print("| load average (1 min) before raw / before import / after | "
          + " | ".join(" / ".join(f"{x:.1f}" for x in r["load"]) for r in results) + " |")
    print("| rows created / refused | " + " | ".join(f"{r['created']:,} / {r['errors']:,}" for r in results) + " |")


if __name__ == "__main__":
    main()
