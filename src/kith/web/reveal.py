"""Show-once secrets across a redirect (POST-redirect-GET for "create key" forms).

A form that makes a secret (an API key, a webhook's or an automation's signing secret) must not
answer with the secret itself, or reloading the answer re-posts the form and makes another one.
Instead it *seals* the secret for the browser session and redirects to a GET page carrying only a
random reveal id (``?shown=…``); that page *takes* it, which deletes it, so a reload finds nothing
and says "already shown".

Invariants:
- The secret is never stored in clear and never put in a URL or a cookie. The row holds it XORed
  with an HMAC-SHA256 keystream keyed by the session's cookie token, which the server does not
  store (only its SHA-256): a database copy alone cannot open it, and another session cannot.
- The row is found by the SHA-256 of the reveal id plus the session, and taken at most once
  (``DELETE … RETURNING``); rows older than ``TTL`` are never shown and are swept on the next seal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kith.core import clock
from kith.core.db import JSONType, UTCDateTime, metadata
from kith.core.uow import UnitOfWork
from kith.web.sessions import token_id

TTL = timedelta(minutes=10)  # long enough to follow a redirect, short enough to leave nothing behind

web_reveals = sa.Table(
    "web_reveals",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 hex of the reveal id in the URL
    sa.Column("session_id", sa.String(64), nullable=False),  # web_sessions.id
    sa.Column("sealed", sa.Text, nullable=False),  # base64 of the secret XOR the session's keystream
    sa.Column("meta", JSONType, nullable=False),  # what the page says about it (names, ids): not secret
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_web_reveals_session", "org_id", "session_id"),
)


def _keystream(session_token: str, reveal_id: str, n: int) -> bytes:
    key = hmac.new(session_token.encode(), b"kith-reveal:" + reveal_id.encode(), hashlib.sha256).digest()
    blocks = (hmac.new(key, i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(n // 32 + 1))
    return b"".join(blocks)[:n]


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


async def seal(uow: UnitOfWork, org_id: str, session_token: str, secret: str, meta: dict[str, Any]) -> str:
    """Keep ``secret`` for this session's next page; the reveal id to put in that page's URL."""
    reveal_id = secrets.token_urlsafe(24)
    raw = secret.encode()
    sealed = base64.b64encode(_xor(raw, _keystream(session_token, reveal_id, len(raw)))).decode()
    now, sid = clock.now(), token_id(session_token)
    async with uow.transaction(write=True):
        await uow.execute(web_reveals.delete().where(web_reveals.c.org_id == org_id, web_reveals.c.session_id == sid,
                                                     web_reveals.c.expires_at < now))
        await uow.execute(web_reveals.insert(), {
            "org_id": org_id, "id": token_id(reveal_id), "session_id": sid, "sealed": sealed, "meta": meta,
            "expires_at": now + TTL})
    return reveal_id


async def take(uow: UnitOfWork, org_id: str, session_token: str, reveal_id: str) -> tuple[str, dict[str, Any]] | None:
    """The sealed secret and its meta, once; None when unknown, taken already, expired or another
    session's."""
    if not reveal_id or len(reveal_id) > 100:
        return None
    t = web_reveals.c
    stmt = (web_reveals.delete()
            .where(t.org_id == org_id, t.id == token_id(reveal_id), t.session_id == token_id(session_token))
            .returning(t.sealed, t.meta, t.expires_at))
    async with uow.transaction(write=True):
        row = (await uow.execute(stmt)).first()
    if row is None or row.expires_at <= clock.now():
        return None
    data = base64.b64decode(row.sealed)
    return _xor(data, _keystream(session_token, reveal_id, len(data))).decode(), dict(row.meta)
