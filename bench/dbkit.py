"""Raw-driver helpers: contact rows valid for Kith, executemany / single-row inserts, bulk loads,
timed queries, and the PostgreSQL scratch databases. Plain sqlite3 and psycopg; no SQLAlchemy.
"""

from __future__ import annotations

import functools
import json
import random
import re
import sqlite3
import time
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import make_url

from kith.core import clock

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
STAGES = ("lead", "qualified", "customer", "churned", "partner")
COLUMNS = ("org_id", "id", "name", "first_name", "last_name", "email", "phone", "title", "stage", "status",
           "source", "lead_score", "owner_id", "tags", "metadata", "custom_fields", "automation_enabled",
           "created_at", "updated_at", "version")
_JSON = {"tags", "metadata", "custom_fields"}


def backend_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    return "postgresql" if name in {"postgresql", "postgres"} else name


def insert_sql(backend: str) -> str:
    if backend == "sqlite":
        marks = ", ".join("?" for _ in COLUMNS)
    else:
        marks = ", ".join("%s::jsonb" if c in _JSON else "%s" for c in COLUMNS)
    return f"INSERT INTO contacts ({', '.join(COLUMNS)}) VALUES ({marks})"


# ---- realistic people: a fixed word list, seeded random -----------------------------------------
# Frequencies fall off like real name frequencies (rank-based, Zipf-like), so a prefix query hits
# about as many rows as it would in a real CRM: "john" ~2-3% of contacts, "mar" several %.

FIRST_NAMES = (
    "James Mary Michael Patricia John Jennifer Robert Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty Anthony Sandra "
    "Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin "
    "Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey "
    "Cynthia Ryan Dorothy Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Emma Stephen Brenda "
    "Larry Pamela Justin Nicole Scott Anna Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra "
    "Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry Helen Tyler "
    "Catherine Aaron Diane José Julie Adam Victoria Nathan Joyce Henry Lauren Zachary Kelly Douglas Christina "
    "Peter Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn Christian Hannah Walter Andrea Keith Megan "
    "Austin Cheryl Roger Jacqueline Terry Madison Sean Teresa Gerald Abigail Carl Sophia Dylan Martha Harold "
    "Sara Jordan Gloria Jesse Janice Bryan Kathryn Lawrence Ann Arthur Isabella Gabriel Judy Bruce Charlotte "
    "Logan Julia Billy Grace Joe Amber Alan Alice Juan Jean Elijah Denise Albert Danielle Wayne Marilyn Randy "
    "Natalie Mason Beverly Vincent Diana Liam Brittany Roy Theresa Caleb Alexis Bradley Doris Russell Lori "
    "Lucas Tiffany Marco Giulia Lukas Sofia Mateo Camila Hiroshi Yuki Wei Mei Ahmed Fatima Olga Ivan Pierre "
    "Camille Lars Ingrid Priya Arjun Carlos Lucía Jan Katarzyna Piotr Anja Marta Martin Zoë Björn Chloé "
    "Renée Søren Miguel Ana Luis Elena Omar Leila Tomás Inès"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins "
    "Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly "
    "Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes "
    "Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan "
    "Bell Coleman Butler Henderson Barnes Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton "
    "Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar "
    "Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells "
    "Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez "
    "Silva Shaw Snyder Mason Dixon Muñoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone "
    "Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan "
    "Gardner Payne Grant Dunn Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott "
    "Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Ray Berry Perkins Hoffman Johnston "
    "Matthews Richards Willis Carpenter Lawrence Müller Kowalski Nowak Rossi Bianchi Dubois Lefèvre Tanaka "
    "Suzuki Wang Li Zhang Kumar Singh Novák Jansen O'Brien Schneider Fischer Weber Novak Haddad Okafor "
    "Nakamura Larsen Johansson Virtanen Costa Ferreira Popescu Horvat Yilmaz"
).split()
FREE_MAIL = ("gmail.com",) * 6 + ("yahoo.com", "yahoo.com", "outlook.com", "outlook.com", "hotmail.com",
                                  "icloud.com", "proton.me", "gmx.de", "aol.com", "live.com")
