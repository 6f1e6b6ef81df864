"""The unit of work: one transaction per verb, events written inside it, hooks after commit.

A service opens ``async with uow.transaction(write=True):``; a nested call joins the outer
transaction, so verbs compose (a merge can call unlink) and still commit once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from kith.core import clock, ids
from kith.core.db import Database
from kith.core.errors import Conflict
from kith.core.events import EVENT_TYPES, event_refs, events

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: AsyncConnection | None = None
        self._inline: sa.Connection | None = None  # SQLite: statements run in this thread
        self._write = False
        self._after_commit: list[AfterCommit] = []
        self.recorded: list[dict[str, Any]] = []

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("no transaction open: use `async with uow.transaction():`")
        return self._conn

    @property
    def is_open(self) -> bool:
        return self._conn is not None or self._inline is not None

    @property
    def backend(self) -> str:
        return self.db.backend

    @asynccontextmanager
    async def transaction(self, *, write: bool = False) -> AsyncIterator[UnitOfWork]:
        if self.is_open:
            if write and not self._write:
                raise RuntimeError("cannot upgrade a read transaction to a write one")
            yield self
            return
        self._write, self.recorded, self._after_commit = write, [], []
        try:
            if self.db.sync_engine is not None:
                async with self.db.connect_inline(write=write) as inline:
                    self._inline = inline
                    yield self
            else:
                async with self.db.connect(write=write) as conn:
                    self._conn = conn
                    yield self
        except IntegrityError as exc:
            self._after_commit = []
            raise Conflict(_integrity_detail(exc)) from exc
        except BaseException:
            self._after_commit = []
            raise
        finally:
            self._conn = self._inline = None
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            await hook()

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    async def execute(self, stmt: Any, params: Any = None) -> sa.CursorResult[Any]:
        if self._inline is not None:
            inline: sa.CursorResult[Any] = self._inline.execute(stmt, params)
            return inline
        result: sa.CursorResult[Any] = await self.conn.execute(stmt, params)
        return result

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
        """Append one event to the log and index it under its subject and every id in ``refs``."""
        if type_ not in EVENT_TYPES:
            raise AssertionError(f"unregistered event type {type_!r}")
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
        await self.execute(events.insert(), row)
        targets = dict.fromkeys((subject_id, *refs))
        await self.execute(
            event_refs.insert(),
            [{"org_id": org_id, "record_id": r, "event_id": event_id} for r in targets],
        )
        self.recorded.append(row)
        return event_id


def _integrity_detail(exc: IntegrityError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return f"the change conflicts with existing data ({text.splitlines()[0][:200]})"
