"""The benchmark suite of issue 6: a generated org, then every figure beside its limit, measured in
the same run, as a ratio.

    .venv/bin/python bench/suite.py --quick                       # scale 0.01, both backends, ~3-4 min
    .venv/bin/python bench/suite.py [--scale 1] [--backend sqlite|postgresql|both] [--data-dir DIR]

Per backend: ``bench/generate.py`` builds (or, in full mode, finds and completes) the org; then
- import rows/s (``bench/import_bench.py`` when it exists, printed below the table; always the
  crud batch path: ``create_contact`` for 1,000 rows per transaction, models validated inside the
  clock) against raw ``executemany`` of the same rows into the same table;
- API create / get / list / search / identify requests/s from 32 concurrent connections against
  ``kith serve``, each against the bare framework (``bench/bare_app.py``) loaded the same way;
- list / search / timeline / analytics latency p50 / p95, sequential requests on one connection,
  against the bare framework's GET latency (the floor of one HTTP round trip here) and the aims;
- peak RSS of the server process and of the import process.

Output: one markdown table printed (SQLite and PostgreSQL side by side) and one file per backend,
``bench/results/<date>-<backend>.md``. See docs/benchmarks.md for what each figure means.

Full mode keeps the generated databases (SQLite file and PostgreSQL database ``kith_bench_s<scale>_<seed>``)
so a second run, or one interrupted during generation, reuses them; ``--quick`` works in a temporary
directory and a scratch PostgreSQL database dropped at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dbkit
import loadgen
import run
from run import CLEANUP, free_port, measured, pct, start_server

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
BACKENDS = ("sqlite", "postgresql")
LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
SEARCH_TERMS = ("mar", "john", "garc", "john sm", "kowal")
IDENTIFY = "/api/v1/widget/identify"
ANALYTICS = "/api/v1/analytics/pipeline"


@dataclass(frozen=True)
class Plan:
    scale: float
    seed: int
    warmup: float  # seconds of load before each measured load
    seconds: float  # seconds of each measured load
    connections: int
    samples: int  # sequential requests per latency figure
    budget: float  # at most this many seconds per latency figure
    import_rows: int  # the crud batch probe
    engine_rows: int  # bench/import_bench.py (kith import)
    quick: bool


def plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(args.scale or 0.01, args.seed, 1.0, 3.0, 32, 60, 3.0, 1_000, 5_000, True)
    return Plan(args.scale or 1.0, args.seed, 2.0, 10.0, 32, 300, 30.0, 100_000, 1_000_000, False)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    """The process's resident set size now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def http_json(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


# ---- the import probe: a child process, so its peak RSS is its own -----------------------------

def import_probe(url: str, org_id: str, owner: str, rows: int) -> dict[str, float]:
    """Raw executemany of ``rows`` contact rows, then the same people (fresh emails) through the
    crud batch path: ``create_contact`` 1,000 per transaction, models validated inside the clock."""
    backend = dbkit.backend_of(url)
    tag = secrets.token_hex(3)
    raw = dbkit.contact_rows(backend, org_id, owner, rows, f"raw-{tag}")
    raw_s = dbkit.executemany(url, raw)
    people = [dict(zip(dbkit.COLUMNS, r, strict=True)) for r in dbkit.contact_rows(backend, org_id, owner, rows,
                                                                                    f"imp-{tag}")]
    del raw
    fields = ("name", "first_name", "last_name", "email", "phone", "title", "stage", "source", "lead_score")
    bodies = [{k: p[k] for k in fields if p[k] is not None} for p in people]
    del people
    crud_s = run.uvloop_run(_crud_batches(url, org_id, bodies))
    return {"raw_rows_s": rows / raw_s, "import_rows_s": rows / crud_s, "rows": rows, "peak_rss_mb": peak_rss_mb()}


