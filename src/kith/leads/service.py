"""Lead use cases. For now only ``open_lead``, which the contact verbs (capture) call inside their
own transaction; the lead routes and the rest of the lead machine come with their own issue."""

from __future__ import annotations

from typing import Any

from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.uow import UnitOfWork
from kith.leads.tables import leads
from kith.records import service as rec

LEAD_OUT = [c for c in leads.c if c.name != "org_id"]


async def open_lead(uow: UnitOfWork, actor: Actor, contact_id: str, title: str, source: str | None, *,
                    owner_id: str | None = None, score: int = 0) -> dict[str, Any]:
    """A new lead (status ``new``) for ``contact_id``, owned by ``owner_id`` (default: the actor).
    The caller has checked the contact exists in the actor's org; this checks ``lead:create``."""
    require(actor, "lead:create")
    now = clock.now()
    row: dict[str, Any] = {c.name: None for c in LEAD_OUT}
    row.update(id=ids.new("lead"), contact_id=contact_id, title=title[:200], source=source,
               owner_id=owner_id or actor.user_id, status="new", score=score, payload={},
               created_at=now, updated_at=now, version=1)
    async with uow.transaction(write=True):
        await uow.execute(leads.insert(), {"org_id": actor.org_id, **row})
        await uow.record(actor.org_id, "lead.created", subject_type="lead", subject_id=row["id"],
                         actor_id=actor.id, actor_type=actor.kind, refs=(contact_id,),
                         data={"after": {k: rec.jsonable(v) for k, v in row.items()}})
    return row
