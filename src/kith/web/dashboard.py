"""The dashboard: my open tasks and overdue follow-ups, the pipeline funnel and forecast (SVG),
rotting deals and recent activity; a manager sees the team.

The funnel and forecast come from the analytics service when the role may read analytics; a
role that may not (sales-rep) gets its funnel computed from the open deals it can see. Every
figure goes through a service, so a rep's dashboard shows only the rep's team's records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from starlette.responses import Response

from kith.activities import service as activities
from kith.analytics import service as analytics
from kith.auth.access import visible_owner_ids
from kith.auth.permissions import Grant, grant
from kith.core import clock
from kith.core.errors import KithError
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals as deals_table
from kith.orgs import service as orgs
from kith.pipelines import service as pipelines
from kith.web import svg
from kith.web.render import Web, render, web_router
from kith.web.sessions import SessionActor

router = web_router()
ROTTING = 20  # rotting deals listed, longest in their stage first
FORECAST_MONTHS = 12  # the forecast chart: this month and the next 11


def _has(who: SessionActor, permission: str) -> bool:
    return grant(who.actor.roles, permission) is not Grant.NONE


async def _deal_figures(uow: UnitOfWork, who: SessionActor) -> dict[str, Any]:
    """Rotting deals, the fallback funnel and per-owner open figures over every open deal the
    actor may read: two GROUP BYs and one LIMIT-ed read, whatever the number of open deals."""
    plist = await pipelines.list_pipelines(uow, who.actor)
    stages = {s["id"]: s for p in plist for s in p["stages"]}
    d = deals_table.c
    live = [d.org_id == who.actor.org_id, d.status == "open", d.deleted_at.is_(None)]
    owners = visible_owner_ids(who.actor, "deal")
    if owners is not None:
        live.append(d.owner_id.in_(sorted(owners)))
    cents = sa.type_coerce(d.amount, sa.BigInteger)
    counts: dict[str | None, int] = defaultdict(int)
    values: dict[str | None, Decimal] = defaultdict(Decimal)
    now = clock.now()
    # A deal rots when it has sat in its stage longer than the stage's rot period: one condition per
    # open stage, read oldest move first through ix_deals_open_moved.
    # A stage without a period of its own uses the org's (as the deal-rotting job and the board do).
    default_days = (await orgs.get_org(uow, who.actor))["settings"]["rot_period_days"]
    cutoffs = [sa.and_(d.stage_id == sid,
                       d.stage_changed_at < now - timedelta(days=s.get("rot_period_days") or default_days))
               for sid, s in stages.items() if not s.get("outcome")]
    rotting: list[dict[str, Any]] = []
    async with uow.transaction():
        for key, col in (("", d.stage_id), ("owner:", d.owner_id)):
            q = sa.select(col, sa.func.count(), sa.func.sum(cents)).where(*live).group_by(col)
            grouped: list[Any] = list(await uow.execute(q))
            for row in grouped:
                counts[f"{key}{row[0]}"] += int(row[1])
                values[f"{key}{row[0]}"] += Decimal(int(row[2] or 0)) / 100
        if cutoffs:
            q = (sa.select(d.id, d.title, d.owner_id, d.stage_id, d.stage_changed_at).where(*live, sa.or_(*cutoffs))
                 .order_by(d.stage_changed_at, d.id).limit(ROTTING))
            for row in await uow.execute(q):
                moved = row.stage_changed_at
                moved = moved if moved.tzinfo else moved.replace(tzinfo=UTC)
                rotting.append({"id": row.id, "title": row.title, "owner_id": row.owner_id,
                                "stage_name": stages[row.stage_id].get("name", ""), "idle_days": (now - moved).days})
    default: dict[str, Any] = plist[0] if plist else {"stages": [], "name": ""}
    funnel = [(s["name"], counts[s["id"]], values[s["id"]]) for s in default["stages"] if not s.get("outcome")]
    by_owner = {k[6:]: (n, values[k]) for k, n in counts.items() if k and k.startswith("owner:")}
    return {"rotting": rotting, "funnel_rows": funnel, "by_owner": by_owner, "pipeline_name": default["name"]}


async def _analytics(uow: UnitOfWork, who: SessionActor) -> dict[str, Any] | None:
    if not _has(who, "analytics:read"):
        return None
    try:
        pipe = await analytics.pipeline(uow, who.actor, analytics.scope_for(who.actor))
        start, end = forecast_window()
        fc = await analytics.forecast(uow, who.actor, analytics.scope_for(who.actor, start=start, end=end))
    except KithError:
        return None
    return {"currency": pipe["currency"],
            "funnel": [(s["name"], s["count"], s["value"]) for s in pipe["stages"] if not s.get("outcome")],
            "forecast": [(m["month"], m["weighted_value"], m["best_case_value"]) for m in fc["months"]]}


def forecast_window(today: date | None = None) -> tuple[date, date]:
    """This month and the next 11: what a forecast chart shows. Asking the analytics service for
    this window (not every open and won deal ever) lets the expected-close-date index answer it:
    at 30k deals a range of ~3k rows instead of a scan and a 25k-row aggregate (docs/web.md)."""
    start = (today or clock.now().date()).replace(day=1)
    year, month = divmod(start.month - 1 + FORECAST_MONTHS, 12)
    return start, date(start.year + year, month + 1, 1) - timedelta(days=1)


@router.get("/")
async def dashboard(request: Request, who: Web) -> Response:
    uow = UnitOfWork(request.app.state.db)
    ctx: dict[str, Any] = {"tasks": [], "overdue": [], "recent": [], "team": [], "charts": {}}
    users = await orgs.list_users(uow, who.actor)
    names = {u["id"]: u["name"] for u in users}
    if _has(who, "activity:read"):
        tasks = (await activities.my_tasks(uow, who.actor, limit=20, cursor=None)).data
        ctx["overdue"] = [t for t in tasks if t.get("overdue")]
        ctx["tasks"] = [t for t in tasks if not t.get("overdue")]
        ctx["recent"] = (await activities.list_activities(uow, who.actor, ListQuery(
            limit=10, sort="-occurred_at"))).data
    if _has(who, "deal:read"):
        figures = await _deal_figures(uow, who)
        ctx["rotting"] = figures["rotting"]
        report = await _analytics(uow, who)
        currency = report["currency"] if report else ""
        rows = report["funnel"] if report else figures["funnel_rows"]
        ctx["charts"]["funnel"] = svg.funnel(f"Open deals per stage: {figures['pipeline_name']}", rows, currency,
                                             "funnel")
        ctx["funnel_rows"] = rows
        ctx["currency"] = currency
        if report and report["forecast"]:
            ctx["charts"]["forecast"] = svg.columns("Forecast by close month", report["forecast"], currency,
                                                    "forecast")
            ctx["forecast_rows"] = report["forecast"]
        if "sales-manager" in who.actor.roles or "crm-admin" in who.actor.roles:
            admin = "crm-admin" in who.actor.roles  # an admin sees everyone; a manager their reports
            me = who.actor.user_id
            team = [u for u in users if u["id"] != me and (admin or u["manager_id"] == me)]
            mine = figures["by_owner"]
            ctx["team"] = [{"name": u["name"], "roles": u["roles"], "open": mine.get(u["id"], (0, 0))[0],
                            "value": mine.get(u["id"], (0, Decimal(0)))[1]} for u in team]
    return render(request, who, "dashboard.html", names=names, **ctx)
