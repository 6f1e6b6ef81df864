"""Lead use cases. For now only what the contact verbs (capture) call inside their own
transaction; the lead routes and the rest of the lead machine come with their own issue."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock, hooks, ids
from kith.core.uow import UnitOfWork
from kith.leads.tables import leads
from kith.records import service as rec

LEAD_OUT = [c for c in leads.c if c.name != "org_id"]

# A lead in one of these statuses is still being worked: a new capture from the same source joins it.
OPEN = ("new", "contacted", "qualified")


async def open_lead_for(uow: UnitOfWork, org_id: str, contact_id: str, source: str | None) -> dict[str, Any] | None:
    """The contact's oldest open lead from ``source``, if any. The caller holds the contact's lock."""
    t = leads.c
    q = (sa.select(*LEAD_OUT).where(t.org_id == org_id, t.contact_id == contact_id, t.status.in_(OPEN),
                                    t.source.is_(None) if source is None else t.source == source)
         .order_by(t.created_at, t.id).limit(1))
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


async def open_lead(uow: UnitOfWork, actor: Actor, contact_id: str, title: str, source: str | None, *,
                    owner_id: str | None = None, score: int = 0) -> dict[str, Any]:
    """A new lead (status ``new``) for ``contact_id``, owned by ``owner_id`` (default: the actor).
    The caller has checked the contact exists in the actor's org; this checks ``lead:create`` and
    runs the ``lead.create`` before-hooks and ``lead.created`` after-hooks."""
    require(actor, "lead:create")
    now = clock.now()
    row: dict[str, Any] = {c.name: None for c in LEAD_OUT}
    row.update(id=ids.new("lead"), contact_id=contact_id, title=title[:200], source=source,
               owner_id=owner_id or actor.user_id, status="new", score=score, payload={},
               created_at=now, updated_at=now, version=1)
    cmd = hooks.Command("lead.create", actor, None, {"contact_id": contact_id, "title": row["title"],
                                                     "source": source})
    async with uow.transaction(write=True):
        await hooks.run_before(cmd.verb, row, cmd)
        await uow.execute(leads.insert(), {"org_id": actor.org_id, **row})
        await uow.record(actor.org_id, "lead.created", subject_type="lead", subject_id=row["id"],
                         actor_id=actor.id, actor_type=actor.kind, refs=(contact_id,),
                         data={"after": {k: rec.jsonable(v) for k, v in row.items()}})
        hooks.run_after(uow, "lead.created", row, cmd)
    return row
