"""Search latency at scale, standalone: p50 / p95 per term over HTTP (a real `kith serve`) and for
the same SQL through the raw driver, at 1M contacts by default.

    .venv/bin/python bench/search_bench.py --backend sqlite|postgresql [--rows 1000000] [--n 200]
                                           [--workdir DIR] [--plans]

The database is made once per ``--workdir`` (default ``./.search-bench``) and kept for the next
run: SQLite ``kith.db``; PostgreSQL database ``--pg-db`` (default ``kith_search_bench``; dropped
and made again when its credentials file is missing). ``kith init`` migrates it,
``dbkit.bulk_load`` tops the org up to ``--rows`` realistic contacts (seeded word lists: see
bench/README.md); a kept database is
migrated to head first, so it also exercises the migrations on 1M rows. Then for each term
(``bench/run.py``'s SEARCH_TERMS), `GET /api/v1/contacts?q=` (relevance, 50 rows) and
`GET /api/v1/search?q=` (contacts and companies, 20 hits) are sent sequentially over one
keep-alive connection, ``--n`` times each after 3 warm-up requests; the SQL Kith sends for the same
calls (captured in-process) is replayed through sqlite3 / psycopg (not prepared: custom plans).
``--plans`` prints each statement with its query plan.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from pathlib import Path

import dbkit
import run  # bench/run.py: its server, HTTP client and SQL capture (stops its servers at exit)


def p50_p95(samples: list[float]) -> str:
    if not samples:
        return "—"
    return f"{run.pct(samples, 0.5):.2f} / {run.pct(samples, 0.95):.2f}"


def prepare(backend: str, workdir: Path, rows: int, pg_name: str) -> tuple[str, dict[str, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    creds_file = workdir / f"creds-{backend}.json"
    if backend == "sqlite":
        url = f"sqlite:///{(workdir / 'kith.db').resolve()}"
    else:
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    if not creds_file.exists():
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                (workdir / f"kith.db{suffix}").unlink(missing_ok=True)
        else:
            dbkit.pg_drop_database(pg_name)
            dbkit.pg_create_database(pg_name)
        creds = run.kith_init(url, workdir)
        creds_file.write_text(json.dumps(creds))
    creds = json.loads(creds_file.read_text())
    from kith.core.migrate import upgrade

    t0 = time.perf_counter()
    upgrade(url)
    print(f"[{backend}] migrated to head in {time.perf_counter() - t0:.1f}s", flush=True)
    run.top_up(url, backend, creds["org_id"], creds["user_id"], rows, lambda m: print(m, flush=True), seed=2)
    return url, creds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--n", type=int, default=200, help="requests per term and measure")
    ap.add_argument("--workdir", type=Path, default=Path(".search-bench"))
    ap.add_argument("--pg-db", default="kith_search_bench", help="the PostgreSQL database kept between runs")
    ap.add_argument("--plans", action="store_true")
    args = ap.parse_args(argv)
    backend = args.backend
    url, creds = prepare(backend, args.workdir, args.rows, args.pg_db)
    count = dbkit.count_contacts(url, creds["org_id"])
    terms = run.uvloop_run(run.service_search(url, creds["api_key"], run.SEARCH_TERMS))
    port = run.free_port()
    log = (args.workdir / f"serve-{backend}.log").resolve()
    server = run.start_server([str(run.VENV_BIN / "kith"), "serve", "--db", url, "--port", str(port)], port, log)
    rows: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        bearer = {"Authorization": f"Bearer {creds['api_key']}"}
        for t in terms:
            term = t["term"]
            q = urllib.parse.quote(term)
            cells = [f"`{term}`", f"{t['list_rows']} / {t['search_hits']}",
                     f"{len(t['list_sql'])} / {len(t['search_sql'])}"]
            for route, sql_key in ((f"/api/v1/contacts?q={q}", "list_sql"), (f"/api/v1/search?q={q}", "search_sql")):
                http, _ = run.http_sequential(base, bearer, [route], args.n, warmup=3)
                raw = dbkit.time_queries(url, [t[sql_key]], args.n, warmup=3)
                cells += [p50_p95(http), p50_p95(raw)]
            rows.append("| " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
            if args.plans:
                for sql, params in t["list_sql"] + t["search_sql"]:
                    print(f"\n{' '.join(sql.split())}\n  params {params!r}\n  plan: "
                          + dbkit.explain(url, sql, params).replace("\n", "\n        "))
    finally:
        run.CLEANUP.stop(server)
    label = run.LABEL[backend]
    print(f"\n{label}, {count:,} contacts in the org; p50 / p95 in ms over {args.n} requests per cell")
    print("| term | rows (list / search) | statements (list / search) | list `q=` HTTP | list raw SQL "
          "| `/search` HTTP | `/search` raw SQL |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
