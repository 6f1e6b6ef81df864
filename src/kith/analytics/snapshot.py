"""The nightly analytics snapshot (seed 004 §10 ``crm.analytics-snapshot``).

``take_snapshot(uow, org_id, day)`` writes one ``analytics_snapshots`` row per (org, day) and is
idempotent: running it again for the same day replaces that row (an upsert), so a retried or
repeated job never duplicates a point. The job scheduler (another slice) calls it nightly for the
day that just ended; nothing here schedules.

What a row holds, in the org currency (``kith.analytics.model.Converter``; currencies without a
rate are left out and listed in ``missing_rates``):
- stock figures, as they stand when the snapshot is taken: open deals (count), their value and
  weighted value (value × probability), over every pipeline;
- flow figures for the UTC ``day``: deals won and lost that day (by ``won_at`` / ``lost_at``,
  count and value), leads created that day and leads converted to a deal that day.
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from kith.analytics import repo
from kith.analytics.model import ZERO, Converter
from kith.analytics.repo import Scope
from kith.analytics.tables import analytics_snapshots
from kith.core import clock
from kith.core.outbox import upsert
from kith.core.uow import UnitOfWork
from kith.deals.repo import org_settings
from kith.deals.tables import deals
from kith.leads.tables import leads

d, ld = deals.c, leads.c


async def take_snapshot(uow: UnitOfWork, org_id: str, day: datetime.date) -> None:
    """Compute and upsert the org's snapshot for ``day`` (see the module docstring)."""
    async with uow.transaction(write=True):
        settings = await org_settings(uow, org_id)
        conv = Converter(settings.currency, await repo.rate_map(uow, org_id))
        row = {"org_id": org_id, "day": day, "currency": conv.base, "taken_at": clock.now(),
               **await _open(uow, org_id, conv), **await _closed(uow, Scope(org_id, day, day), conv),
               **await _leads(uow, Scope(org_id, day, day))}
        row["missing_rates"] = conv.missing_rates()
        keys = ("org_id", "day")
        await uow.execute(upsert(uow.backend, analytics_snapshots, keys, [k for k in row if k not in keys]), row)


async def _open(uow: UnitOfWork, org_id: str, conv: Converter) -> dict[str, Any]:
    q = (sa.select(d.currency, sa.func.count().label("n"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger)).label("value"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger) * d.probability).label("weighted"))
         .where(*repo.live_deals(Scope(org_id)), d.status == "open").group_by(d.currency))
    out: dict[str, Any] = {"open_count": 0, "pipeline_value": ZERO, "weighted_value": ZERO}
    for g in await uow.execute(q):
        if conv.has_rate(g.currency):
            out["open_count"] += int(g.n)
            out["pipeline_value"] += conv.convert(g.value, g.currency)
            out["weighted_value"] += conv.convert(g.weighted, g.currency, 10_000)
    return out


async def _closed(uow: UnitOfWork, scope: Scope, conv: Converter) -> dict[str, Any]:
    out: dict[str, Any] = {"won_count": 0, "won_value": ZERO, "lost_count": 0, "lost_value": ZERO}
    for status, stamp in (("won", d.won_at), ("lost", d.lost_at)):
        q = (sa.select(d.currency, sa.func.count().label("n"),
                       sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger)).label("value"))
             .where(*repo.live_deals(scope), d.status == status, *repo.within(stamp, scope)).group_by(d.currency))
        for g in await uow.execute(q):
            if conv.has_rate(g.currency):
                out[f"{status}_count"] += int(g.n)
                out[f"{status}_value"] += conv.convert(g.value, g.currency)
    return out


async def _leads(uow: UnitOfWork, scope: Scope) -> dict[str, int]:
    created = sa.select(sa.func.count()).where(ld.org_id == scope.org_id, *repo.within(ld.created_at, scope))
    converted = sa.select(sa.func.count()).where(ld.org_id == scope.org_id, ld.converted_to_deal_id.is_not(None),
                                                 *repo.within(ld.converted_at, scope))
    return {"leads_created": int((await uow.execute(created)).scalar_one()),
            "leads_converted": int((await uow.execute(converted)).scalar_one())}
