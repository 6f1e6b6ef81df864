"""Web app page latency at a generated org (issue 7: every page ≤ 150 ms server time at 100k contacts).

    .venv/bin/python bench/web_bench.py [--backend sqlite|postgresql|both] [--scale 0.1] [--runs 30]

Generates (or reuses) the org of ``bench/generate.py`` at ``--scale`` (0.1 = 100,000 contacts,
20,000 companies, 30,000 deals, 200,000 activities, 10,000 leads), starts ``kith serve --no-worker``
on it, logs in through the login form as the org's admin (cookie session), and times each page
``--runs`` times in sequence over loopback (one client, keep-alive): the time from sending the
request to the last byte, which is the server time plus a loopback round trip. Prints p50/p95 per
page against the 150 ms aim, and the bare ``GET /healthz`` as the floor of the same run.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dbkit  # noqa: E402
import generate  # noqa: E402
from leads_bench import serve, stop  # noqa: E402

AIM_MS = 150.0
DATA_DIR = Path.home() / ".cache" / "kith-bench"


def database_url(backend: str, scale: float, seed: int) -> str:
    tag = f"s{str(scale).replace('.', '_')}_{seed}"
    if backend == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DATA_DIR / f'kith-bench-{tag}.db'}"
    name = f"kith_bench_{tag}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            dbkit.pg_create_database(name)
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def login(client: httpx.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no login CSRF token on /login"
    resp = client.post("/login", data={"csrf_token": token.group(1), "email": generate.ADMIN_EMAIL,
                                       "password": "bench-password-not-secret", "next": "/"})
    assert resp.status_code in (200, 303), (resp.status_code, resp.text[:300])
    assert client.cookies.get("kith_session"), "login set no session cookie"


def first_id(client: httpx.Client, path: str) -> str:
    resp = client.get(path, params={"limit": 1})
    resp.raise_for_status()
    return str(resp.json()["data"][0]["id"])


def pages(client: httpx.Client) -> list[tuple[str, str]]:
    contact = first_id(client, "/api/v1/contacts")
    company = first_id(client, "/api/v1/companies")
    deal = first_id(client, "/api/v1/deals")
    lead = first_id(client, "/api/v1/leads")
    return [
        ("dashboard", "/"),
        ("contacts list", "/contacts"),
        ("contacts list, filter stage + sort", "/contacts?stage=customer&sort=-created_at"),
        ("contacts search 'smi'", "/contacts?q=smi"),
        ("contacts list, page 2", ""),  # filled below from the first page's cursor link
        ("contact page", f"/contacts/{contact}"),
        ("companies list", "/companies"),
        ("company page", f"/companies/{company}"),
        ("deals list", "/deals"),
        ("deal page", f"/deals/{deal}"),
        ("leads list", "/leads"),
        ("lead page", f"/leads/{lead}"),
        ("activities list", "/activities"),
        ("pipeline board", "/board"),
        ("admin: pipelines", "/admin/pipelines"),
        ("admin: users", "/admin/users"),
        ("admin: webhooks", "/admin/webhooks"),
    ]


def page_two(client: httpx.Client) -> str:
    html = client.get("/contacts").text
    found = re.search(r'href="(/contacts\?[^"]*cursor=[^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else "/contacts"


def time_page(client: httpx.Client, path: str, runs: int) -> tuple[float, float, int]:
    for _ in range(3):  # warm-up: caches, prepared statements, the planner's statistics
        client.get(path)
    times = []
    status = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        status = resp.status_code
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], status


def run(backend: str, scale: float, seed: int, runs: int) -> list[tuple[str, float, float, int]]:
    url = database_url(backend, scale, seed)
    info = generate.generate(url, scale, seed)
    print(f"[{backend}] org {info.get('org_id')}: {info.get('counts')}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="kith-web-bench-") as tmp:
        proc, base = serve(url, Path(tmp))
        try:
            with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
                login(client)
                out = [("GET /healthz (floor)", *time_page(client, "/healthz", runs))]
                for name, path in pages(client):
                    out.append((name, *time_page(client, path or page_two(client), runs)))
                return out
        finally:
            stop(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    contacts = int(generate.SIZES["contacts"] * args.scale)
    for backend in backends:
        rows = run(backend, args.scale, args.seed, args.runs)
        print(f"\n### Web pages, {backend}, {contacts:,} contacts ({args.runs} runs each; aim p95 ≤ {AIM_MS:.0f} ms)\n")
        print("| page | status | p50 ms | p95 ms | p95 / aim |")
        print("|---|---|---|---|---|")
        for name, p50, p95, status in rows:
            print(f"| {name} | {status} | {p50:.1f} | {p95:.1f} | {p95 / AIM_MS:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
