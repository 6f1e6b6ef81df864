"""The per-process broker: tails the events table and fans committed events out to this process's
subscribers, so an event made through any process reaches subscribers on every process.

Invariants kept here:
- The ``events`` table is the only source: an event is published once its transaction committed,
  whichever process made it. One tailer task per process serves every subscriber; it runs while
  the process has at least one subscriber and stops with the last one.
- Per org with subscribers, the tailer keeps ``high`` (the newest id read) and the ids seen in
  the last ``window``. The fast path reads ``id > high``. Ids are made before commit, so a
  transaction committing late can add an id below ``high``: every ``sweep_seconds`` the ids in
  ``(now - window, high]`` are read (ids only) and those never seen are published (the outbox's
  window, kith.core.outbox, kept in memory since a live feed needs no durable cursor).
- A new org is *primed*: its current ids are marked seen without being published, so a new
  subscriber gets what commits after it subscribed (older events only through ``Last-Event-ID``).
- Wake-ups: on PostgreSQL a ``LISTEN`` connection wakes the tailer when any process's
  transaction with events commits (``NOTIFY`` is sent inside that transaction, so it is delivered
  exactly when the commit happens), with a poll every ``sweep_seconds`` as a fallback; on SQLite
  the tailer polls every ``poll_seconds``. Commits in this process wake it at once.
- A subscriber that cannot keep up (``queue_size`` undelivered messages) is ended; it resumes
  with ``Last-Event-ID``. Nothing a slow subscriber does can block the tailer or other subscribers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kith.auth.model import Actor
from kith.core import clock
from kith.core import uow as uow_module
from kith.core.db import Database, Prepared
from kith.core.outbox import floor_id
from kith.core.uow import UnitOfWork
from kith.realtime import repo, sse
from kith.realtime.model import Channel, can_read, channels_for

log = logging.getLogger("kith.realtime")

NOTIFY_CHANNEL = "kith_events"
# Events read per org per query: one tick stays short however far behind the tailer is.
BATCH = 500
# Pause after an unexpected error (database down, …) before the tailer tries again.
ERROR_PAUSE_SECONDS = 1.0
# Undelivered messages a subscriber may have queued before it is ended (it resumes by Last-Event-ID).
DEFAULT_QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Message:
    id: str
    type: str
    channel: str
    text: bytes


class Subscription:
    """One open stream: its caller, its channels and the messages waiting to be sent."""

    def __init__(self, actor: Actor, channels: Sequence[Channel], queue_size: int) -> None:
        self.actor = actor
        self.channels = tuple(channels)
        self.queue_size = queue_size
        self.pending: collections.deque[Message] = collections.deque()
        self.ready = asyncio.Event()
        self.overflowed = False
        self.skip: set[str] = set()  # ids already sent by a replay

    def route(self, row: Any, owners: frozenset[str], on: frozenset[Channel] | None = None) -> Channel | None:
        """The first of this subscription's channels that carries ``row`` (published ``on`` those
        channels), if its caller may read it."""
        if not can_read(self.actor.roles, self.actor.team_ids, row.type, owners):
            return None
        if on is None:
            on = channels_for(row.org_id, row.type, owners)
        return next((c for c in self.channels if c in on), None)

    def offer(self, message: Message) -> None:
        if self.overflowed:
            return
        if len(self.pending) >= self.queue_size:
            self.overflowed = True
            self.pending.clear()
        else:
            self.pending.append(message)
        self.ready.set()

    async def next(self, timeout: float) -> Message | None:
        """The next message, or ``None`` after ``timeout`` seconds without one."""
        if not self.pending:
            self.ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.ready.wait()
        return self.pending.popleft() if self.pending else None


def encode(row: Any, channel: Channel) -> Message:
    body = {"id": row.id, "type": row.type, "created_at": row.occurred_at, "channel": channel.name,
            "data": row.data}
    return Message(row.id, row.type, channel.name, sse.message(row.id, row.type, body))


@dataclass
class _Cursor:
    high: str
    seen: set[str] = field(default_factory=set)
    swept: float = field(default_factory=time.monotonic)


_BROKERS: weakref.WeakSet[Broker] = weakref.WeakSet()


class Broker:
    def __init__(self, db: Database, *, poll_seconds: float = 0.2, sweep_seconds: float = 1.0,
                 window: timedelta = timedelta(seconds=60), queue_size: int = DEFAULT_QUEUE_SIZE,
                 listen: bool = True) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.sweep_seconds = sweep_seconds
        self.window = window
        self.queue_size = queue_size
        self.listen = listen and db.backend == "postgresql"
        self._subs: dict[str, set[Subscription]] = {}
        self._cursors: dict[str, _Cursor] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tailer: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = False
        _BROKERS.add(self)

    # --- subscribers ---------------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subs.values())

    @property
    def running(self) -> bool:
        return self._tailer is not None and not self._tailer.done()

    async def subscribe(self, actor: Actor, channels: Sequence[Channel]) -> Subscription:
        """Register a subscriber; it receives every matching event committed from now on."""
        sub = Subscription(actor, channels, self.queue_size)
        async with self._lock:
            if actor.org_id not in self._cursors:
                self._cursors[actor.org_id] = await self._prime(actor.org_id)
            self._subs.setdefault(actor.org_id, set()).add(sub)
            self._start()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub`` (idempotent); the tailer stops with the last subscriber."""
        subs = self._subs.get(sub.actor.org_id)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.actor.org_id]
            self._cursors.pop(sub.actor.org_id, None)
        if not self._subs:
            self._stop()

    async def close(self) -> None:
        """Stop the tailer and end every stream (app shutdown)."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.overflowed = True
                sub.ready.set()
        self._subs.clear()
        self._cursors.clear()
        tasks = [t for t in (self._tailer, self._listener) if t is not None]
        self._stop()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def wake(self) -> None:
        """Look for new events now (thread-safe: a commit may happen on another loop's thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                loop.call_soon_threadsafe(self._wake.set)

    # --- the tailer ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._tailer = asyncio.create_task(self._run(), name="kith-realtime-tailer")
        if self.listen:
            self._listener = asyncio.create_task(self._listen(), name="kith-realtime-listen")

    def _stop(self) -> None:
        for task in (self._tailer, self._listener):
            if task is not None and not task.done():
                task.cancel()
        self._tailer = self._listener = None
        self.listening = False

    async def _run(self) -> None:
        # ``while`` this task is still the broker's tailer: on Python 3.11 a cancellation that lands
        # as the awaited wake-up completes can be swallowed (asyncio.wait_for, and any library code
        # that turns it into an error caught below); ``_stop`` also clears ``_tailer``, so a stopped
        # tailer ends anyway instead of polling forever (and ``close()`` awaiting it for ever).
        me = asyncio.current_task()
        while self._tailer is me:
            timeout = self.sweep_seconds if self.listening else self.poll_seconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if self._tailer is not me:
                return
            self._wake.clear()
            try:
                if await self.tick():
                    self._wake.set()  # a full batch: more may be waiting
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime: reading events failed; retrying")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    async def tick(self) -> bool:
        """Publish what committed since the last tick; whether some org had a full batch."""
        full = False
        for org_id, cursor in list(self._cursors.items()):
            rows = await self._fresh(org_id, cursor)
            full = full or len(rows) >= BATCH
            if time.monotonic() - cursor.swept >= self.sweep_seconds:
                rows += await self._stragglers(org_id, cursor)
            if rows and self._cursors.get(org_id) is cursor:
                await self._dispatch(org_id, rows)
        return full

    async def _prime(self, org_id: str) -> _Cursor:
        floor = floor_id(clock.now() - self.window)
        async with UnitOfWork(self.db).transaction(autocommit=True) as uow:
            ids = await repo.event_ids_between(uow, org_id, floor, None)
        return _Cursor(high=ids[-1] if ids else floor, seen=set(ids))

    async def _fresh(self, org_id: str, cursor: _Cursor) -> list[Any]:
        async with UnitOfWork(self.db).transaction(autocommit=True) as uow:
            rows = await repo.events_after(uow, org_id, cursor.high, BATCH)
        rows = [r for r in rows if r.id not in cursor.seen]
        if rows:
            cursor.high = max(cursor.high, rows[-1].id)
            cursor.seen.update(r.id for r in rows)
        return rows

    async def _stragglers(self, org_id: str, cursor: _Cursor) -> list[Any]:
        """Events committed late with an id below ``high``, not yet published."""
        floor = floor_id(clock.now() - self.window)
        async with UnitOfWork(self.db).transaction(autocommit=True) as uow:
            ids = await repo.event_ids_between(uow, org_id, floor, cursor.high)
            missed = [i for i in ids if i not in cursor.seen]
            rows = await repo.events_by_ids(uow, org_id, missed[:BATCH])
        if rows:
            log.info("realtime: %d late-committed event(s) of %s published", len(rows), org_id)
        cursor.seen = {i for i in cursor.seen if i > floor}
        cursor.seen.update(r.id for r in rows)
        cursor.swept = time.monotonic()
        return rows

    async def _dispatch(self, org_id: str, rows: Sequence[Any]) -> None:
        subs = list(self._subs.get(org_id, ()))
        if not subs:
            return
        async with UnitOfWork(self.db).transaction(autocommit=True) as uow:
            owners = await repo.owners_of(uow, org_id, rows)
        publish(subs, rows, owners)

    async def _listen(self) -> None:
        """PostgreSQL: wake the tailer on every NOTIFY; reconnect after a lost connection."""
        import psycopg

        conninfo = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        me = asyncio.current_task()
        while self._listener is me:  # see ``_run``: a swallowed cancellation still ends a stopped listener
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening = True
                    self._wake.set()  # catch up with what committed while not listening
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("realtime: LISTEN connection lost; polling until it is back", exc_info=True)
            self.listening = False
            await asyncio.sleep(ERROR_PAUSE_SECONDS)


def publish(subs: Iterable[Subscription], rows: Sequence[Any], owners: dict[str, frozenset[str]]) -> None:
    """Offer each row to each subscriber that may see it (an event encoded once per channel)."""
    encoded: dict[tuple[str, Channel], Message] = {}
    published = [(row, owners[row.id], channels_for(row.org_id, row.type, owners[row.id])) for row in rows]
    for sub in subs:
        for row, owned_by, on in published:
            channel = sub.route(row, owned_by, on) if on else None
            if channel is None or row.id in sub.skip:
                continue
            key = (row.id, channel)
            if key not in encoded:
                encoded[key] = encode(row, channel)
            sub.offer(encoded[key])


# --- commit hook: announce committed events to every process ----------------------------------

async def _wake_local() -> None:
    for broker in list(_BROKERS):
        broker.wake()


_NOTIFY = Prepared(sa.select(sa.func.pg_notify(sa.bindparam("channel", type_=sa.String),
                                               sa.bindparam("payload", type_=sa.String))))


async def announce(uow: UnitOfWork) -> None:
    """Before a write transaction with events commits: NOTIFY other processes (PostgreSQL delivers
    it only if the commit succeeds) and wake this process's brokers once it has committed."""
    if uow.backend == "postgresql":
        for org_id in sorted({e["org_id"] for e in uow.recorded}):  # sent with the COMMIT
            await uow.send(_NOTIFY, {"channel": NOTIFY_CHANNEL, "payload": org_id})
    if _BROKERS:
        uow.after_commit(_wake_local)


if announce not in uow_module.BEFORE_COMMIT:
    uow_module.BEFORE_COMMIT.append(announce)
