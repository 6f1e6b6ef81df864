"""A realistic org, generated deterministically and loaded with the raw driver.

    .venv/bin/python bench/generate.py --db URL [--scale 1.0] [--seed 1] [--json]

Default size (``--scale 1``): 1,000,000 contacts, 200,000 companies, 300,000 deals, 2,000,000
activities, 100,000 leads, owned by ~50 sales reps under 5 managers; ``--scale 0.01`` is a hundredth.
Each deal also gets the stage history the live system keeps for analytics (``kith.analytics.moves``):
its ``deal_stage_moves`` rows (a creation row, then one per move along the open stages up to where
it stands, and into its won/lost stage if closed) and its ``stages_reached``.
The same ``--seed`` and scale give the same records (ids, names, emails, amounts, times: everything
but the org's and users' own ids, which ``kith init`` draws): every table has its own seeded random
stream and all times count back from a fixed anchor (2026-11-30 UTC), never from the clock.

How it loads (RECIPES: build search after the load): the org, its users and its pipeline come from
Kith itself (``kith init``, ``create_user``); the records go in through the raw driver, SQLite
``executemany`` (5,000 rows per commit) with the FTS5 triggers of contacts and companies dropped and
the FTS tables rebuilt afterwards, PostgreSQL ``COPY`` with the full-text and trigram indexes dropped
and recreated afterwards, then ``ANALYZE``.

Resumable: a table already holding its target count for the org is skipped; one left part-way (a
run interrupted) is emptied and loaded again; the org is found by name ("Bench") on a second run.
So a full run interrupted after the contacts picks up at the companies.

``--json`` prints ``{org_id, admin_email, counts, seconds, digest}``: ``digest`` is a SHA-256 over
the generated records' own fields in id order (not the org/user/stage ids Kith drew), equal for
equal seeds — what tests/integration/test_bench_smoke.py checks.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dbkit
from kith.analytics.moves import join_stages
from kith.core import clock

ANCHOR = datetime(2026, 11, 30, tzinfo=UTC)  # "now" of every generated record: fixed, so runs repeat
SIZES = {"contacts": 1_000_000, "companies": 200_000, "deals": 300_000, "activities": 2_000_000,
         "leads": 100_000}
ORG_NAME = "Bench"
ADMIN_EMAIL = "bench@example.com"
CHUNK = 20_000  # rows generated (and, on PostgreSQL, COPYed and committed) at a time
VENV_BIN = Path(sys.executable).parent

INDUSTRIES = ("Software", "Retail", "Healthcare", "Finance", "Manufacturing", "Education", "Logistics",
              "Media", "Real Estate", "Energy", "Hospitality", "Consulting")
COUNTRIES = (("US", ("New York", "Austin", "Seattle", "Boston", "Chicago")), ("GB", ("London", "Leeds")),
             ("DE", ("Berlin", "Munich")), ("FR", ("Paris", "Lyon")), ("ES", ("Madrid", "Barcelona")),
             ("PL", ("Warsaw", "Krakow")), ("IN", ("Bangalore", "Pune")), ("BR", ("Sao Paulo",)))
SUFFIXES = ("Inc", "Labs", "Group", "Systems", "Partners", "Co", "Ltd", "GmbH", "Solutions", "Works")
COMPANY_STAGES = ("Lead", "Qualified", "Opportunity", "Customer", "Churned")
ACTIVITY_TYPES = ("call", "email", "meeting", "note", "task", "demo", "sms", "chat")
ACTIVITY_WEIGHTS = (22, 35, 10, 12, 12, 3, 3, 3)
SUBJECTS = {"call": "Call with {}", "email": "Re: proposal for {}", "meeting": "Meeting: {}", "note": "Note on {}",
            "task": "Follow up with {}", "demo": "Product demo for {}", "sms": "SMS to {}", "chat": "Chat with {}"}
CHANNELS = {"call": "phone", "email": "email", "meeting": "in_person", "sms": "sms", "chat": "chat",
            "demo": "video"}
LOST_REASONS = ("Price", "Went with a competitor", "No budget", "Timing", "No decision")
LEAD_SOURCES = ("website", "referral", "ads", "event", "partner", "outbound")
LEAD_STATUSES = (("new", 40), ("contacted", 30), ("qualified", 15), ("disqualified", 15))
HOT_CONTACTS = 20  # key accounts: 5% of all activities land on these (a long timeline to page through)


@dataclass
class Org:
    url: str
    backend: str
    org_id: str
    admin_id: str
    owners: list[str]  # sales reps and managers, in a fixed order (by email)
    pipeline_id: str
    stages: list[dict[str, Any]]  # the default deal pipeline's stages by position


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def targets(scale: float) -> dict[str, int]:
    return {k: max(1, round(v * scale)) for k, v in SIZES.items()}


def stream(seed: int, table: str) -> random.Random:
    """Each table its own random stream: skipping a table on resume leaves the others unchanged."""
    return random.Random(f"{seed}:{table}")


# ---- values as each backend stores them --------------------------------------------------------

def ts(backend: str, at: datetime | None) -> Any:
    if at is None:
        return None
    return at.replace(tzinfo=None).isoformat(" ", "microseconds") if backend == "sqlite" else at


def day(backend: str, d: date | None) -> Any:
    return None if d is None else d.isoformat() if backend == "sqlite" else d


def flag(backend: str, v: bool) -> Any:
    return int(v) if backend == "sqlite" else v


def spread(rnd: random.Random, n: int, days: float) -> list[datetime]:
    """``n`` creation times over ``days`` before the anchor, oldest first (as real data arrives)."""
    return [ANCHOR - timedelta(days=a) for a in sorted((rnd.random() * days for _ in range(n)), reverse=True)]


# ---- the org ------------------------------------------------------------------------------------

def find_or_create_org(url: str, scale: float) -> Org:
    backend = dbkit.backend_of(url)
    found = _org_row(url)
    if found is None:
        subprocess.run([str(VENV_BIN / "kith"), "init", "--db", url, "--json", "--org", ORG_NAME,
                        "--admin-email", ADMIN_EMAIL, "--admin-password", "bench-password-not-secret"],
                       capture_output=True, text=True, check=True)
        found = _org_row(url)
        assert found is not None
    org_id, admin_id = found
    reps = max(4, round(50 * scale))
    asyncio.run(_add_users(url, org_id, reps))
    with dbkit.connect(url) as conn:
        owners = [r[0] for r in conn.execute(
            _q(backend, "SELECT id FROM users WHERE org_id = ? AND (email LIKE ? OR email LIKE ?) ORDER BY email"),
            (org_id, "rep%@bench.example", "manager%@bench.example"))]
        pipeline_id = conn.execute(_q(backend, "SELECT id FROM pipelines WHERE org_id = ? AND kind = 'deal' "
                                               "AND is_default = ?"), (org_id, flag(backend, True))).fetchone()[0]
        stages = [dict(zip(("id", "name", "probability", "outcome"), r, strict=True)) for r in conn.execute(
            _q(backend, "SELECT id, name, probability, outcome FROM stages WHERE org_id = ? AND pipeline_id = ? "
                        "ORDER BY position"), (org_id, pipeline_id))]
    return Org(url, backend, org_id, admin_id, owners, pipeline_id, stages)


def _q(backend: str, sql: str) -> str:
    return sql if backend == "sqlite" else sql.replace("?", "%s")


def _org_row(url: str) -> tuple[str, str] | None:
    backend = dbkit.backend_of(url)
    try:
        with dbkit.connect(url) as conn:
            row = conn.execute(_q(backend, "SELECT o.id, u.id FROM orgs o JOIN users u ON u.org_id = o.id "
                                           "WHERE o.name = ? AND u.email = ?"), (ORG_NAME, ADMIN_EMAIL)).fetchone()
    except Exception:  # noqa: BLE001 - no schema yet: kith init creates it
        return None
    return (row[0], row[1]) if row else None


async def _add_users(url: str, org_id: str, reps: int) -> None:
    """``reps`` sales reps in teams of ten under a sales manager each (idempotent by email)."""
    from kith.auth.model import Actor
    from kith.core.db import Database
    from kith.core.errors import Conflict
    from kith.core.uow import UnitOfWork
    from kith.orgs import service as orgs
    from kith.orgs.schemas import UserCreate

    db = Database(url)
    system = Actor.system(org_id)
    try:
        existing = {u["email"]: u["id"] for u in await orgs.list_users(UnitOfWork(db), system)}
        managers: list[str] = []
        for m in range((reps + 9) // 10):
            email = f"manager{m:02d}@bench.example"
            if email not in existing:
                existing[email] = (await orgs.create_user(UnitOfWork(db), system, UserCreate(
                    email=email, name=f"Manager {m:02d}", roles=["sales-manager"])))["id"]
            managers.append(existing[email])
        for i in range(reps):
            email = f"rep{i:03d}@bench.example"
            if email in existing:
                continue
            try:
                await orgs.create_user(UnitOfWork(db), system, UserCreate(
                    email=email, name=f"Rep {i:03d}", roles=["sales-rep"], manager_id=managers[i // 10]))
            except Conflict:
                pass
    finally:
        await db.dispose()


# ---- loading ------------------------------------------------------------------------------------

def count(url: str, table: str, org_id: str) -> int:
    with dbkit.connect(url) as conn:
        return int(conn.execute(_q(dbkit.backend_of(url), f"SELECT COUNT(*) FROM {table} WHERE org_id = ?"),
                                (org_id,)).fetchone()[0])


def empty(url: str, tables: Sequence[str], org_id: str) -> None:
    with dbkit.connect(url) as conn:
        for t in tables:
            conn.execute(_q(dbkit.backend_of(url), f"DELETE FROM {t} WHERE org_id = ?"), (org_id,))
        if dbkit.backend_of(url) == "postgresql":
            conn.commit()


def contact_chunks(org: Org, n: int, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """``dbkit``'s realistic people (names, emails, titles, phones), owned by the reps, created
    over two years before the anchor."""
    dbkit._EMAILS.pop(org.org_id, None)  # the email book counts repeats per org: start it afresh
    owner_at = dbkit.COLUMNS.index("owner_id")
    rnd = stream(seed, "contact-owners")
    with clock.frozen(ANCHOR):
        for rows in dbkit.contact_row_chunks(org.backend, org.org_id, org.owners[0], n, spread_days=730,
                                             seed=int(hashlib.sha256(f"{seed}:contacts".encode()).hexdigest(), 16)
                                             % 2**32, chunk=CHUNK):
            yield [(*r[:owner_at], rnd.choice(org.owners), *r[owner_at + 1:]) for r in rows]


COMPANY_COLUMNS = ("org_id", "id", "name", "external_id", "domain", "industry", "stage", "owner_id", "metadata",
                   "custom_fields", "tags", "is_placeholder", "employee_count", "country", "city", "website",
                   "created_at", "updated_at", "version")


def company_chunks(org: Org, n: int, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    rnd, b = stream(seed, "companies"), org.backend
    seen: dict[str, int] = {}
    times = spread(rnd, n, 1095)
    for start in range(0, n, CHUNK):
        rows = []
        for i, at in enumerate(times[start:start + CHUNK], start):
            word = rnd.choice(dbkit.COMPANY_WORDS)
            second = rnd.choice(dbkit.LAST_NAMES) if rnd.random() < 0.5 else ""
            base = dbkit.ascii_word(f"{word}{second}")
            k = seen.get(base, 0)
            seen[base] = k + 1
            slug = base if k == 0 else f"{base}{k}"
            name = f"{word.title()} {second + ' ' if second else ''}{rnd.choice(SUFFIXES)}"
            country, cities = rnd.choice(COUNTRIES)
            tld = ".com" if country == "US" else rnd.choice((".com", ".io", f".{country.lower()}"))
            rows.append((org.org_id, dbkit.fast_id("company", at, rnd), name, f"acct-{i:07d}", f"{slug}{tld}",
                         rnd.choice(INDUSTRIES), rnd.choices(COMPANY_STAGES, (30, 20, 15, 30, 5))[0],
                         rnd.choice(org.owners), "{}", "{}", "[]", flag(b, False),
                         int(10 ** (1 + rnd.random() * 4)), country, rnd.choice(cities), f"https://{slug}{tld}",
                         ts(b, at), ts(b, at), 1))
        yield rows


LINK_COLUMNS = ("org_id", "contact_id", "company_id", "is_primary", "role", "title", "created_at")


def link_chunks(org: Org, contacts: Sequence[str], companies: Sequence[str], seed: int
                ) -> Iterator[list[tuple[Any, ...]]]:
    """60% of contacts work at one of the companies (their primary link)."""
    rnd, b = stream(seed, "links"), org.backend
    at = ts(b, ANCHOR - timedelta(days=30))
    rows: list[tuple[Any, ...]] = []
    for cid in contacts:
        if rnd.random() < 0.6:
            rows.append((org.org_id, cid, rnd.choice(companies), flag(b, True),
                         "Decision maker" if rnd.random() < 0.2 else None, None, at))
            if len(rows) == CHUNK:
                yield rows
                rows = []
    if rows:
        yield rows


DEAL_COLUMNS = ("org_id", "id", "title", "contact_id", "company_id", "pipeline_id", "stage_id", "owner_id", "amount",
                "currency", "expected_close_date", "status", "probability", "probability_override", "lost_reason",
                "won_at", "lost_at", "closed_at", "stage_changed_at", "tags", "metadata", "custom_fields",
                "created_at", "updated_at", "version")


def deal_chunks(org: Org, n: int, contacts: Sequence[str], companies: Sequence[str], seed: int
                ) -> Iterator[list[tuple[Any, ...]]]:
    """70% open (spread over the open stages), 15% won, 12% lost, 3% abandoned; amounts log-uniform
    from 500 to 500,000 USD."""
    rnd, b = stream(seed, "deals"), org.backend
    open_stages = [s for s in org.stages if s["outcome"] is None]
    won = next(s for s in org.stages if s["outcome"] == "won")
    lost = next(s for s in org.stages if s["outcome"] == "lost")
    times = spread(rnd, n, 730)
    for start in range(0, n, CHUNK):
        rows = []
        for at in times[start:start + CHUNK]:
            x = rnd.random()
            status, stage = ("open", rnd.choice(open_stages)) if x < 0.70 else ("won", won) if x < 0.85 else \
                ("lost", lost) if x < 0.97 else ("abandoned", rnd.choice(open_stages))
            closed = at + timedelta(days=rnd.random() * 90) if status != "open" else None
            closed = min(closed, ANCHOR) if closed else None
            company = rnd.choice(companies)
            amount = int(10 ** (2.7 + rnd.random() * 3)) * 100  # minor units
            close_date = (at + timedelta(days=15 + rnd.random() * 150)).date()
            rows.append((org.org_id, dbkit.fast_id("deal", at, rnd), f"{rnd.choice(dbkit.TITLES)} seats",
                         rnd.choice(contacts), company, org.pipeline_id, stage["id"], rnd.choice(org.owners), amount,
                         "USD", day(b, close_date), status, stage["probability"], flag(b, False),
                         rnd.choice(LOST_REASONS) if status == "lost" else None,
                         ts(b, closed) if status == "won" else None, ts(b, closed) if status == "lost" else None,
                         ts(b, closed), ts(b, closed or at), "[]", "{}", "{}", ts(b, at), ts(b, closed or at), 1))
        yield rows


MOVE_COLUMNS = ("org_id", "id", "deal_id", "pipeline_id", "from_stage_id", "to_stage_id", "moved_at", "owner_id",
                "deal_created_at")


def _as_time(v: Any) -> datetime:
    """A timestamp read back from either backend (SQLite hands back text)."""
    return v if isinstance(v, datetime) else datetime.fromisoformat(v).replace(tzinfo=UTC)


def deal_histories(org: Org, seed: int) -> Iterator[tuple[tuple[Any, ...], list[str], list[datetime]]]:
    """Per generated deal (id order): its row (id, stage_id, status, owner_id, created_at, closed_at)
    as stored, the stages it went through (the first its creation stage, the last its current one)
    and when it entered each. Open and abandoned deals came up the open stages to where they stand;
    won and lost ones up to a random open stage, then into their outcome stage. Most start in the
    first open stage, the rest further in; the moves fall between creation and closing, the last
    one at closing (open deals: within 120 days, before the anchor). Its own random stream: the
    deals' rows are untouched."""
    rnd = stream(seed, "deal_stage_moves")
    open_ids = [s["id"] for s in org.stages if s["outcome"] is None]
    where = {sid: i for i, sid in enumerate(open_ids)}
    with dbkit.connect(org.url) as conn:
        deals = list(conn.execute(_q(org.backend, "SELECT id, stage_id, status, owner_id, created_at, closed_at "
                                                  "FROM deals WHERE org_id = ? ORDER BY id"), (org.org_id,)))
    for row in deals:
        _, stage_id, status, _, created, closed = row
        top = where[stage_id] if stage_id in where else rnd.randrange(len(open_ids))
        first = 0 if rnd.random() < 0.8 else rnd.randint(0, top)
        path = open_ids[first:top + 1] + ([stage_id] if stage_id not in where else [])
        start = _as_time(created)
        end = _as_time(closed) if closed is not None else min(start + timedelta(days=120), ANCHOR)
        span = max((end - start).total_seconds(), 1.0)
        times = [start, *sorted(start + timedelta(seconds=rnd.random() * span) for _ in path[1:])]
        if closed is not None and len(times) > 1:
            times[-1] = end  # it went into its outcome stage when it closed
        yield row, path, times