COMPANY_WORDS = (
    "acme globex initech umbrella hooli stark wayne wonka cyberdyne soylent tyrell vandelay massive "
    "northwind contoso fabrikam tailspin litware adatum proseware fourth coho wingtip lucerne alpine "
    "blue summit harbor pioneer vertex quantum nimbus orbit atlas cobalt crimson ember falcon granite "
    "horizon ion juniper keystone lumen meridian nova oak pinnacle quarry redwood sierra titan unity "
    "vector willow xenon yonder zephyr"
).split()
COMPANY_DOMAINS = tuple(f"{w}{s}" for w in COMPANY_WORDS for s in (".com", ".io", "-labs.com", "corp.com"))
TITLES = (
    "Software Engineer", "Senior Software Engineer", "Account Executive", "Marketing Manager",
    "Sales Director", "CEO", "CTO", "Founder", "Co-Founder", "Product Manager", "Operations Manager",
    "Customer Success Manager", "Head of Marketing", "VP Sales", "Designer", "Data Analyst",
    "Office Manager", "Recruiter", "Consultant", "Student", "Engineering Manager", "Sales Representative",
    "Business Development", "Finance Director", "HR Manager", "Project Manager", "Developer Advocate",
)


def _zipf(n: int, shift: float) -> list[float]:
    acc, out = 0.0, []
    for r in range(n):
        acc += 1.0 / (r + shift)
        out.append(acc)
    return out


_FIRST_CUM = _zipf(len(FIRST_NAMES), 12)
_LAST_CUM = _zipf(len(LAST_NAMES), 30)
_TITLE_CUM = _zipf(len(TITLES), 4)


@functools.cache
def ascii_word(s: str) -> str:
    """``Lefèvre`` -> ``lefevre``, ``O'Brien`` -> ``obrien``: the part of a name an email holds."""
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


# Emails already given per org (base address -> times seen): a repeated base gets a number, as
# real mailboxes do (maria.garcia@, maria.garcia7@). Keeps Kith's unique (org, email) index happy.
_EMAILS: dict[str, dict[str, int]] = {}


def _email(org_id: str, rnd: random.Random, first: str, last: str) -> str:
    f, la = ascii_word(first), ascii_word(last)
    x = rnd.random()
    if x < 0.40:
        local = f"{f}.{la}"
    elif x < 0.60:
        local = f"{f[0]}{la}"
    elif x < 0.70:
        local = f"{f}{la}"
    elif x < 0.80:
        local = f
    elif x < 0.88:
        local = f"{f}_{la}"
    elif x < 0.94:
        local = f"{la}.{f}"
    else:
        local = f"{f}.{la[0]}"
    domain = rnd.choice(FREE_MAIL) if rnd.random() < 0.5 else rnd.choice(COMPANY_DOMAINS)
    if len(_EMAILS) > 1 and org_id not in _EMAILS:
        _EMAILS.clear()  # one org per run and backend: forget the previous backend's
    book = _EMAILS.setdefault(org_id, {})
    base = f"{local}@{domain}"
    seen = book.get(base, 0)
    book[base] = seen + 1
    if seen == 0:
        return base
    while True:  # "maria7" must not collide with a base that happens to end in a number
        seen += 1
        candidate = f"{local}{seen}@{domain}"
        if candidate not in book:
            book[candidate] = 1
            book[base] = seen
            return candidate


_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters


def _b32_50(v: int) -> str:
    """50 bits as 10 characters (most significant first)."""
    p = _PAIRS
    return p[v >> 40 & 1023] + p[v >> 30 & 1023] + p[v >> 20 & 1023] + p[v >> 10 & 1023] + p[v & 1023]


def fast_id(prefix: str, at: datetime, rnd: random.Random) -> str:
    """An id in ``kith.core.ids`` format (48-bit ms clock + 80 random bits, Crockford base32: the
    clock is the first 10 characters, the random part the last 16), several times cheaper than
    ``ids.new`` under ``clock.frozen``: what a 1M-row load needs."""
    rand = rnd.getrandbits(79)  # as ids.new: 80 random bits, the top one clear (room to count up)
    return f"{prefix}_{_b32_50(int(at.timestamp() * 1000))}{_b32_50(rand >> 50)[4:]}{_b32_50(rand)}"