async def _crud_batches(url: str, org_id: str, bodies: list[dict[str, Any]]) -> float:
    from kith.auth.model import Actor
    from kith.contacts.schemas import ContactCreate
    from kith.contacts.service import create_contact
    from kith.core.db import Database
    from kith.core.uow import UnitOfWork

    db = Database(url)
    actor = Actor.system(org_id)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(bodies), 1000):
            uow = UnitOfWork(db)
            async with uow.transaction(write=True):
                for body in bodies[i:i + 1000]:
                    await create_contact(uow, actor, ContactCreate.model_validate(body))
        return time.perf_counter() - t0
    finally:
        await db.dispose()


def run_import_probe(url: str, org_id: str, owner: str, rows: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--_import-probe", json.dumps([url, org_id, owner, rows])],
                          capture_output=True, text=True, cwd=HERE, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"import probe failed: {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def run_import_bench(backend: str, rows: int) -> dict[str, Any] | None:
    """``bench/import_bench.py`` (the import engine's own benchmark, ``kith import`` as a process)
    when it exists: its table, and its figures when they can be read from it."""
    script = HERE / "import_bench.py"
    if not script.exists():
        return None
    proc = subprocess.run([sys.executable, str(script), "--backend", backend, "--rows", str(rows)],
                          capture_output=True, text=True, cwd=HERE, timeout=6 * 3600)
    if proc.returncode != 0:
        return {"text": f"failed ({proc.returncode}): {proc.stderr[-1500:]}"}
    out: dict[str, Any] = {"text": proc.stdout.strip(), "rows": rows}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        number = re.match(r"[\d,.]+", cells[-1]) if len(cells) >= 2 else None
        if number is None:
            continue
        value = float(number.group().replace(",", ""))
        if "executemany" in cells[0]:
            out["raw_rows_s"] = value
        elif "kith import" in cells[0]:
            out["import_rows_s"] = value
        elif "peak RSS" in cells[0]:
            out["peak_rss_mb"] = value
    return out


# ---- one backend --------------------------------------------------------------------------------

def database_url(backend: str, p: Plan, workdir: Path, data_dir: Path) -> str:
    tag = f"s{str(p.scale).replace('.', '_')}_{p.seed}"
    if backend == "sqlite":
        where = workdir if p.quick else data_dir
        where.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{where / f'kith-bench-{tag}.db'}"
    name = f"kith_suite_{secrets.token_hex(4)}" if p.quick else f"kith_bench_{tag}"
    if p.quick:
        CLEANUP.pg_dbs.append(name)  # dropped at exit
    if not _pg_exists(name):
        dbkit.pg_create_database(name)
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _pg_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(dbkit.PG_ADMIN, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def generate(url: str, p: Plan) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(HERE / "generate.py"), "--db", url, "--scale", str(p.scale),
                           "--seed", str(p.seed), "--json"], stdout=subprocess.PIPE, text=True, cwd=HERE)
    if proc.returncode != 0:
        raise RuntimeError("bench/generate.py failed (its log is above)")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def api_key(url: str, email: str) -> str:
    proc = subprocess.run([str(VENV_BIN / "kith"), "keys", "create", "--db", url, "--org", "Bench", "--user", email,
                           "--name", "bench"], capture_output=True, text=True, check=True)
    key: str = json.loads(proc.stdout.strip().splitlines()[-1])["key"]
    return key


def find_key(doc: Any, name: str) -> Any:
    if isinstance(doc, dict):
        if name in doc:
            return doc[name]
        for v in doc.values():
            found = find_key(v, name)
            if found is not None:
                return found
    return None


def sample_ids(url: str, org_id: str, n: int = 1000) -> list[str]:
    with dbkit.connect(url) as conn:
        mark = "?" if dbkit.backend_of(url) == "sqlite" else "%s"
        rows = conn.execute(f"SELECT id FROM contacts WHERE org_id = {mark} ORDER BY created_at DESC LIMIT {n}",
                            (org_id,)).fetchall()
    return [r[0] for r in rows]


