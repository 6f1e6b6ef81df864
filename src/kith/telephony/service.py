"""Inbound telephony (seed 004 §11): each signed call becomes one ``call`` activity on the contact
with that phone number.

Invariants:
- Nothing is read from the body before the signature checks out (401 otherwise), so an
  unauthenticated caller learns nothing, and the org's secret never leaves this module but once,
  in the answer that creates or rotates it.
- One call id, one activity: the ``telephony_calls`` row and the activity commit together, and a
  repeat (or a concurrent duplicate) answers the first call's activity (``duplicate: true``).
- The contact is the live contact whose phone or mobile key equals the other party's number
  (the caller for inbound calls, the callee for outbound ones), the oldest when several share it.
  No match: the call is still logged, as an activity with no contact (``matched: false``), so a
  person can link it later; no contact is created from a bare number.
- The activity is logged through the activities service as the system, on behalf of the agent
  when the agent is a user of the org, so outbound calls move ``last_contacted_at`` (and contact
  ``new`` leads) like any outbound activity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from kith.activities.schemas import ActivityCreate
from kith.activities.service import log_activity
from kith.auth.access import require
from kith.auth.model import Actor
from kith.contacts.tables import contacts
from kith.core import clock, ids
from kith.core.errors import Conflict, Unauthorized, invalid
from kith.core.outbox import upsert
from kith.core.uow import UnitOfWork
from kith.orgs.tables import users
from kith.telephony import model
from kith.telephony.schemas import CallIn
from kith.telephony.tables import telephony_calls, telephony_secrets

PERMISSION = "org:manage"
HOOK_PATH = "/hooks/telephony"
# How far in the future a call may say it started (clocks differ); later is refused as a bad body.
CLOCK_SKEW = timedelta(minutes=5)

t, c = telephony_calls.c, contacts.c


def hook_url(org_id: str) -> str:
    return f"{HOOK_PATH}?org_id={org_id}"


async def rotate_secret(uow: UnitOfWork, actor: Actor) -> dict[str, Any]:
    """Create or replace the org's signing secret; the old one stops at once. Shown only here."""
    require(actor, PERMISSION)
    now, secret = clock.now(), f"tlsec_{ids.token(24)}"
    async with uow.transaction(write=True):
        await uow.execute(upsert(uow.backend, telephony_secrets, ["org_id"], ["secret", "created_by", "created_at"]), {
            "org_id": actor.org_id, "secret": secret, "created_by": actor.user_id, "created_at": now})
        await uow.record(actor.org_id, "telephony.secret-rotated", subject_type="org", subject_id=actor.org_id,
                         actor_id=actor.id, actor_type=actor.kind, data={})
    return {"secret": secret, "created_at": now, "url": hook_url(actor.org_id)}


async def authenticate(uow: UnitOfWork, org_id: str | None, header: str | None, body: bytes) -> str:
    """The org id when the request is signed with its secret and fresh; else ``Unauthorized``
    (an unknown org and an org without a secret answer alike)."""
    if not org_id or len(org_id) > 40:
        raise Unauthorized(f"name the org: {HOOK_PATH}?org_id=<org id>")
    async with uow.transaction(autocommit=True):
        secret = (await uow.execute(sa.select(telephony_secrets.c.secret).where(
            telephony_secrets.c.org_id == org_id))).scalar_one_or_none()
    if secret is None:
        raise Unauthorized("no telephony secret for this org: create one with POST /api/v1/telephony/secret")
    why = model.check_signature(secret, header, body, int(clock.now().timestamp()))
    if why is not None:
        raise Unauthorized(why)
    return org_id


def _other_party(call: CallIn) -> str:
    field, raw = ("from", call.from_) if call.direction == "inbound" else ("to", call.to)
    number = model.e164(raw)
    if number is None:
        raise invalid(field, "write the number internationally, e.g. +15550102030 (E.164)")
    return number