def contact_row_chunks(backend: str, org_id: str, owner_id: str, n: int, *, spread_days: float = 0.0,
                       seed: int = 1, chunk: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """``n`` contact rows as Kith would store them, ``chunk`` at a time: realistic names, emails,
    titles and phones from the word lists above (seeded: the same run, the same people). With
    ``spread_days`` the creation times (and the time-ordered ids) are spread uniformly over that
    many days before now, oldest first as real data arrives."""
    rnd = random.Random(seed)
    now = clock.now().astimezone(UTC)  # SQLite stores naive UTC text (Kith's UTCDateTime)
    ages = sorted((rnd.random() * spread_days for _ in range(n)), reverse=True) if spread_days else [0.0] * n
    sqlite = backend == "sqlite"
    for start in range(0, n, chunk):
        part = ages[start:start + chunk]
        firsts = rnd.choices(FIRST_NAMES, cum_weights=_FIRST_CUM, k=len(part))
        lasts = rnd.choices(LAST_NAMES, cum_weights=_LAST_CUM, k=len(part))
        titles = rnd.choices(TITLES, cum_weights=_TITLE_CUM, k=len(part))
        rows = []
        for age, first, last, title in zip(part, firsts, lasts, titles, strict=True):
            at = now - timedelta(days=age)
            ts: Any = at.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else at
            phone = f"+1 {201 + int(rnd.random() * 789)} 555 {int(rnd.random() * 10_000):04d}"
            rows.append((org_id, fast_id("contact", at, rnd), f"{first} {last}", first, last,
                         _email(org_id, rnd, first, last), phone if rnd.random() < 0.7 else None,
                         title if rnd.random() < 0.8 else None,
                         STAGES[int(rnd.random() * 5)], "active", "bench", int(rnd.random() * 101), owner_id,
                         "[]", "{}", "{}", 1 if sqlite else True, ts, ts, 1))
        yield rows


def contact_rows(backend: str, org_id: str, owner_id: str, n: int, tag: str = "", *,
                 spread_days: float = 0.0, seed: int = 1) -> list[tuple[Any, ...]]:
    """All of ``contact_row_chunks`` as one list (``tag`` seeds the names: each call its own people)."""
    seed = seed * 1_000_003 + zlib.crc32(tag.encode())
    return [r for part in contact_row_chunks(backend, org_id, owner_id, n, spread_days=spread_days, seed=seed)
            for r in part]


# ---- connections --------------------------------------------------------------------------------

def sqlite_path(url: str) -> str:
    path = make_url(url).database
    if not path:
        raise ValueError(f"no file in {url!r}")
    return path


def sqlite_connect(url: str) -> sqlite3.Connection:
    """A plain sqlite3 connection with the pragmas Kith's engine sets (WAL, synchronous=NORMAL)."""
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def pg_conninfo(url: str) -> str:
    u = make_url(url)
    return f"host={u.host or '127.0.0.1'} port={u.port or 5432} user={u.username or 'postgres'} dbname={u.database}"


@contextmanager
def connect(url: str, *, prepare: bool = True) -> Iterator[Any]:
    """A raw connection; ``prepare=False`` turns off psycopg's automatic server-side prepare (after
    5 runs of the same SQL), whose generic plans PostgreSQL then prefers."""
    conn: Any
    if backend_of(url) == "sqlite":
        conn = sqlite_connect(url)
    else:
        import psycopg

        conn = psycopg.connect(pg_conninfo(url), prepare_threshold=None if not prepare else 5)
    try:
        yield conn
    finally:
        conn.close()


# ---- inserts ------------------------------------------------------------------------------------

def executemany(url: str, rows: Sequence[tuple[Any, ...]], batch: int = 1000) -> float:
    """Insert ``rows`` with the driver's executemany, one transaction per ``batch``; returns seconds."""
    backend, sql = backend_of(url), insert_sql(backend_of(url))
    with connect(url) as conn:
        t0 = time.perf_counter()
        if backend == "sqlite":
            for i in range(0, len(rows), batch):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows[i:i + batch])
                conn.execute("COMMIT")
        else:
            with conn.cursor() as cur:
                for i in range(0, len(rows), batch):
                    cur.executemany(sql, rows[i:i + batch])
                    conn.commit()
        return time.perf_counter() - t0


def bulk_load(url: str, chunks: Iterable[Sequence[tuple[Any, ...]]], *, batch: int = 5000) -> dict[str, float]:
    """Load contact rows (``COLUMNS``) the fast way: ``load_table`` for the contacts table."""
    return load_table(url, "contacts", COLUMNS, chunks, batch=batch)