def run_backend(backend: str, p: Plan, workdir: Path, data_dir: Path, use_wrk: bool, res: dict[str, Any]) -> None:
    url = database_url(backend, p, workdir, data_dir)
    t0 = time.perf_counter()
    gen = generate(url, p)
    res["generated"] = gen["counts"]
    res["generate_s"] = time.perf_counter() - t0
    log(f"[{backend}] org ready in {res['generate_s']:.0f}s: {gen['counts']}")
    org_id, key = gen["org_id"], api_key(url, gen["admin_email"])

    # 1. import: a second org, so the measured org keeps its size
    probe = subprocess.run([str(VENV_BIN / "kith"), "init", "--db", url, "--json", "--org",
                            f"Import probe {secrets.token_hex(3)}", "--admin-email", "probe@example.com",
                            "--admin-password", secrets.token_urlsafe(16)], capture_output=True, text=True, check=True)
    creds = json.loads(probe.stdout.strip().splitlines()[-1])
    res["import"] = run_import_probe(url, creds["org_id"], creds["user_id"], p.import_rows)
    log(f"[{backend}] import (crud batch path) {res['import']['import_rows_s']:,.0f} rows/s; raw executemany "
        f"{res['import']['raw_rows_s']:,.0f} rows/s; import process peak RSS {res['import']['peak_rss_mb']:.0f} MB")
    res["import_bench"] = run_import_bench(backend, p.engine_rows) if p.engine_rows else None
    if res["import_bench"] and "import_rows_s" in res["import_bench"]:
        ib = res["import_bench"]
        log(f"[{backend}] kith import {ib['import_rows_s']:,.0f} rows/s; raw {ib.get('raw_rows_s', 0):,.0f} rows/s")

    # 2. HTTP. First the worker's due work, as `kith worker --once`: on a freshly generated org the
    # daily jobs have never run (deal-rotting flags ~190,000 deals at full size), and the server's
    # embedded worker would do it during the measured loads; a live org did it earlier that day.
    t_once = time.perf_counter()
    subprocess.run([str(VENV_BIN / "kith"), "worker", "--once", "--db", url], capture_output=True, check=True)
    log(f"[{backend}] due jobs and events done before serving (`kith worker --once`, "
        f"{time.perf_counter() - t_once:.0f}s)")
    port = free_port()
    server = start_server([str(VENV_BIN / "kith"), "serve", "--db", url, "--port", str(port)], port,
                          workdir / f"kith-serve-{backend}.log", env=run.UNLIMITED_WIDGET)
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        res["rss_start_mb"] = rss_mb(server.pid)
        status, org = http_json("PATCH", f"{base}/api/v1/org", auth, {"rotate_widget_key": True})
        widget_key = find_key(org, "widget_key") if status == 200 else None
        load = loadgen.LoadOpts(p.connections, 1, use_wrk)
        ids = sample_ids(url, org_id)
        list_paths = ["/api/v1/contacts?stage=qualified&sort=-created_at", "/api/v1/contacts?stage=customer",
                      "/api/v1/companies?sort=name", "/api/v1/deals?status=open"]
        search_paths = [f"/api/v1/contacts?q={t.replace(' ', '+')}" for t in SEARCH_TERMS]
        loads: dict[str, Callable[[float], loadgen.LoadResult]] = {
            "create": lambda s: loadgen.post_load(base, "/api/v1/contacts", auth, f"c{secrets.token_hex(3)}",
                                                  seconds=s, opts=load),
            "get": lambda s: loadgen.get_load(base, [f"/api/v1/contacts/{i}" for i in ids], auth, seconds=s,
                                              opts=load),
            "list": lambda s: loadgen.get_load(base, list_paths, auth, seconds=s, opts=load),
            "search": lambda s: loadgen.get_load(base, search_paths, auth, seconds=s, opts=load),
        }
        if widget_key:
            widget = {"X-Kith-Widget-Key": widget_key, "Content-Type": "application/json",
                      "Origin": "https://www.example.com"}

            def identify(s: float) -> loadgen.LoadResult:
                tag = secrets.token_hex(3)  # new visitors every time
                return loadgen.post_load(base, IDENTIFY, widget, tag, seconds=s, opts=load,
                                         template=loadgen.identify_template(tag))
            loads["identify"] = identify
        res["rps"] = {}
        for name, fn in loads.items():
            fn(p.warmup)
            res["rps"][name] = measured(server, lambda fn=fn: fn(p.seconds))
            log(f"[{backend}] {name}: {res['rps'][name].brief()}")

        # 3. latency, sequential
        hdr = {"Authorization": f"Bearer {key}"}
        hot = gen["hot_contacts"][0]
        paths = {
            "list": ["/api/v1/contacts?stage=qualified&sort=-created_at", "/api/v1/contacts?stage=customer",
                     "/api/v1/deals?status=open", "/api/v1/activities?type=call"],
            "search": [f"/api/v1/contacts?q={t.replace(' ', '+')}" for t in SEARCH_TERMS],
            "search_all": [f"/api/v1/search?q={t.replace(' ', '+')}" for t in SEARCH_TERMS],
            "timeline": [f"/api/v1/contacts/{hot}/timeline"],
        }
        status, _ = http_json("GET", f"{base}{ANALYTICS}", hdr)
        if status == 200:
            paths["analytics"] = [ANALYTICS]
        else:
            log(f"[{backend}] {ANALYTICS} answered {status}: analytics n/a")
        res["latency"] = {}
        for name, ps in paths.items():
            samples, _ = run.http_sequential(base, hdr, ps, p.samples, warmup=len(ps), budget=p.budget)
            res["latency"][name] = samples
            log(f"[{backend}] {name} p50 {pct(samples, .5):.1f} ms, p95 {pct(samples, .95):.1f} ms (n={len(samples)})")
        res["rss_peak_mb"] = peak_rss_mb(server.pid)
    finally:
        CLEANUP.stop(server)


