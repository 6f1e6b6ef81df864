"""Raw-driver helpers: contact rows valid for Kith, executemany / single-row inserts, bulk loads,
timed queries, and the PostgreSQL scratch databases. Plain sqlite3 and psycopg; no SQLAlchemy.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import make_url

from kith.core import clock, ids

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


def stored_time(backend: str, at: datetime) -> Any:
    """What Kith's UTCDateTime writes: naive UTC text on SQLite, an aware datetime on PostgreSQL."""
    at = at.astimezone(UTC)
    if backend == "sqlite":
        return at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return at


def contact_rows(backend: str, org_id: str, owner_id: str, n: int, tag: str, *,
                 spread_days: float = 0.0, seed: int = 1) -> list[tuple[Any, ...]]:
    """``n`` contact rows as Kith would store them; with ``spread_days`` the creation times (and the
    time-ordered ids) are spread uniformly over that many days before now."""
    rnd = random.Random(seed)
    now = clock.now()
    # Oldest first, as real data arrives: ids and created_at then grow together, like Kith's own.
    ages = sorted((rnd.random() * spread_days for _ in range(n)), reverse=True) if spread_days else [0.0] * n
    rows = []
    for i, age in enumerate(ages):
        at = now - timedelta(days=age)
        with clock.frozen(at):
            cid = ids.new("contact")
        ts = stored_time(backend, at)
        first, last = f"First{i}", f"Last{i}"
        rows.append((org_id, cid, f"{first} {last}", first, last, f"{tag}-{i}@example.com", "+1 555 0100",
                     "Engineer", rnd.choice(STAGES), "active", "bench", rnd.randrange(0, 101), owner_id,
                     "[]", "{}", "{}", 1 if backend == "sqlite" else True, ts, ts, 1))
    return rows


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
def connect(url: str) -> Iterator[Any]:
    conn: Any
    if backend_of(url) == "sqlite":
        conn = sqlite_connect(url)
    else:
        import psycopg

        conn = psycopg.connect(pg_conninfo(url))
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


def count_contacts(url: str, org_id: str) -> int:
    backend = backend_of(url)
    sql = "SELECT count(*) FROM contacts WHERE org_id = " + ("?" if backend == "sqlite" else "%s")
    with connect(url) as conn:
        return int(conn.execute(sql, (org_id,)).fetchone()[0])


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