def load_table(url: str, table: str, columns: Sequence[str], chunks: Iterable[Sequence[tuple[Any, ...]]], *,
               batch: int = 5000) -> dict[str, float]:
    """Load rows the fast way and leave ``table``'s search index as Kith would have it: SQLite
    drops the triggers that keep its FTS5 table (``<table>_fts``, if any) in sync, inserts with
    ``executemany`` (``batch`` rows per commit), recreates the triggers from their stored SQL and
    runs FTS5 'rebuild'; PostgreSQL drops the table's full-text and trigram indexes, COPYs,
    recreates them from ``pg_indexes`` and ANALYZEs. Returns ``{"rows", "insert_s", "index_s"}``."""
    if backend_of(url) == "sqlite":
        return _sqlite_load(url, table, columns, chunks, batch)
    return _pg_load(url, table, columns, chunks)


def _sqlite_load(url: str, table: str, columns: Sequence[str], chunks: Iterable[Sequence[tuple[Any, ...]]],
                 batch: int) -> dict[str, float]:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    fts = f"{table}_fts"  # kith.search.registry names them so
    n = 0
    with connect(url) as conn:
        triggers = [(name, ddl) for name, ddl in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))
            if re.search(rf"\b{fts}\b", ddl)]
        conn.execute("BEGIN IMMEDIATE")
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("COMMIT")
        t0 = time.perf_counter()
        try:
            for rows in chunks:
                for i in range(0, len(rows), batch):
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(sql, rows[i:i + batch])
                    conn.execute("COMMIT")
                n += len(rows)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            t1 = time.perf_counter()
            if triggers:
                conn.execute("BEGIN IMMEDIATE")
                for _, ddl in triggers:
                    conn.execute(ddl)
                conn.execute(f"INSERT INTO {fts}({fts}) VALUES('rebuild')")  # kith.search.ddl.rebuild_sql
                conn.execute("COMMIT")
        return {"rows": n, "insert_s": t1 - t0, "index_s": time.perf_counter() - t1}


def _pg_load(url: str, table: str, columns: Sequence[str], chunks: Iterable[Sequence[tuple[Any, ...]]]
             ) -> dict[str, float]:
    import psycopg

    from kith.search.ddl import is_search_object

    n = 0
    with psycopg.connect(pg_conninfo(url)) as conn:
        indexes = [(name, ddl) for name, ddl in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "ORDER BY indexname", (table,)) if is_search_object(name)]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.commit()
        t0 = time.perf_counter()
        try:
            with conn.cursor() as cur:
                for rows in chunks:
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    conn.commit()
                    n += len(rows)
        finally:
            conn.rollback()
            t1 = time.perf_counter()
            conn.execute("SET maintenance_work_mem = '256MB'")
            for _, ddl in indexes:
                conn.execute(ddl)
            conn.commit()
            conn.execute("ANALYZE")  # what autovacuum would have done by now; keeps the plans deterministic
            conn.commit()
        return {"rows": n, "insert_s": t1 - t0, "index_s": time.perf_counter() - t1}


def single_row_transactions(url: str, rows: Sequence[tuple[Any, ...]]) -> float:
    """One INSERT and one COMMIT per row (what one API create costs the database at least)."""
    backend, sql = backend_of(url), insert_sql(backend_of(url))
    with connect(url) as conn:
        t0 = time.perf_counter()
        if backend == "sqlite":
            for row in rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, row)
                conn.execute("COMMIT")
        else:
            with conn.cursor() as cur:
                for row in rows:
                    cur.execute(sql, row)
                    conn.commit()
        return time.perf_counter() - t0


def pg_concurrent_single_row(url: str, rows: Sequence[tuple[Any, ...]], connections: int = 32) -> float:
    """PostgreSQL only: one INSERT + COMMIT per row from ``connections`` concurrent connections
    (commits then share WAL flushes: the database's own limit for concurrent API creates)."""
    import asyncio

    import psycopg

    sql = insert_sql("postgresql")

    async def worker(conn: Any, chunk: Sequence[tuple[Any, ...]]) -> None:
        for row in chunk:
            await conn.execute(sql, row)
            await conn.commit()

    async def main() -> float:
        conns = [await psycopg.AsyncConnection.connect(pg_conninfo(url)) for _ in range(connections)]
        try:
            t0 = time.perf_counter()  # connections are opened before the clock starts, as in a pool
            await asyncio.gather(*(worker(c, rows[i::connections]) for i, c in enumerate(conns)))
            return time.perf_counter() - t0
        finally:
            for c in conns:
                await c.close()

    return asyncio.run(main())


_ID = re.compile(r"^[a-z]+(?:_[a-z]+)*_[0-9a-hjkmnp-tv-z]{26}$")


