"""Delivering webhooks: claim due deliveries, POST them signed, record each attempt.

Invariants:
- A claim is one short write transaction: due ``pending`` deliveries of enabled subscriptions are
  selected ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers) and their
  ``next_attempt_at`` pushed forward by the lease with a fresh ``lease_token``. So two workers never
  hold the same delivery at once, and a delivery whose worker died comes due again when its lease
  ends: nothing is lost, at worst it is delivered twice (receivers dedupe on ``Kith-Event-Id``).
- No transaction is open while a request is in flight.
- A result is written only if the lease token still matches (a worker that outlived its lease
  does not overwrite what the next one did); the attempt itself is always logged.
- Before every request the host is resolved and every address checked (private ones refused
  unless allowed), and the request goes to the checked address (no second lookup an attacker
  could answer differently). Redirects are never followed; only a 2xx answer delivers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from kith.config import Settings
from kith.core import clock, ids
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.http.responses import dumps
from kith.notifications.service import notify
from kith.webhooks import model
from kith.webhooks.sender import Key, Sender, SendError
from kith.webhooks.tables import webhook_attempts, webhook_deliveries, webhooks

log = logging.getLogger("kith.webhooks")
w, d = webhooks.c, webhook_deliveries.c

# Requests in flight at once per worker: a step claims no more than that and starts them all.
# Measured (docs/webhooks.md): 128 spreads a step's fixed database cost over 4x the deliveries of 32.
CONCURRENCY = 128
CLAIM_BATCH = CONCURRENCY
# Connections to one receiver (origin) at once: kind to a receiver, and enough to keep it busy.
PER_ORIGIN = 32
# A step's requests to one origin go through PER_ORIGIN connections: at worst this many rounds,
# each bounded by the timeout (counted from when a connection is free), so the lease covers them.
ROUNDS = -(-CLAIM_BATCH // PER_ORIGIN)
# Added to the request timeout for a claim's lease: the claim and the result's transaction.
LEASE_MARGIN_SECONDS = 5.0
# Bytes of a receiver's answer read (to keep the connection reusable); the rest is dropped.
MAX_ANSWER_BYTES = 64 * 1024
RESOLVE_TIMEOUT = 5.0
# Seconds allowed to open a connection (TCP + TLS); the whole attempt is bounded by the timeout.
CONNECT_TIMEOUT = 5.0


SIGNATURE, EVENT_ID = model.SIGNATURE_HEADER.encode(), model.EVENT_ID_HEADER.encode()
EVENT_TYPE, DELIVERY_ID = model.EVENT_TYPE_HEADER.encode(), model.DELIVERY_ID_HEADER.encode()


class Refused(Exception):
    """The target may not be called (private address, or its name does not resolve)."""


async def resolve(host: str, port: int, timeout: float = RESOLVE_TIMEOUT) -> list[str]:
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except (OSError, TimeoutError) as exc:
        raise Refused(f"{host} does not resolve ({exc.__class__.__name__})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, *, allow_private: bool) -> tuple[model.Target, str]:
    """The parsed target and the address to connect to; ``Refused`` when it may not be called."""
    try:
        target = model.parse_target(url)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    reason = model.refusal(target, [], allow_private=allow_private)  # loopback names, before any lookup
    if reason is not None:
        raise Refused(reason)
    addresses = [target.host] if target.is_ip_literal else await resolve(target.host, target.port)
    reason = model.refusal(target, addresses, allow_private=allow_private)
    if reason is not None:
        raise Refused(reason)
    return target, addresses[0]


@functools.lru_cache(maxsize=1024)
def request_target(url: str) -> str:
    """The path and query sent in the request line (``/`` when the URL has no path)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class Config:
    backoff: tuple[int, ...]
    timeout: float
    lease: float
    allow_private: bool
    disable_after: int

    @classmethod
    def from_settings(cls, s: Settings) -> Config:
        return cls(backoff=tuple(s.webhook_backoff), timeout=s.webhook_timeout_seconds,
                   lease=max(s.worker_lease_seconds,
                             RESOLVE_TIMEOUT + ROUNDS * s.webhook_timeout_seconds + LEASE_MARGIN_SECONDS),
                   allow_private=s.webhooks_allow_private, disable_after=s.webhook_disable_after)


