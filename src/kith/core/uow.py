"""The unit of work: one transaction per verb, events written inside it, hooks after commit.

A service opens ``async with uow.transaction(write=True):``; a nested call joins the outer
transaction, so verbs compose (a merge can call unlink) and still commit once.

Events are buffered by ``record`` and written just before the commit as two multi-row inserts
(``events``, ``event_refs``), not two statements per event. Anything that could read them first
(any SELECT, or a statement on those tables, through ``execute``) writes the buffer out before it
runs, so a transaction always sees its own events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from kith.core import clock, ids
from kith.core.db import Database, PgWork, Prepared, Row, prepared_insert, run_sync
from kith.core.errors import Conflict
from kith.core.events import EVENT_TYPES, event_refs, events

AfterCommit = Callable[[], Awaitable[None]]
# Run at the end of every write transaction that recorded events, on its connection, just before
# it commits (kith.realtime sends its NOTIFY there: delivered if and only if the commit happens).
BEFORE_COMMIT: list[Callable[[UnitOfWork], Awaitable[None]]] = []

_EVENT_TABLES = frozenset({events.fullname, event_refs.fullname})
_INSERT_EVENTS = prepared_insert(events, [c.name for c in events.c])
_INSERT_REFS = prepared_insert(event_refs, [c.name for c in event_refs.c])


class UnitOfWork:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: AsyncConnection | None = None
        self._inline: sa.Connection | None = None  # SQLite: statements run in this thread
        self._pg: PgWork | None = None  # PostgreSQL: statements run on psycopg's connection
        self._write = False
        self._after_commit: list[AfterCommit] = []
        self._events: list[dict[str, Any]] = []
        self._refs: list[dict[str, Any]] = []
        self.recorded: list[dict[str, Any]] = []

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("no transaction open: use `async with uow.transaction():`")
        if self._pg is not None and not self._pg.ready:
            raise RuntimeError("statements are waiting to be sent: use `await uow.connection()`")
        return self._conn

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, for work on it directly (COPY): on PostgreSQL, what waits
        to be sent (BEGIN, deferred writes) is sent first, so that work lands in order."""
        if self._pg is not None:
            await self._pg.flush()
        return self.conn

    @property
    def is_open(self) -> bool:
        return self._conn is not None or self._inline is not None

    @property
    def backend(self) -> str:
        return self.db.backend

    @asynccontextmanager
    async def transaction(self, *, write: bool = False, autocommit: bool = False) -> AsyncIterator[UnitOfWork]:
        """``autocommit`` (reads only): statements run outside a transaction, each its own snapshot,
        as SQLite reads always do; on PostgreSQL it saves the BEGIN and COMMIT round trips. For
        reads whose statements need no common snapshot (one lookup, or lookups by key)."""
        if self.is_open:
            if write and not self._write:
                raise RuntimeError("cannot upgrade a read transaction to a write one")
            yield self
            return
        self._write, self.recorded, self._after_commit = write, [], []
        self._events, self._refs = [], []
        try:
            if self.db.sync_engine is not None:
                async with self.db.connect_inline(write=write) as inline:
                    self._inline = inline
                    yield self
                    await self.flush_events()
                    await self._before_commit()
            else:
                async with self.db.connect_work(write=write, autocommit=autocommit and not write) as work:
                    self._pg, self._conn = work, work.conn
                    try:
                        yield self
                        await self.flush_events()
                        await self._before_commit()
                        await work.commit()
                    except BaseException:
                        await work.rollback()
                        raise
                    finally:
                        self._pg = None
        except IntegrityError as exc:
            self._after_commit = []
            raise Conflict(_integrity_detail(exc)) from exc
        except BaseException:
            self._after_commit = []
            raise
        finally:
            self._conn = self._inline = None
            self._events, self._refs = [], []
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            await hook()

    async def _before_commit(self) -> None:
        if self._write and self.recorded:
            for hook in BEFORE_COMMIT:
                await hook(self)

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    async def execute(self, stmt: Any, params: Any = None) -> sa.CursorResult[Any]:
        if self._events and _may_see_events(stmt):
            await self.flush_events()
        if self._inline is not None:
            inline: sa.CursorResult[Any] = self._inline.execute(stmt, params)
            return inline
        if self._pg is not None:
            await self._pg.flush()
        result: sa.CursorResult[Any] = await self.conn.execute(stmt, params)
        return result

    # --- prepared statements on the driver (kith.core.db.Prepared): the hot paths ---------------

    async def _run(self, prepared: Prepared, values: Mapping[str, Any] | None,
                   many: Sequence[Mapping[str, Any]] | None = None, *, defer: bool = False) -> tuple[list[Row], int]:
        if self._inline is not None:
            return run_sync(self._inline, prepared, values, many=many)
        if self._pg is None:
            raise RuntimeError("no transaction open: use `async with uow.transaction():`")
        return await self._pg.run(prepared, values, many=many, defer=defer)

    async def rows(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> list[Row]:
        """The rows of a prepared SELECT, as dicts. Sees this transaction's buffered events only
        once written: a prepared read of ``events`` must ``flush_events()`` first."""
        return (await self._run(prepared, values))[0]

    async def row(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> Row | None:
        found = (await self._run(prepared, values))[0]
        return found[0] if found else None

    async def run(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> int:
        """Run a prepared INSERT/UPDATE/DELETE; the rowcount."""
        return (await self._run(prepared, values))[1]

    async def send(self, prepared: Prepared, values: Mapping[str, Any] | None = None) -> None:
        """Run a prepared statement whose result nobody reads (a write, a NOTIFY): in a PostgreSQL
        write it waits and goes with the transaction's next statement or its COMMIT, in order
        (``kith.core.db.PgWork``); its error, if any, is raised there."""
        await self._run(prepared, values, defer=True)

    async def insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (all with the same keys) into ``table`` through the driver. On
        PostgreSQL it goes with the transaction's next statement or its COMMIT (``send``)."""
        if not rows:
            return
        prepared = prepared_insert(table, rows[0].keys())
        if len(rows) == 1:
            await self._run(prepared, rows[0], defer=True)
        else:
            await self._run(prepared, None, many=rows, defer=True)

    # --- events ------------------------------------------------------------------------------

    async def record(
        self,
        org_id: str,
        type_: str,
        *,
        subject_type: str,
        subject_id: str,
        actor_id: str | None,
        actor_type: str = "user",
        data: dict[str, Any] | None = None,
        refs: tuple[str, ...] = (),
    ) -> str:
        """Append one event to the log and index it under its subject and every id in ``refs``
        (written with the transaction's other events before it commits)."""
        if type_ not in EVENT_TYPES:
            raise AssertionError(f"unregistered event type {type_!r}")
        if not self.is_open:
            raise RuntimeError("no transaction open: use `async with uow.transaction(write=True):`")
        event_id = ids.new("evt")
        row = {
            "org_id": org_id,
            "id": event_id,
            "type": type_,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "actor_type": actor_type,
            "actor_id": actor_id,
            "occurred_at": clock.now(),
            "data": data or {},
        }
        self._events.append(row)
        self._refs.extend({"org_id": org_id, "record_id": r, "event_id": event_id}
                          for r in dict.fromkeys((subject_id, *refs)))
        self.recorded.append(row)
        return event_id

    async def flush_events(self) -> None:
        """Write the buffered events now (done before every commit)."""
        if not self._events:
            return
        evts, refs = self._events, self._refs
        self._events, self._refs = [], []
        await self.insert(events, evts)
        await self.insert(event_refs, refs)


def _may_see_events(stmt: Any) -> bool:
    """Whether ``stmt`` could read the buffered events: anything but DML on another table."""
    if isinstance(stmt, UpdateBase):
        table = getattr(stmt, "table", None)
        return getattr(table, "fullname", None) in _EVENT_TABLES
    return True


def _integrity_detail(exc: IntegrityError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return f"the change conflicts with existing data ({text.splitlines()[0][:200]})"
