"""The outbox relay: hands committed events, in id order, to consumers (webhook fan-out), at least
once and without losing an event that commits late.

The ``events`` table is the outbox (``UnitOfWork.record`` writes it in the verb's transaction).
Each consumer keeps, per org, a cursor row (``outbox_cursors``):

- ``high_id``: the newest event id handed over. The fast path reads ``id > high_id`` in id order,
  hands the batch over and moves ``high_id``, in one transaction with the consumer's own writes,
  so a crash anywhere leaves the cursor where the writes are (nothing lost, nothing doubled).
- Event ids are time-ordered but taken *before* commit, so a transaction that commits late can
  make an event with an id below ``high_id`` appear after the fast path passed it. Every handed
  event therefore also gets a mark (``outbox_marks``), and a sweep every ``sweep_every`` seconds
  re-reads ``(low_id, high_id]`` for events without a mark (the stragglers) and hands them over.
  ``low_id`` then advances to ``now - window`` (marks below it are deleted): an event whose
  transaction stays open longer than ``window`` after its id was made (default 60 s) could be
  missed — keep write transactions short (every verb does).
- Several workers on PostgreSQL: the cursor row is claimed with ``FOR UPDATE SKIP LOCKED``, so
  one org's events are relayed by one worker at a time while other workers take other orgs.
  SQLite: write transactions are ``BEGIN IMMEDIATE`` and so serialised; a second worker process
  is safe there too but gains nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite

from kith.core import clock
from kith.core.db import UTCDateTime, metadata
from kith.core.events import events
from kith.core.uow import UnitOfWork

log = logging.getLogger("kith.outbox")

outbox_cursors = sa.Table(
    "outbox_cursors",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("consumer", sa.String(40), primary_key=True),
    sa.Column("high_id", sa.String(40), nullable=False),
    sa.Column("low_id", sa.String(40), nullable=False),
    sa.Column("swept_at", UTCDateTime(), nullable=False),
)

outbox_marks = sa.Table(
    "outbox_marks",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("consumer", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(40), primary_key=True),
)

# Events handed to a consumer per transaction: big enough to amortise the commit, small enough
# that one transaction stays well under a second.
BATCH = 500
DEFAULT_WINDOW = timedelta(seconds=60)
DEFAULT_SWEEP_EVERY = timedelta(seconds=5)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def floor_id(at: datetime, prefix: str = "evt") -> str:
    """The smallest id ``kith.core.ids.new(prefix)`` could make at ``at`` (same encoding)."""
    value = int(at.timestamp() * 1000) << 80
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


class Consumer(Protocol):
    """Something that acts on committed events, inside the relay's transaction."""

    name: str

    async def orgs(self, uow: UnitOfWork) -> list[str]:
        """The orgs whose events this consumer wants now (e.g. those with an enabled webhook)."""
        ...

    async def handle(self, uow: UnitOfWork, org_id: str, rows: Sequence[Any]) -> None:
        """Act on ``rows`` of ``events`` (in id order); runs in the transaction that moves the cursor."""
        ...


def insert_ignoring_duplicates(backend: str, table: sa.Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the backend."""
    return (pg.insert(table) if backend == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()


def upsert(backend: str, table: sa.Table, keys: Sequence[str], updated: Sequence[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET`` each of ``updated`` to the proposed row's value,
    for the backend; the rows come with the execution (one, or many for executemany)."""
    ins = pg.insert(table) if backend == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in updated})


async def ensure_cursor(uow: UnitOfWork, org_id: str, consumer: str, *, window: timedelta = DEFAULT_WINDOW,
                        fresh: bool = False) -> None:
    """Make sure ``consumer`` relays ``org_id``'s events from now on (call inside the write
    transaction that makes the org need it). ``fresh``: nothing in the org needed the events so
    far, so a stale cursor may jump forward to ``now - window`` instead of replaying history."""
    start = floor_id(clock.now() - window)
    await uow.execute(insert_ignoring_duplicates(uow.backend, outbox_cursors),
                      {"org_id": org_id, "consumer": consumer, "high_id": start, "low_id": start,
                       "swept_at": clock.now()})
    if fresh:
        c = outbox_cursors.c
        await uow.execute(outbox_cursors.update().where(
            c.org_id == org_id, c.consumer == consumer, c.high_id < start).values(high_id=start, low_id=start))


