"""A record's timeline: the events indexed under it, newest first, keyset-paginated by event id."""

from __future__ import annotations

import sqlalchemy as sa

from kith.auth.access import check_record
from kith.auth.model import Actor
from kith.core.errors import BadRequest, FieldError, NotFound
from kith.core.events import event_refs, events
from kith.core.listing import Page
from kith.core.uow import UnitOfWork
from kith.records import crud


async def for_record(uow: UnitOfWork, actor: Actor, kind: crud.Kind, record_id: str, *, limit: int,
                     cursor: str | None) -> Page:
    if cursor is not None and not cursor.startswith("evt_"):
        raise BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])
    t = kind.table
    async with uow.transaction():
        row = (await uow.execute(sa.select(t.c.owner_id).where(
            t.c.org_id == actor.org_id, t.c.id == record_id, t.c.deleted_at.is_(None)))).first()
        if row is None:
            raise NotFound(f"{kind.name} {record_id!r} does not exist", extra={"id": record_id})
        check_record(actor, f"{kind.resource}:read", row.owner_id, kind=kind.name, record_id=record_id)
        q = (sa.select(events.c.id, events.c.type, events.c.subject_type, events.c.subject_id,
                       events.c.actor_type, events.c.actor_id, events.c.occurred_at, events.c.data)
             .select_from(event_refs.join(events, sa.and_(events.c.org_id == event_refs.c.org_id,
                                                          events.c.id == event_refs.c.event_id)))
             .where(event_refs.c.org_id == actor.org_id, event_refs.c.record_id == record_id))
        if cursor is not None:
            q = q.where(event_refs.c.event_id < cursor)
        rows = [dict(r._mapping) for r in await uow.execute(q.order_by(event_refs.c.event_id.desc()).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1]["id"] if more else None)