def run_bare(p: Plan, workdir: Path, use_wrk: bool) -> dict[str, Any]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "bare_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--loop", "auto", "--http", "auto", "--log-level", "warning", "--no-access-log"]
    server = start_server(cmd, port, workdir / "bare.log")
    res: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        hdrs = {"Content-Type": "application/json"}
        load = loadgen.LoadOpts(p.connections, 1, use_wrk)
        paths = [f"/items/contact_{i:026d}" for i in range(1000)]
        loadgen.post_load(base, "/items", hdrs, "bare-warm", seconds=p.warmup, opts=load)
        res["post"] = measured(server, lambda: loadgen.post_load(base, "/items", hdrs, "bare", seconds=p.seconds,
                                                                 opts=load))
        loadgen.get_load(base, paths, {}, seconds=p.warmup, opts=load)
        res["get"] = measured(server, lambda: loadgen.get_load(base, paths, {}, seconds=p.seconds, opts=load))
        res["latency"], _ = run.http_sequential(base, {}, paths, p.samples, warmup=10)
        log(f"[bare FastAPI] POST {res['post'].brief()}; GET {res['get'].brief()}; sequential GET p50 "
            f"{pct(res['latency'], .5):.2f} ms, p95 {pct(res['latency'], .95):.2f} ms")
    finally:
        CLEANUP.stop(server)
    return res


# ---- the table ----------------------------------------------------------------------------------

AIMS = {"import": "≥ 0.50 of raw", "list": "p95 ≤ 50 ms", "search": "p95 ≤ 50 ms", "search_all": "p95 ≤ 50 ms",
        "timeline": "p95 ≤ 30 ms (issue 4)", "analytics": "p95 ≤ 500 ms",
        "server_rss": "< 500 MB during a 1M-row import"}
RPS_AIMS = {"create": "≥ 0.33 of bare (issue 2)", "identify": "≥ 1,000/s on SQLite (issue 2)"}
RPS_ROWS = (("create", "post", "API create `POST /contacts`"), ("get", "get", "API get `GET /contacts/{id}`"),
            ("list", "get", "API list (contacts by stage, companies by name, open deals)"),
            ("search", "get", "API search `GET /contacts?q=`"),
            ("identify", "post", "API identify, new visitors `POST /widget/identify`"))