def move_chunks(org: Org, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """The ``deal_stage_moves`` rows of ``deal_histories``: as ``moves.record_created`` names a
    creation row without a ``deal.created`` event (``dsm_<deal id>``), the moves with event-like ids."""
    rnd, b = stream(seed, "deal_stage_move_ids"), org.backend
    rows: list[tuple[Any, ...]] = []
    for (deal_id, _, _, owner, created, _), path, times in deal_histories(org, seed):
        created_at = ts(b, _as_time(created))
        rows.append((org.org_id, f"dsm_{deal_id}", deal_id, org.pipeline_id, None, path[0], created_at, owner,
                     created_at))
        for a, to, at in zip(path, path[1:], times[1:], strict=False):
            rows.append((org.org_id, dbkit.fast_id("evt", at, rnd), deal_id, org.pipeline_id, a, to, ts(b, at),
                         owner, created_at))
        if len(rows) >= CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def reached_chunks(org: Org, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """(stages reached, org id, deal id) of each deal that moved (``moves._add_reached``)."""
    rows: list[tuple[Any, ...]] = []
    for (deal_id, *_), path, _ in deal_histories(org, seed):
        if len(path) > 1:
            rows.append((join_stages(path), org.org_id, deal_id))
        if len(rows) >= CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def reached_count(url: str, org_id: str) -> int:
    with dbkit.connect(url) as conn:
        sql = "SELECT COUNT(*) FROM deals WHERE org_id = ? AND stages_reached IS NOT NULL"
        return int(conn.execute(_q(dbkit.backend_of(url), sql), (org_id,)).fetchone()[0])


def fill_reached(org: Org, target: int, seed: int, timings: dict[str, float]) -> None:
    """Set ``deals.stages_reached`` of the deals that moved, as the commit hook would have: an
    executemany UPDATE per chunk. Idempotent, so an interrupted run just sets them all again."""
    if reached_count(org.url, org.org_id) == target:
        log(f"[generate] deals.stages_reached: {target:,} already there")
        return
    t0 = time.perf_counter()
    sql = _q(org.backend, "UPDATE deals SET stages_reached = ? WHERE org_id = ? AND id = ?")
    with dbkit.connect(org.url) as conn:
        for rows in reached_chunks(org, seed):
            if org.backend == "sqlite":  # its connection autocommits each statement otherwise
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            else:
                conn.cursor().executemany(sql, rows)
                conn.commit()
    timings["deals.stages_reached"] = time.perf_counter() - t0
    log(f"[generate] deals.stages_reached: {target:,} deals in {timings['deals.stages_reached']:.1f}s")


ACTIVITY_COLUMNS = ("org_id", "id", "type", "contact_id", "deal_id", "actor_id", "assignee_id", "subject", "body",
                    "outcome", "channel", "direction", "occurred_at", "due_at", "completed_at", "metadata",
                    "created_at", "updated_at", "version")


def activity_chunks(org: Org, n: int, contacts: Sequence[str], deals: Sequence[str], seed: int
                    ) -> Iterator[list[tuple[Any, ...]]]:
    """Emails and calls mostly; 5% on ``HOT_CONTACTS`` key accounts; one in five on a deal; tasks
    with a due date, most of the past ones completed."""
    rnd, b = stream(seed, "activities"), org.backend
    hot = contacts[:HOT_CONTACTS]
    times = spread(rnd, n, 730)
    for start in range(0, n, CHUNK):
        rows = []
        for at in times[start:start + CHUNK]:
            kind = rnd.choices(ACTIVITY_TYPES, ACTIVITY_WEIGHTS)[0]
            contact = rnd.choice(hot) if rnd.random() < 0.05 else rnd.choice(contacts)
            owner = rnd.choice(org.owners)
            due = at + timedelta(days=1 + rnd.random() * 14) if kind == "task" else None
            done = due if due is not None and due < ANCHOR and rnd.random() < 0.8 else None
            rows.append((org.org_id, dbkit.fast_id("activity", at, rnd), kind, contact,
                         rnd.choice(deals) if deals and rnd.random() < 0.2 else None, owner,
                         owner if kind == "task" else None, SUBJECTS[kind].format(rnd.choice(dbkit.LAST_NAMES)),
                         None, "connected" if kind == "call" and rnd.random() < 0.6 else None, CHANNELS.get(kind),
                         rnd.choice(("inbound", "outbound")) if kind in CHANNELS else None, ts(b, at),
                         ts(b, due), ts(b, done), "{}", ts(b, at), ts(b, at), 1))
        yield rows


LEAD_COLUMNS = ("org_id", "id", "contact_id", "title", "source", "owner_id", "status", "score", "external_key",
                "channel", "disqualification_reason", "payload", "created_at", "updated_at", "version")


def lead_chunks(org: Org, n: int, contacts: Sequence[str], seed: int) -> Iterator[list[tuple[Any, ...]]]:
    rnd, b = stream(seed, "leads"), org.backend
    statuses = [s for s, _ in LEAD_STATUSES]
    weights = [w for _, w in LEAD_STATUSES]
    times = spread(rnd, n, 365)
    for start in range(0, n, CHUNK):
        rows = []
        for i, at in enumerate(times[start:start + CHUNK], start):
            status = rnd.choices(statuses, weights)[0]
            source = rnd.choice(LEAD_SOURCES)
            rows.append((org.org_id, dbkit.fast_id("lead", at, rnd), rnd.choice(contacts),
                         f"Interest from {source}", source, rnd.choice(org.owners), status, int(rnd.random() * 101),
                         f"feed-{i:08d}", "web" if source == "website" else None,
                         "No budget" if status == "disqualified" else None, "{}", ts(b, at), ts(b, at), 1))
        yield rows


# ---- the run ------------------------------------------------------------------------------------

def ids(url: str, table: str, org_id: str) -> list[str]:
    with dbkit.connect(url) as conn:
        return [r[0] for r in conn.execute(_q(dbkit.backend_of(url), f"SELECT id FROM {table} WHERE org_id = ? "
                                                                    "ORDER BY id"), (org_id,))]


def phase(org: Org, table: str, target: int, make: Callable[[], Iterable[Sequence[tuple[Any, ...]]]],
          columns: Sequence[str] | None, *, also_empty: Sequence[str] = (),
          timings: dict[str, float]) -> None:
    have = count(org.url, table, org.org_id)
    if have >= target:  # more: what an earlier suite run's API loads created in the org (kept)
        log(f"[generate] {table}: {have:,} already there" + (f" ({have - target:,} made by earlier runs' loads)"
                                                              if have > target else ""))
        return
    if have:
        log(f"[generate] {table}: {have:,} of {target:,} (an interrupted run): loading it again")
        empty(org.url, [*also_empty, table], org.org_id)
    t0 = time.perf_counter()
    if columns is None:  # contacts: dbkit's own bulk path (its column list, FTS handling)
        done = dbkit.bulk_load(org.url, make())
    else:
        done = dbkit.load_table(org.url, table, columns, make())
    timings[table] = time.perf_counter() - t0
    log(f"[generate] {table}: {done['rows']:,.0f} rows in {timings[table]:.1f}s (insert "
        f"{done['rows'] / max(done['insert_s'], 1e-9):,.0f} rows/s, search index {done['index_s']:.1f}s)")


def generate(url: str, scale: float, seed: int) -> dict[str, Any]:
    want = targets(scale)
    t0 = time.perf_counter()
    org = find_or_create_org(url, scale)
    timings: dict[str, float] = {}
    phase(org, "contacts", want["contacts"], lambda: contact_chunks(org, want["contacts"], seed), None,
          timings=timings)
    phase(org, "companies", want["companies"], lambda: company_chunks(org, want["companies"], seed),
          COMPANY_COLUMNS, timings=timings)
    contacts, companies = ids(url, "contacts", org.org_id), ids(url, "companies", org.org_id)
    links = sum(len(rows) for rows in link_chunks(org, contacts, companies, seed))  # a dry pass: the count
    phase(org, "contact_companies", links, lambda: link_chunks(org, contacts, companies, seed), LINK_COLUMNS,
          timings=timings)
    phase(org, "deals", want["deals"], lambda: deal_chunks(org, want["deals"], contacts, companies, seed),
          DEAL_COLUMNS, also_empty=("deal_stage_moves",), timings=timings)
    histories = [(len(path), len(path) > 1) for _, path, _ in deal_histories(org, seed)]  # a dry pass: the counts
    phase(org, "deal_stage_moves", sum(n for n, _ in histories), lambda: move_chunks(org, seed), MOVE_COLUMNS,
          timings=timings)
    fill_reached(org, sum(moved for _, moved in histories), seed, timings)
    deals = ids(url, "deals", org.org_id)
    phase(org, "activities", want["activities"],
          lambda: activity_chunks(org, want["activities"], contacts, deals, seed), ACTIVITY_COLUMNS, timings=timings)
    phase(org, "leads", want["leads"], lambda: lead_chunks(org, want["leads"], contacts, seed), LEAD_COLUMNS,
          timings=timings)
    if org.backend == "postgresql":
        dbkit.analyze(url)  # what autovacuum would have done by now; keeps plans deterministic
    counts = {t: count(url, t, org.org_id) for t in (*SIZES, "contact_companies", "deal_stage_moves")}
    counts["deals.stages_reached"] = reached_count(url, org.org_id)
    return {"org_id": org.org_id, "admin_email": ADMIN_EMAIL, "counts": counts, "seconds": timings,
            "total_seconds": time.perf_counter() - t0, "hot_contacts": contacts[:HOT_CONTACTS],
            "digest": digest(url, org.org_id)}


DIGEST_COLUMNS = {
    "contacts": "id, name, email, phone, title, stage, lead_score, created_at",
    "companies": "id, name, domain, industry, stage, employee_count, created_at",
    "deals": "id, title, contact_id, company_id, amount, status, expected_close_date, created_at",
    "activities": "id, type, contact_id, deal_id, subject, occurred_at, due_at, completed_at",
    "leads": "id, contact_id, title, status, score, external_key, created_at",
    "contact_companies": "contact_id, company_id",
    "deal_stage_moves": "id, deal_id, moved_at, deal_created_at",  # not the stage ids: Kith drew those
}


def digest(url: str, org_id: str) -> str:
    """SHA-256 over the generated fields, id order: equal for equal seeds and scale."""
    h = hashlib.sha256()
    backend = dbkit.backend_of(url)
    with dbkit.connect(url) as conn:
        for table, cols in DIGEST_COLUMNS.items():
            order = cols.split(",")[0] + (", company_id" if table == "contact_companies" else "")
            for row in conn.execute(_q(backend, f"SELECT {cols} FROM {table} WHERE org_id = ? ORDER BY {order}"),
                                    (org_id,)):
                h.update(repr(tuple(_canon(v) for v in row)).encode())
    return h.hexdigest()


def _canon(v: Any) -> Any:
    """The same value whichever backend stored it (SQLite hands back text for times and dates)."""
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True, help="sqlite:///path.db or postgresql://user@host:5432/db")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes (0.01: quick)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    args = p.parse_args(argv)
    out = generate(args.db, args.scale, args.seed)
    if args.json:
        print(json.dumps(out))
    else:
        log(f"[generate] done in {out['total_seconds']:.1f}s: {out['counts']}; digest {out['digest'][:16]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