def _flat(params: Any) -> Iterator[Any]:
    if isinstance(params, dict):
        yield from params.values()
    elif isinstance(params, (list, tuple)):
        for p in params:
            yield from _flat(p)
    else:
        yield params


def fresh_values(captured: Sequence[tuple[str, Any, bool]], extra: Iterable[str] = ()) -> frozenset[str]:
    """The values a captured transaction created: ids (``kith.core.ids`` format) first seen in an
    INSERT's parameters, plus ``extra`` (the visitor_id and email sent). Replacing them makes a
    replay of the same SQL insert new rows instead of colliding with the first run's."""
    seen: set[str] = set()
    fresh = {e for e in extra if e}
    for sql, params, _many in captured:
        insert = sql.lstrip().upper().startswith("INSERT")
        for v in _flat(params):
            if isinstance(v, str) and _ID.match(v) and v not in seen:
                seen.add(v)
                if insert:
                    fresh.add(v)
    return frozenset(fresh)


def _substitute(params: Any, fresh: frozenset[str], suffix: str) -> Any:
    if isinstance(params, dict):
        return {k: _substitute(v, fresh, suffix) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return type(params)(_substitute(p, fresh, suffix) for p in params)
    return params + suffix if isinstance(params, str) and params in fresh else params


Captured = Sequence[tuple[str, Any, bool]]  # one transaction's (SQL, driver parameters, executemany)


def replay_transactions(url: str, templates: Sequence[tuple[Captured, frozenset[str]]], n: int,
                        connections: int = 1) -> float:
    """Run captured transactions (``before_cursor_execute``) ``n`` times through the raw driver,
    one transaction per replay, replay ``i`` being ``templates[i % len(templates)]`` with its
    fresh values suffixed with ``i``; returns seconds. Every replay reads and writes what the
    captured call did, so this is the database's own cost of that call. PostgreSQL can spread
    the replays over ``connections`` concurrent connections (opened before the clock starts;
    connection ``c`` replays templates ``c, c + connections, ...``: give as many templates as
    connections when they update the same rows); SQLite replays one after the other."""
    backend = backend_of(url)
    bodies = [([(sql, params, many) for sql, params, many in captured
                if sql.lstrip().split(None, 1)[0].upper() not in {"BEGIN", "COMMIT"}], fresh)
              for captured, fresh in templates]
    runs = [[(sql, _substitute(params, fresh, f"-{i}"), many) for sql, params, many in body]
            for i in range(n) for body, fresh in [bodies[i % len(bodies)]]]
    if backend == "postgresql" and connections > 1:
        return _pg_concurrent_replay(url, runs, connections)
    with connect(url) as conn:
        cur = conn.cursor()
        t0 = time.perf_counter()
        for stmts in runs:
            if backend == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
            for sql, params, many in stmts:
                if many:
                    cur.executemany(sql, params)
                else:
                    cur.execute(sql, params)
                    if cur.description is not None:
                        cur.fetchall()
            if backend == "sqlite":
                cur.execute("COMMIT")
            else:
                conn.commit()
        return time.perf_counter() - t0


def _pg_concurrent_replay(url: str, runs: list[list[tuple[str, Any, bool]]], connections: int) -> float:
    import asyncio

    import psycopg

    async def worker(conn: Any, mine: list[list[tuple[str, Any, bool]]]) -> None:
        async with conn.cursor() as cur:
            for stmts in mine:
                for sql, params, many in stmts:
                    if many:
                        await cur.executemany(sql, params)
                    else:
                        await cur.execute(sql, params)
                        if cur.description is not None:
                            await cur.fetchall()
                await conn.commit()

    async def main() -> float:
        conns = [await psycopg.AsyncConnection.connect(pg_conninfo(url)) for _ in range(connections)]
        try:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(c, runs[i::connections]) for i, c in enumerate(conns)))
            return time.perf_counter() - t0
        finally:
            for c in conns:
                await c.close()

    return asyncio.run(main())


def count_contacts(url: str, org_id: str) -> int:
    backend = backend_of(url)
    sql = "SELECT count(*) FROM contacts WHERE org_id = " + ("?" if backend == "sqlite" else "%s")
    with connect(url) as conn:
        return int(conn.execute(sql, (org_id,)).fetchone()[0])


