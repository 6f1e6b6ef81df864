"""Bulk writes and key lookups for the import engine, chosen per backend.

On PostgreSQL every statement is a network round trip and every row of an ``executemany`` is
parsed and planned apart, so an import's batches are written with ``COPY … FROM STDIN`` (one
statement per table per batch; values pass through the columns' own bind processors, exactly as
an INSERT would send them), and its key lookups send the keys as one array joined to the table
(``unnest(:keys) JOIN t``), which probes the (org, key) index once per key whatever the batch
size. SQLite runs in-process: ``executemany`` and ``IN (…)`` lists are already its fast path.

Invariants:
- A ``COPY`` runs inside the batch's transaction, like the INSERT it replaces: a unique clash
  aborts the whole batch (``IntegrityError`` → ``Conflict``), so batches stay whole or absent.
- Statement-capture listeners (``before_cursor_execute``) see every ``COPY`` as one statement.
- Planner statistics of a table an import is filling are refreshed as it grows (``Analyzer``):
  a table that was empty when last analysed makes PostgreSQL pick an (org)-only index scan for
  a key lookup, which reads every row of the org, per batch (0.4 s a batch at 20k rows, growing
  with the table). ANALYZE runs in its own short transaction, never inside a batch's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects.postgresql import ARRAY

from kith.core.db import Database, prepared_insert
from kith.core.uow import UnitOfWork

IN_CHUNK = 1000  # values per IN (...) list (SQLite; PostgreSQL sends one array per lookup)
COPY_MIN_ROWS = 16  # below this an executemany costs less than setting a COPY up
# Refresh a growing table's statistics after this many rows, then each time the rows this import
# wrote have doubled: ~10 short ANALYZEs for a 1M-row import, none for a small one.
ANALYZE_FIRST_ROWS = 4000


def is_pg(uow: UnitOfWork) -> bool:
    return uow.backend == "postgresql"


async def insert(uow: UnitOfWork, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys): ``COPY`` on PostgreSQL, else ``executemany``."""
    if not rows:
        return
    if not is_pg(uow) or len(rows) < COPY_MIN_ROWS:
        await uow.insert(table, rows)
        return
    await copy(uow, table, rows)


async def copy(uow: UnitOfWork, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``COPY table (keys) FROM STDIN`` in the unit of work's transaction (PostgreSQL only)."""
    keys = tuple(rows[0].keys())
    conn = await uow.connection()  # BEGIN and writes still waiting go first (kith.core.db.PgWork)
    dialect = conn.dialect
    binds = prepared_insert(table, keys).compiled(dialect).binds  # (column, bind processor), insert order
    names = [name for name, _ in binds]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names)))
    sync = conn.sync_connection
    if sync is not None and sync.engine.dispatch.before_cursor_execute:
        for fn in sync.engine.dispatch.before_cursor_execute:
            fn(sync, None, f"COPY {table.name} FROM STDIN", rows, None, True)
    procs = [(i, fn) for i, (_, fn) in enumerate(binds) if fn is not None]
    raw: Any = (await conn.get_raw_connection()).driver_connection
    try:
        async with raw.cursor() as cur, cur.copy(stmt) as out:
            for row in rows:
                values = [row[n] for n in names]
                for i, fn in procs:
                    values[i] = fn(values[i])
                await out.write_row(values)
    except dialect.loaded_dbapi.IntegrityError as exc:
        raise sa.exc.IntegrityError(f"COPY {table.name}", None, exc) from exc


def chunks(values: Sequence[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield list(values[i:i + size])


def keyed(uow: UnitOfWork, table: sa.Table, key: sa.ColumnElement[Any], columns: Sequence[Any],
          values: Sequence[str]) -> Iterator[sa.Select[Any]]:
    """SELECTs of ``columns`` from ``table`` where ``key`` is one of ``values`` (the caller adds the
    org filter): one per batch on PostgreSQL (the keys as an array, joined), ``IN`` lists on SQLite."""
    if not values:
        return
    if not is_pg(uow):
        for chunk in chunks(values):
            yield sa.select(*columns).where(key.in_(chunk))
        return
    keys = sa.func.unnest(sa.bindparam("keys", list(values), type_=ARRAY(sa.Text))).table_valued("v").render_derived()
    yield sa.select(*columns).select_from(keys.join(table, key == keys.c.v))


class Analyzer:
    """Keeps PostgreSQL's statistics of the tables an import fills in step with their growth."""

    def __init__(self, db: Database, tables: Sequence[tuple[sa.Table, Sequence[str]]]) -> None:
        self.db = db
        self.tables = tables  # (table, the columns lookups filter on)
        self.next_at = ANALYZE_FIRST_ROWS
        self.analysed = 0  # how many times, for tests and the benchmark

    async def wrote(self, rows: int) -> None:
        """``rows``: how many rows this import has written so far (all batches)."""
        if self.db.backend != "postgresql" or rows < self.next_at:
            return
        self.next_at = max(rows * 2, ANALYZE_FIRST_ROWS)
        async with self.db.connect(autocommit=True) as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            for table, cols in self.tables:
                # A role that does not own the table gets a warning and no new statistics: the
                # import still runs, as before, on whatever statistics autovacuum keeps.
                await raw.execute(sql.SQL("ANALYZE {} ({})").format(
                    sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, cols))))
        self.analysed += 1
