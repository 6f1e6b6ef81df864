"""The org's currency rates (``org:manage``): read them, replace them all. Only ``put_rates`` writes
``currency_rates``; it records ``currency_rates.updated`` with the rates before and after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kith.analytics import repo
from kith.analytics.model import rate_text
from kith.analytics.schemas import RatesPut
from kith.analytics.tables import currency_rates
from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import invalid
from kith.core.uow import UnitOfWork
from kith.deals.repo import org_settings


async def get_rates(uow: UnitOfWork, actor: Actor) -> dict[str, Any]:
    require(actor, "org:manage")
    async with uow.transaction():
        settings = await org_settings(uow, actor.org_id)
        rows = await repo.rates(uow, actor.org_id)
    return {"currency": settings.currency, "rates": rows}


async def put_rates(uow: UnitOfWork, actor: Actor, body: RatesPut) -> dict[str, Any]:
    """Replace the table. A rate that did not change keeps its ``updated_at``."""
    require(actor, "org:manage")
    async with uow.transaction(write=True):
        settings = await org_settings(uow, actor.org_id)
        own = body.rates.get(settings.currency)
        if own is not None and own != Decimal(1):
            raise invalid(f"rates.{settings.currency}", f"{settings.currency} is the org currency: its rate is 1")
        before = {r["currency"]: r for r in await repo.rates(uow, actor.org_id)}
        wanted = {c: rate_text(v) for c, v in body.rates.items() if c != settings.currency}
        now = clock.now()
        rows = [{"org_id": actor.org_id, "currency": c, "rate": text,
                 "updated_at": before[c]["updated_at"] if c in before and before[c]["rate"] == text else now}
                for c, text in sorted(wanted.items())]
        old = {c: r["rate"] for c, r in before.items()}
        if old != wanted:
            await uow.execute(currency_rates.delete().where(currency_rates.c.org_id == actor.org_id))
            await uow.insert(currency_rates, rows)
            await uow.record(actor.org_id, "currency_rates.updated", subject_type="org", subject_id=actor.org_id,
                             actor_id=actor.id, actor_type=actor.kind, data={"before": old, "after": wanted})
    return {"currency": settings.currency,
            "rates": [{k: r[k] for k in ("currency", "rate", "updated_at")} for r in rows]}