@dataclass
class Relay:
    """One relay per worker: ``step()`` moves every org of every consumer forward by one batch."""

    uow_factory: Any  # () -> UnitOfWork
    consumers: Sequence[Consumer]
    window: timedelta = DEFAULT_WINDOW
    sweep_every: timedelta = DEFAULT_SWEEP_EVERY
    batch: int = BATCH

    async def step(self) -> int:
        """Hand over at most one batch per (consumer, org); the number of events handed over."""
        handed = 0
        for consumer in self.consumers:
            async with self.uow_factory().transaction() as uow:
                org_ids = await consumer.orgs(uow)
            for org_id in org_ids:
                handed += await self._org_step(consumer, org_id)
        return handed

    async def _org_step(self, consumer: Consumer, org_id: str) -> int:
        if not await self._has_work(consumer, org_id):
            return 0
        uow: UnitOfWork = self.uow_factory()
        async with uow.transaction(write=True):
            cursor = await self._claim_cursor(uow, consumer.name, org_id)
            if cursor is None:  # another worker has this org right now
                return 0
            handed = await self._fast_path(uow, consumer, org_id, cursor.high_id)
            if clock.now() - cursor.swept_at >= self.sweep_every:
                handed += await self._sweep(uow, consumer, org_id, cursor.low_id, cursor.high_id)
        return handed

    async def _has_work(self, consumer: Consumer, org_id: str) -> bool:
        """A cheap read first, so an idle worker never takes the write lock."""
        c = outbox_cursors.c
        async with self.uow_factory().transaction() as uow:
            cursor = (await uow.execute(sa.select(c.high_id, c.swept_at).where(
                c.org_id == org_id, c.consumer == consumer.name))).first()
            if cursor is None:
                return True
            if clock.now() - cursor.swept_at >= self.sweep_every:
                return True
            newer = await uow.execute(sa.select(events.c.id).where(
                events.c.org_id == org_id, events.c.id > cursor.high_id).limit(1))
            return newer.first() is not None

    async def _claim_cursor(self, uow: UnitOfWork, consumer: str, org_id: str) -> Any:
        c = outbox_cursors.c
        stmt = sa.select(outbox_cursors).where(c.org_id == org_id, c.consumer == consumer)
        cursor = (await uow.execute(stmt.with_for_update(skip_locked=True))).first()
        if cursor is None:
            exists = (await uow.execute(stmt)).first()
            if exists is not None:
                return None
            await ensure_cursor(uow, org_id, consumer, window=self.window)
            cursor = (await uow.execute(stmt.with_for_update(skip_locked=True))).first()
        return cursor

    async def _fast_path(self, uow: UnitOfWork, consumer: Consumer, org_id: str, high_id: str) -> int:
        rows = list(await uow.execute(sa.select(events).where(
            events.c.org_id == org_id, events.c.id > high_id).order_by(events.c.id).limit(self.batch)))
        if not rows:
            return 0
        await self._hand_over(uow, consumer, org_id, rows)
        c = outbox_cursors.c
        await uow.execute(outbox_cursors.update().where(c.org_id == org_id, c.consumer == consumer.name)
                          .values(high_id=rows[-1].id))
        return len(rows)

    async def _sweep(self, uow: UnitOfWork, consumer: Consumer, org_id: str, low_id: str, high_id: str) -> int:
        m = outbox_marks.c
        unmarked = ~sa.exists().where(m.org_id == org_id, m.consumer == consumer.name, m.event_id == events.c.id)
        rows = list(await uow.execute(sa.select(events).where(
            events.c.org_id == org_id, events.c.id > low_id, events.c.id <= high_id, unmarked,
        ).order_by(events.c.id).limit(self.batch)))
        if rows:
            log.info("outbox: %d late-committed event(s) of %s relayed to %s", len(rows), org_id, consumer.name)
            await self._hand_over(uow, consumer, org_id, rows)
        values: dict[str, Any] = {"swept_at": clock.now()}
        if len(rows) < self.batch:  # every straggler below high_id is handled: the floor may rise
            new_low = min(floor_id(clock.now() - self.window), high_id)
            if new_low > low_id:
                values["low_id"] = new_low
                await uow.execute(outbox_marks.delete().where(
                    m.org_id == org_id, m.consumer == consumer.name, m.event_id <= new_low))
        c = outbox_cursors.c
        await uow.execute(outbox_cursors.update().where(c.org_id == org_id, c.consumer == consumer.name)
                          .values(**values))
        return len(rows)

    async def _hand_over(self, uow: UnitOfWork, consumer: Consumer, org_id: str, rows: list[Any]) -> None:
        await uow.execute(insert_ignoring_duplicates(uow.backend, outbox_marks),
                          [{"org_id": org_id, "consumer": consumer.name, "event_id": r.id} for r in rows])
        await consumer.handle(uow, org_id, rows)