LAT_ROWS = (("list", "List p50 / p95 (ms): contacts by stage, deals, activities"),
            ("search", "Search p50 / p95 (ms): `/contacts?q=`"), ("search_all", "Search p50 / p95 (ms): `/search?q=`"),
            ("timeline", "Timeline p50 / p95 (ms): the contact with the most activities"),
            ("analytics", "Analytics p50 / p95 (ms): `/analytics/pipeline`"))


def cells(res: dict[str, Any], bare: dict[str, Any]) -> dict[str, str]:
    """One backend's column: each figure, then its ratio to its limit measured in the same run."""
    out: dict[str, str] = {}
    if "generated" in res:
        c = res["generated"]
        out["size"] = (f"{c['contacts']:,} contacts, {c['companies']:,} companies, {c['deals']:,} deals, "
                       f"{c['activities']:,} activities, {c['leads']:,} leads")
    imp = res.get("import")
    if imp:
        out["import"] = (f"{imp['import_rows_s']:,.0f} vs raw {imp['raw_rows_s']:,.0f} rows/s = "
                         f"**{imp['import_rows_s'] / imp['raw_rows_s']:.2f}**")
        out["import_rss"] = f"{imp['peak_rss_mb']:.0f} MB ({imp['rows']:,} rows)"
    eng = res.get("import_bench")
    if eng and "import_rows_s" in eng and "raw_rows_s" in eng:
        out["engine"] = (f"{eng['import_rows_s']:,.0f} vs raw {eng['raw_rows_s']:,.0f} rows/s = "
                         f"**{eng['import_rows_s'] / eng['raw_rows_s']:.2f}**")
        if "peak_rss_mb" in eng:
            out["engine_rss"] = f"{eng['peak_rss_mb']:.0f} MB ({eng['rows']:,} rows)"
    elif eng is not None:
        out["engine"] = "failed (see below)"
    for name, kind, _ in RPS_ROWS:
        r = res.get("rps", {}).get(name)
        if r is None:
            out[name] = "n/a" if "rps" in res else "failed"
            continue
        limit = bare[kind]
        err = f", {r.errors} errors" if r.errors else ""
        out[name] = f"{r.rps:,.0f} vs bare {limit.rps:,.0f} req/s = **{r.rps / limit.rps:.3f}**{err}"
    floor = pct(bare["latency"], 0.95)
    for name, _ in LAT_ROWS:
        samples = res.get("latency", {}).get(name)
        if samples is None:
            out[f"lat_{name}"] = "n/a" if "latency" in res else "failed"
            continue
        p95 = pct(samples, 0.95)
        out[f"lat_{name}"] = f"{pct(samples, 0.5):.1f} / {p95:.1f} = **{p95 / floor:.0f}× bare**"
    if "rss_peak_mb" in res:
        out["server_rss"] = f"{res['rss_peak_mb']:.0f} MB (at start {res['rss_start_mb']:.0f} MB)"
    return out


def table(results: dict[str, dict[str, Any]], bare: dict[str, Any]) -> str:
    backends = list(results)
    cols = {b: cells(results[b], bare) for b in backends}
    floor = f"bare GET p95 {pct(bare['latency'], 0.95):.2f} ms"
    rows = [("Generated org", "size", "—", "—"),
            ("Import, rows/s: `kith import contacts` (bench/import_bench.py) vs raw executemany, same rows",
             "engine", "raw driver executemany", AIMS["import"]),
            ("Import, rows/s: crud batch path (`create_contact`, 1,000 per transaction) vs raw executemany",
             "import", "raw driver executemany", "—"),
            *[(label, name, f"bare FastAPI {'POST' if kind == 'post' else 'GET'}, 32 connections",
               RPS_AIMS.get(name, "—")) for name, kind, label in RPS_ROWS],
            *[(label, f"lat_{name}", floor, AIMS[name]) for name, label in LAT_ROWS],
            ("Server peak RSS (during all of the above)", "server_rss", "—", AIMS["server_rss"]),
            ("`kith import` process peak RSS", "engine_rss", "—", "bounded (streamed, batched)"),
            ("Crud batch probe process peak RSS (holds its rows in memory)", "import_rss", "—", "—")]
    head = "| measure | " + " | ".join(LABEL[b] for b in backends) + " | limit (same run) | aim |"
    lines = [head, "|" + "---|" * (len(backends) + 3)]
    for label, key, limit, aim in rows:
        lines.append(f"| {label} | " + " | ".join(cols[b].get(key, "—") for b in backends) + f" | {limit} | {aim} |")
    return "\n".join(lines)