async def log_call(uow: UnitOfWork, org_id: str, call: CallIn) -> tuple[dict[str, Any], bool]:
    """Log the call (see the module docstring); ``(answer, created)``."""
    number = _other_party(call)
    if call.started_at > clock.now() + CLOCK_SKEW:
        raise invalid("started_at", "the call cannot start in the future")
    try:
        async with uow.transaction(write=True):
            seen = await _seen(uow, org_id, call.call_id)
            if seen is not None:
                return seen, False
            contact_id = await _match(uow, org_id, model.match_key(number))
            agent_id = await _agent(uow, org_id, call)
            activity = await log_activity(uow, Actor.system(org_id), _activity(call, number, contact_id),
                                          extra=_extra(call, agent_id))
            await uow.execute(telephony_calls.insert(), {
                "org_id": org_id, "call_id": call.call_id, "activity_id": activity["id"], "contact_id": contact_id,
                "direction": call.direction, "number": number, "status": call.status, "received_at": clock.now()})
    except Conflict:  # the same call id, sent twice at once: the other request logged it
        async with uow.transaction():
            seen = await _seen(uow, org_id, call.call_id)
        if seen is None:
            raise
        return seen, False
    return _out(call.call_id, activity["id"], contact_id, duplicate=False), True


def _out(call_id: str, activity_id: str, contact_id: str | None, *, duplicate: bool) -> dict[str, Any]:
    return {"call_id": call_id, "activity_id": activity_id, "contact_id": contact_id,
            "matched": contact_id is not None, "duplicate": duplicate}


async def _seen(uow: UnitOfWork, org_id: str, call_id: str) -> dict[str, Any] | None:
    row = (await uow.execute(sa.select(t.activity_id, t.contact_id).where(
        t.org_id == org_id, t.call_id == call_id))).first()
    return None if row is None else _out(call_id, row.activity_id, row.contact_id, duplicate=True)


async def _match(uow: UnitOfWork, org_id: str, key: str) -> str | None:
    """The oldest live contact with this phone or mobile key (two index lookups)."""
    found: list[str] = []
    for column in (c.phone_key, c.mobile_key):
        q = sa.select(c.id).where(c.org_id == org_id, column == key, c.deleted_at.is_(None)).order_by(c.id).limit(1)
        found.extend((await uow.execute(q)).scalars())
    return min(found) if found else None


async def _agent(uow: UnitOfWork, org_id: str, call: CallIn) -> str | None:
    """The org's active user the call names (by id, else by email); ``None`` when it names nobody."""
    u = users.c
    for column, value in ((u.id, call.agent_user_id), (u.email, (call.agent_email or "").lower() or None)):
        if value is not None:
            found = (await uow.execute(sa.select(u.id).where(u.org_id == org_id, column == value,
                                                             u.is_active.is_(True)))).scalar_one_or_none()
            if found is not None:
                return str(found)
    return None


def _activity(call: CallIn, number: str, contact_id: str | None) -> ActivityCreate:
    minutes, seconds = divmod(call.duration_seconds, 60)
    preposition = "from" if call.direction == "inbound" else "to"
    subject = f"{call.direction.title()} call {preposition} {number} ({call.status}, {minutes}m{seconds:02d}s)"
    return ActivityCreate(
        type="call", subject=subject, body=call.notes, outcome=call.status, channel="phone",
        direction=call.direction, occurred_at=call.started_at, contact_id=contact_id,
        metadata={"telephony": {"call_id": call.call_id, "from": call.from_, "to": call.to, "number": number,
                                "status": call.status, "duration_seconds": call.duration_seconds,
                                "recording_url": call.recording_url, "agent_email": call.agent_email,
                                "agent_user_id": call.agent_user_id, "matched": contact_id is not None}})


def _extra(call: CallIn, agent_id: str | None) -> dict[str, Any]:
    """A call is a fact, complete when it ended (not later than now: a clock ahead of ours would
    otherwise leave it a to-do)."""
    ended: datetime = min(call.started_at + timedelta(seconds=call.duration_seconds), clock.now())
    extra: dict[str, Any] = {"completed_at": max(ended, call.started_at)}
    if agent_id is not None:
        extra["actor_id"] = agent_id
    return extra
