"""Cookie sessions for the web app: login (argon2), the session's actor, logout.

Invariants:
- The cookie holds a random 256-bit token; only its SHA-256 is stored (``web_sessions.id``), so a
  database leak yields no usable session.
- Every session carries its own CSRF token (synchronizer token): forms echo it in ``csrf_token``,
  ``fetch`` calls in ``X-CSRF-Token``. It is compared in constant time.
- The session's user, roles and team are read on every request, like API keys: deactivating a
  user or changing roles takes effect at once. An expired session is refused (and deleted).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import sqlalchemy as sa

from kith.auth import keys
from kith.auth.model import Actor
from kith.core import clock
from kith.core.db import Database, Prepared
from kith.core.errors import FieldError, Unauthorized, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.core.validate import normalise_email
from kith.orgs.tables import orgs, users
from kith.web.tables import web_sessions

COOKIE = "kith_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
# A password hash computed for unknown emails, so a miss costs the same time as a wrong password.
_DUMMY_HASH = keys.hash_password("not a real password")


@dataclass(frozen=True)
class WebSession:
    token: str
    csrf_token: str
    expires_at: datetime
    remember: bool


@dataclass(frozen=True)
class SessionActor:
    actor: Actor
    csrf_token: str
    user_name: str
    user_email: str
    org_name: str


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


_BY_EMAIL = (sa.select(users.c.org_id, users.c.id, users.c.password_hash, users.c.is_active, orgs.c.name)
             .select_from(users.join(orgs, orgs.c.id == users.c.org_id)))


async def _verify(password_hash: str | None, password: str) -> bool:
    return await anyio.to_thread.run_sync(keys.verify_password, password_hash or _DUMMY_HASH, password)


async def login(db: Database, email: str, password: str, *, org: str | None = None, remember: bool = False,
                session_hours: float = 12.0, remember_days: float = 30.0) -> WebSession:
    """A new session for the active user with this email and password (in ``org`` when the email
    has accounts in several orgs); ``Unauthorized`` otherwise, with no hint of which part failed."""
    refused = Unauthorized("the email or password is not right")
    try:
        email = normalise_email(email)
    except ValueError:
        await _verify(None, password)
        raise refused from None
    uow = UnitOfWork(db)
    q = _BY_EMAIL.where(users.c.email == email)
    if org:
        q = q.where(sa.or_(orgs.c.id == org, orgs.c.name == org))
    async with uow.transaction():
        candidates = (await uow.execute(q.order_by(users.c.org_id).limit(20))).all()
    # Verify before looking at is_active, and against a dummy hash when no account matches, so
    # the response time does not tell an unknown or deactivated email from a wrong password.
    matches = [c for c in candidates if await _verify(c.password_hash, password) and c.is_active]
    if not candidates:
        await _verify(None, password)
    if not matches:
        raise refused
    if len(matches) > 1:
        raise ValidationFailed("this email has accounts in several orgs: give the org's name",
                               errors=[FieldError("org", "give the org's name")])
    user = matches[0]
    now = clock.now()
    expires = now + (timedelta(days=remember_days) if remember else timedelta(hours=session_hours))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with uow.transaction(write=True):
        await uow.execute(web_sessions.insert(), {
            "org_id": user.org_id, "id": token_id(token), "user_id": user.id, "csrf_token": csrf,
            "remember": remember, "created_at": now, "expires_at": expires})
        # Sweep this user's expired sessions: the table stays as small as the set of live ones.
        await uow.execute(web_sessions.delete().where(
            web_sessions.c.org_id == user.org_id, web_sessions.c.user_id == user.id,
            web_sessions.c.expires_at < now))
    return WebSession(token=token, csrf_token=csrf, expires_at=expires, remember=remember)


# The session, its user and org, and one row per user they manage (``member_id`` null when none):
# the team comes with the lookup, in one statement (as ``orgs.authenticate`` does for API keys).
_members = users.alias("members")
_LOOKUP = Prepared(
    sa.select(web_sessions.c.org_id, web_sessions.c.csrf_token, web_sessions.c.expires_at, users.c.id,
              users.c.roles, users.c.is_active, users.c.name, users.c.email, orgs.c.name.label("org_name"),
              _members.c.id.label("member_id"))
    .select_from(web_sessions
                 .join(users, sa.and_(users.c.org_id == web_sessions.c.org_id, users.c.id == web_sessions.c.user_id))
                 .join(orgs, orgs.c.id == web_sessions.c.org_id)
                 .outerjoin(_members, sa.and_(_members.c.org_id == users.c.org_id,
                                              _members.c.manager_id == users.c.id)))
    .where(web_sessions.c.id == sa.bindparam("sid")))


async def session_actor(db: Database, token: str) -> SessionActor:
    """The actor behind a session cookie; ``Unauthorized`` when unknown, expired or deactivated."""
    if not token or len(token) > 200:
        raise Unauthorized("the session is not valid: log in again")
    sid = token_id(token)
    uow = UnitOfWork(db)
    async with uow.transaction(autocommit=True):
        found = await uow.rows(_LOOKUP, {"sid": sid})
        row = found[0] if found else None
        if row is None or not row["is_active"]:
            raise Unauthorized("the session is not valid: log in again")
        if row["expires_at"] <= clock.now():
            raise Unauthorized("the session has expired: log in again")
        # The team (the user plus the people they manage) for every role, as API-key actors get it.
        team = frozenset([row["id"], *(r["member_id"] for r in found if r["member_id"] is not None)])
    actor = Actor(org_id=row["org_id"], user_id=row["id"], roles=frozenset(row["roles"]), team_ids=team)
    return SessionActor(actor=actor, csrf_token=row["csrf_token"], user_name=row["name"], user_email=row["email"],
                        org_name=row["org_name"])


async def logout(db: Database, token: str) -> None:
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        await uow.execute(web_sessions.delete().where(web_sessions.c.id == token_id(token)))