def footer(p: Plan, tool: str, load0: str, load1: str, seconds: float) -> str:
    mode = "quick" if p.quick else "full"
    return (f"Mode {mode}, scale {p.scale}, seed {p.seed}; load: {tool}, {p.connections} connections, "
            f"{p.warmup:.0f}s warm-up + {p.seconds:.0f}s per figure; latency: {p.samples} sequential requests "
            f"per figure (at most {p.budget:.0f}s). Machine: nproc {os.cpu_count()}, Python "
            f"{sys.version.split()[0]}; load average {load0} at start, {load1} at end. Whole run {seconds:.0f}s.")


def write_results(results: dict[str, dict[str, Any]], bare: dict[str, Any], note: str) -> list[Path]:
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    written = []
    for backend, res in results.items():
        path = out_dir / f"{stamp}-{backend}.md"
        eng = res.get("import_bench")
        extra = f"\n`bench/import_bench.py`:\n\n{eng['text']}\n" if eng else ""
        path.write_text(f"# Benchmark suite, {LABEL[backend]}, {stamp}\n\n{table({backend: res}, bare)}\n\n"
                        f"{note}\n{extra}")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale 0.01, short loads: the whole run in a few minutes")
    ap.add_argument("--scale", type=float, default=None, help="fraction of the default org (1M contacts)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "kith-bench", help="where full mode keeps its SQLite database between runs")
    ap.add_argument("--engine-rows", type=int, default=None,
                    help="rows for bench/import_bench.py (default: 1,000,000; 5,000 with --quick; 0 skips it)")
    ap.add_argument("--no-wrk", action="store_true", help="use the built-in asyncio client even if wrk is there")
    ap.add_argument("--_import-probe", dest="probe", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        url, org_id, owner, rows = json.loads(args.probe)
        print(json.dumps(import_probe(url, org_id, owner, rows)))
        return 0
    p = plan(args)
    if args.engine_rows is not None:
        p = dataclasses.replace(p, engine_rows=args.engine_rows)
    use_wrk = loadgen.wrk_available() and not args.no_wrk
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    if "postgresql" in backends and dbkit.pg_server_version() is None:
        log("PostgreSQL is not reachable at 127.0.0.1:5432: its column is left out")
        backends = tuple(b for b in backends if b != "postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="kith-bench-"))
    CLEANUP.dirs.append(workdir)
    load0, t0 = run.loadavg(), time.perf_counter()
    bare = run_bare(p, workdir, use_wrk)
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        results[backend] = {}
        try:
            run_backend(backend, p, workdir, args.data_dir, use_wrk, results[backend])
        except Exception as exc:  # noqa: BLE001 - keep what was measured, say what failed
            log(f"[{backend}] failed: {exc!r}")
    note = footer(p, "wrk" if use_wrk else "built-in asyncio client", load0, run.loadavg(), time.perf_counter() - t0)
    print(table(results, bare))
    print()
    print(note)
    for path in write_results(results, bare, note):
        log(f"wrote {path.relative_to(HERE.parent)}")
    for backend, res in results.items():
        if res.get("import_bench"):
            print(f"\n{LABEL[backend]}, bench/import_bench.py:\n{res['import_bench']['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
