"""Seed 002 pipeline state for bots: who an outreach bot may contact now.

A target is a live contact of the org with ``automation_enabled``, status ``active``, in the asked
stage, never contacted or last contacted before ``not_contacted_since``. Never-contacted contacts
come first (by id), then the longest-uncontacted (by ``last_contacted_at``, id); both groups are
read through ``ix_contacts_automation``.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from kith.activities.keyset import nullable_page
from kith.auth.access import visible_owner_ids
from kith.auth.model import Actor
from kith.contacts.service import KIND
from kith.contacts.tables import contacts
from kith.core.listing import Page
from kith.core.uow import UnitOfWork
from kith.records import crud


async def targets(uow: UnitOfWork, actor: Actor, *, stage: str, not_contacted_since: datetime | None,
                  limit: int, cursor: str | None) -> Page:
    c = contacts.c
    stmt = sa.select(*KIND.columns).where(c.org_id == actor.org_id, c.stage == stage,
                                          c.automation_enabled == sa.true(), c.status == "active",
                                          c.deleted_at.is_(None))
    owners = visible_owner_ids(actor, "contact")
    if owners is not None:
        stmt = stmt.where(c.owner_id.in_(sorted(owners)))
    since = c.last_contacted_at < not_contacted_since if not_contacted_since is not None else None
    return await nullable_page(uow, stmt, col=c.last_contacted_at, id_col=c.id, nulls_first=True,
                               sort="last_contacted_at", limit=limit, cursor=cursor, out=crud.out, value_cond=since)