@dataclass
class Result:
    claim: Any
    started_at: Any
    status_code: int | None = None
    latency_ms: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and model.is_success(self.status_code)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process (the system's trust store), shared by every worker's client."""
    return ssl.create_default_context()


def envelope(event: Any) -> dict[str, Any]:
    return {
        "id": event.id, "type": event.type, "created_at": event.occurred_at, "data": event.data,
        "org_id": event.org_id,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "actor": {"type": event.actor_type, "id": event.actor_id},
    }


@dataclass
class Deliverer:
    uow_factory: Any  # () -> UnitOfWork
    config: Config
    worker_id: str = field(default_factory=lambda: ids.token(6))
    sender: Sender | None = None
    _backlog: bool = field(default=False, init=False)
    _inflight: asyncio.Task[list[Result]] | None = field(default=None, init=False)

    def _sender(self) -> Sender:
        if self.sender is None:
            self.sender = Sender(tls=_tls_context(), per_origin=PER_ORIGIN, max_body=MAX_ANSWER_BYTES,
                                 connect_timeout=min(CONNECT_TIMEOUT, self.config.timeout),
                                 timeout=self.config.timeout)
        return self.sender

    async def aclose(self) -> None:
        try:
            await self.flush()
        except Exception:  # the leases run out and the batch is sent again: nothing is lost
            log.exception("recording the last webhook batch failed")
        if self.sender is not None:
            await self.sender.aclose()
            self.sender = None

    def __post_init__(self) -> None:
        self._sender()  # made up front: building a TLS context costs ~0.1 s, not to be paid in a timeout

    async def step(self) -> int:
        """Claim the next batch and start sending it, then record the batch started by the step before
        (its requests were in flight during this tick's database work); how many were claimed or
        recorded, so 0 only when nothing is due and nothing is in flight."""
        claims = await self.claim()
        previous, self._inflight = self._inflight, self._start(claims)
        if previous is None:
            return len(claims)
        results = await previous
        await self.record(results)
        return len(claims) + len(results)

    def _start(self, claims: list[Any]) -> asyncio.Task[list[Result]] | None:
        if not claims:
            return None

        async def send_all() -> list[Result]:
            return list(await asyncio.gather(*(self.send(c) for c in claims)))  # len(claims) <= CONCURRENCY

        return asyncio.create_task(send_all(), name="kith-webhook-batch")

    async def flush(self) -> int:
        """Wait for the batch in flight and record it (stopping: its leases need not run out)."""
        previous, self._inflight = self._inflight, None
        if previous is None:
            return 0
        results = await previous
        await self.record(results)
        return len(results)

    async def claim(self) -> list[Any]:
        now = clock.now()
        # The status as a literal, so that SQLite's planner may use the partial index
        # ix_webhook_deliveries_due (WHERE status = 'pending'); a bound parameter would not match it.
        due = sa.and_(d.status == sa.literal_column("'pending'"), d.next_attempt_at <= now)
        uow: UnitOfWork = self.uow_factory()
        # A read first: the worker ticks often, and an idle tick must not take SQLite's write lock.
        # Skipped while draining a backlog (the last claim was full): there is surely more.
        if not self._backlog:
            async with uow.transaction():
                if (await uow.execute(sa.select(d.id).where(due).limit(1))).first() is None:
                    return []
        q = (sa.select(d.org_id, d.id, d.webhook_id, d.attempts, w.url, w.secret, events)
             .join(webhooks, sa.and_(w.org_id == d.org_id, w.id == d.webhook_id))
             .join(events, sa.and_(events.c.org_id == d.org_id, events.c.id == d.event_id))
             .where(due, w.enabled.is_(True))
             .order_by(d.next_attempt_at).limit(CLAIM_BATCH)
             .with_for_update(of=webhook_deliveries, skip_locked=True))
        token = ids.token(12)
        uow = self.uow_factory()
        async with uow.transaction(write=True):
            claims = [_Claim(r, token) for r in await uow.execute(q)]
            by_org: dict[str, list[str]] = defaultdict(list)
            for c in claims:
                by_org[c.org_id].append(c.delivery_id)
            until = now + timedelta(seconds=self.config.lease)
            for org_id, delivery_ids in by_org.items():
                await uow.execute(webhook_deliveries.update().where(d.org_id == org_id, d.id.in_(delivery_ids))
                                  .values(next_attempt_at=until, lease_token=token, updated_at=now))
        self._backlog = len(claims) == CLAIM_BATCH
        return claims

    async def send(self, c: Any) -> Result:
        started = clock.now()
        t0 = time.perf_counter()
        result = Result(c, started)
        try:  # the sender bounds the request by the timeout once a connection to the origin is free
            result.status_code = await self._post(c)
        except Refused as exc:
            result.error = f"refused: {exc}"
        except TimeoutError:
            result.error = f"timed out after {self.config.timeout:g} s"
        except SendError as exc:
            result.error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        except OSError as exc:
            result.error = f"{exc.__class__.__name__}: {exc}"
        result.latency_ms = int((time.perf_counter() - t0) * 1000)
        if result.status_code is not None and not result.ok:
            result.error = f"HTTP {result.status_code}"
        if result.error:
            result.error = result.error[:500]
        return result

    async def _post(self, c: _Claim) -> int:
        target, address = await check_url(c.url, allow_private=self.config.allow_private)
        body = dumps(envelope(c.event))
        timestamp = int(clock.now().timestamp())
        headers = [
            (b"Content-Type", b"application/json"),
            (SIGNATURE, model.signature_header(c.secret, timestamp, body).encode()),
            (EVENT_ID, c.event.id.encode()),
            (EVENT_TYPE, c.event.type.encode()),
            (DELIVERY_ID, c.delivery_id.encode()),
        ]
        # connect to the address that was checked (the sender compares the peer with it)
        key = Key(target.scheme, target.host, target.port, address)
        answer = await self._sender().post(key, request_target(c.url), headers, body)
        return answer.status

    async def record(self, results: Sequence[Result]) -> None:
        now = clock.now()
        uow: UnitOfWork = self.uow_factory()
        async with uow.transaction(write=True):
            await uow.execute(webhook_attempts.insert(), [{
                "org_id": r.claim.org_id, "id": ids.new("attempt"), "delivery_id": r.claim.delivery_id,
                "number": r.claim.attempts + 1, "started_at": r.started_at, "status_code": r.status_code,
                "latency_ms": r.latency_ms, "error": r.error} for r in results])
            held = await self._mark_succeeded(uow, [r for r in results if r.ok], now)
            held |= {r.claim.delivery_id for r in results if not r.ok and await self._update_delivery(uow, r, now)}
            streaks: dict[tuple[str, str], list[bool]] = defaultdict(list)
            for r in results:
                if r.claim.delivery_id in held:  # a worker that outlived its lease changes nothing
                    streaks[(r.claim.org_id, r.claim.webhook_id)].append(r.ok)
            for (org_id, webhook_id), oks in streaks.items():
                await self._update_health(uow, org_id, webhook_id, oks, now)

    async def _mark_succeeded(self, uow: UnitOfWork, ok: list[Result], now: Any) -> set[str]:
        """The common case in one statement (executemany); the ids whose lease was still ours."""
        if not ok:
            return set()
        tokens = {r.claim.delivery_id: r.claim.token for r in ok}
        rows = await uow.execute(sa.select(d.id, d.lease_token).where(d.id.in_(list(tokens))))
        held = {row.id for row in rows if row.lease_token == tokens[row.id]}
        mine = [r for r in ok if r.claim.delivery_id in held]
        if mine:
            stmt = webhook_deliveries.update().where(
                d.org_id == sa.bindparam("b_org"), d.id == sa.bindparam("b_id"),
                d.lease_token == sa.bindparam("b_token"),
            ).values(status="succeeded", attempts=sa.bindparam("b_attempts"), lease_token=None, updated_at=now,
                     delivered_at=now, last_status_code=sa.bindparam("b_code"), last_error=None,
                     last_latency_ms=sa.bindparam("b_latency"))
            await uow.execute(stmt, [{"b_org": r.claim.org_id, "b_id": r.claim.delivery_id, "b_token": r.claim.token,
                                      "b_attempts": r.claim.attempts + 1, "b_code": r.status_code,
                                      "b_latency": r.latency_ms} for r in mine])
        return held

    async def _update_delivery(self, uow: UnitOfWork, r: Result, now: Any) -> bool:
        attempts = r.claim.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_token": None, "updated_at": now,
                                  "last_status_code": r.status_code, "last_error": r.error,
                                  "last_latency_ms": r.latency_ms}
        if r.ok:
            values.update(status="succeeded", delivered_at=now)
        else:
            delay = model.next_delay(self.config.backoff, attempts)
            if delay is None:
                values["status"] = "failed"
            else:
                values["next_attempt_at"] = now + timedelta(seconds=delay)
        done = await uow.execute(webhook_deliveries.update().where(
            d.org_id == r.claim.org_id, d.id == r.claim.delivery_id, d.lease_token == r.claim.token,
        ).values(**values))
        return bool(done.rowcount)

    async def _update_health(self, uow: UnitOfWork, org_id: str, webhook_id: str, oks: list[bool],
                             now: Any) -> None:
        """One success resets the subscription's failure streak; failures extend it."""
        where = sa.and_(w.org_id == org_id, w.id == webhook_id)
        if any(oks):
            trailing = len(oks) - 1 - max(i for i, ok in enumerate(oks) if ok)
            await uow.execute(webhooks.update().where(where).values(consecutive_failures=trailing))
            return
        await uow.execute(webhooks.update().where(where).values(
            consecutive_failures=w.consecutive_failures + len(oks)))
        q = sa.select(w.enabled, w.consecutive_failures, w.created_by, w.url).where(where)
        row = (await uow.execute(q)).first()
        if row is not None and row.enabled and model.should_disable(row.consecutive_failures,
                                                                    self.config.disable_after):
            await self._disable(uow, org_id, webhook_id, row, now)

    async def _disable(self, uow: UnitOfWork, org_id: str, webhook_id: str, row: Any, now: Any) -> None:
        reason = f"{row.consecutive_failures} consecutive failed attempts"
        await uow.execute(webhooks.update().where(w.org_id == org_id, w.id == webhook_id).values(
            enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now,
            version=w.version + 1))
        data = {"failures": row.consecutive_failures, "threshold": self.config.disable_after, "url": row.url}
        await uow.record(org_id, "webhook.disabled", subject_type="webhook", subject_id=webhook_id,
                         actor_id=None, actor_type="system", data=data)
        await notify(uow, org_id, row.created_by, "webhook.disabled",
                     f"Webhook to {row.url} was disabled after {reason}",
                     subject_type="webhook", subject_id=webhook_id, data=data)
        log.warning("webhook %s of %s disabled: %s", webhook_id, org_id, reason)


class _Claim:
    """One claimed delivery with its subscription's url/secret and the event to send."""

    __slots__ = ("org_id", "delivery_id", "webhook_id", "attempts", "url", "secret", "event", "token")

    def __init__(self, row: Any, token: str) -> None:
        m = row._mapping
        self.org_id, self.delivery_id, self.webhook_id = m[d.org_id], m[d.id], m[d.webhook_id]
        self.attempts, self.url, self.secret = m[d.attempts], m[w.url], m[w.secret]
        self.event = _Event(m)
        self.token = token


class _Event:
    __slots__ = ("org_id", "id", "type", "subject_type", "subject_id", "actor_type", "actor_id",
                 "occurred_at", "data")

    def __init__(self, m: Any) -> None:
        e = events.c
        self.org_id: str = m[e.org_id]
        self.id: str = m[e.id]
        self.type: str = m[e.type]
        self.subject_type: str = m[e.subject_type]
        self.subject_id: str = m[e.subject_id]
        self.actor_type: str = m[e.actor_type]
        self.actor_id: str | None = m[e.actor_id]
        self.occurred_at: Any = m[e.occurred_at]
        self.data: Any = m[e.data]