def identify_bodies(url: str, org_id: str, visitor_prefix: str, limit: int = 1000) -> list[str]:
    """Identify bodies for visitors already identified (visitor_id starting with ``visitor_prefix``):
    the same visitor_id, email and name again, as a returning visitor's page load sends them."""
    mark = "?" if backend_of(url) == "sqlite" else "%s"
    sql = ("SELECT v.visitor_id, c.email, c.name FROM visitors v JOIN contacts c "
           "ON c.org_id = v.org_id AND c.id = v.contact_id "
           f"WHERE v.org_id = {mark} AND v.visitor_id LIKE {mark} ORDER BY v.visitor_id LIMIT {int(limit)}")
    with connect(url) as conn:
        rows = conn.execute(sql, (org_id, visitor_prefix + "%")).fetchall()
    if not rows:
        raise RuntimeError(f"no identified visitor starts with {visitor_prefix!r}: did the warm-up fail?")
    return [json.dumps({"visitor_id": v, "email": e, "name": n}, separators=(",", ":")) for v, e, n in rows]


def analyze(url: str) -> None:
    with connect(url) as conn:
        conn.execute("ANALYZE")
        if backend_of(url) == "postgresql":
            conn.commit()


# ---- queries ------------------------------------------------------------------------------------

def time_query(url: str, sql: str, params: Any, n: int, warmup: int = 10) -> list[float]:
    """Seconds per execution + fetchall of ``sql`` (already in the driver's paramstyle)."""
    out: list[float] = []
    with connect(url) as conn:
        cur = conn.cursor()
        for i in range(warmup + n):
            t0 = time.perf_counter()
            cur.execute(sql, params)
            cur.fetchall()
            if i >= warmup:
                out.append(time.perf_counter() - t0)
        if backend_of(url) == "postgresql":
            conn.rollback()
    return out


def time_queries(url: str, statements: Sequence[Sequence[tuple[str, Any]]], n: int, warmup: int = 10,
                 budget_s: float | None = None, min_n: int = 20) -> list[float]:
    """Seconds per request, cycling through ``statements`` (each request: its statements in
    order, each executed and fetched in full), after ``warmup`` requests; stops early once
    ``budget_s`` seconds of measuring are spent and at least ``min_n`` requests measured.
    PostgreSQL: statements are not prepared, so each run gets a custom plan for its parameters,
    as Kith's pooled connections mostly do (a connection that ran the same search 5 times gets
    psycopg's prepared statement, and PostgreSQL may switch it to a slower generic plan)."""
    out: list[float] = []
    with connect(url, prepare=False) as conn:
        cur = conn.cursor()
        start = time.perf_counter()
        for i in range(warmup + n):
            t0 = time.perf_counter()
            for sql, params in statements[i % len(statements)]:
                cur.execute(sql, params)
                cur.fetchall()
            if i >= warmup:
                out.append(time.perf_counter() - t0)
                if budget_s is not None and time.perf_counter() - start > budget_s and len(out) >= min_n:
                    break
            else:
                start = time.perf_counter()
        if backend_of(url) == "postgresql":
            conn.rollback()
    return out


_LIMIT = re.compile(r"\s+LIMIT\s+(\?|%\(\w+\)s(?:::\w+)?)(\s+OFFSET\s+(\?|%\(\w+\)s(?:::\w+)?))?\s*$", re.I)


def count_matches(url: str, sql: str, params: Any) -> int | None:
    """How many rows ``sql`` (a captured search query ending in ``LIMIT``) matches without its
    LIMIT: the work behind one page of ranked results. None when the SQL has no trailing LIMIT."""
    m = _LIMIT.search(sql)
    if m is None:
        return None
    if isinstance(params, (list, tuple)):  # positional (sqlite3): drop the LIMIT/OFFSET parameters
        params = tuple(params)[: len(params) - sum(1 for g in (m.group(1), m.group(3)) if g == "?")]
    with connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM ({sql[:m.start()]}) AS matches", params).fetchone()
        if backend_of(url) == "postgresql":
            conn.rollback()
    return int(row[0])


def explain(url: str, sql: str, params: Any) -> str:
    backend = backend_of(url)
    with connect(url) as conn:
        if backend == "sqlite":
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            return "; ".join(r[-1] for r in rows)
        rows = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params).fetchall()
        conn.rollback()
        return "\n".join(r[0] for r in rows)


# ---- PostgreSQL scratch databases ---------------------------------------------------------------

def pg_server_version() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None


def pg_create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def pg_drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
