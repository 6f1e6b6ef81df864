"""The webhook consumer of the outbox relay: one pending delivery per (enabled subscription,
matching event), written in the relay's transaction, so each event is fanned out exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kith.core import clock, ids
from kith.core.uow import UnitOfWork
from kith.webhooks.model import matches
from kith.webhooks.tables import webhook_deliveries, webhooks

CONSUMER = "webhooks"


class WebhookConsumer:
    name = CONSUMER

    async def orgs(self, uow: UnitOfWork) -> list[str]:
        q = sa.select(webhooks.c.org_id).where(webhooks.c.enabled.is_(True)).distinct()
        return [r.org_id for r in await uow.execute(q)]

    async def handle(self, uow: UnitOfWork, org_id: str, rows: Sequence[Any]) -> None:
        subs = list(await uow.execute(sa.select(webhooks.c.id, webhooks.c.events, webhooks.c.active_since).where(
            webhooks.c.org_id == org_id, webhooks.c.enabled.is_(True))))
        now = clock.now()
        deliveries = [
            {"org_id": org_id, "id": ids.new("delivery"), "webhook_id": s.id, "event_id": e.id,
             "event_type": e.type, "status": "pending", "attempts": 0, "next_attempt_at": now,
             "created_at": now, "updated_at": now}
            for e in rows for s in subs
            if e.occurred_at >= s.active_since and matches(s.events, e.type)
        ]
        if deliveries:
            await uow.execute(webhook_deliveries.insert(), deliveries)
