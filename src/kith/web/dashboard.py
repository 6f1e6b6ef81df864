"""The dashboard: my open tasks and overdue follow-ups, the pipeline funnel and forecast (SVG),
rotting deals and recent activity; a manager sees the team.

The funnel and forecast come from the analytics service when the role may read analytics; a
role that may not (sales-rep) gets its funnel computed from the open deals it can see. Every
figure goes through a service, so a rep's dashboard shows only the rep's team's records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import Request
from starlette.responses import Response

from kith.activities import service as activities
from kith.analytics import service as analytics
from kith.auth.permissions import Grant, grant
from kith.core import clock
from kith.core.errors import KithError
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.deals import service as deals
from kith.orgs import service as orgs
from kith.pipelines import service as pipelines
from kith.web import svg
from kith.web.render import Web, render, web_router
from kith.web.sessions import SessionActor

router = web_router()
OPEN_DEALS = 500  # the open deals read for rotting and the funnel fallback (oldest stage first)


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str((value or {}).get("amount") or 0))
    except ArithmeticError:
        return Decimal(0)


def _has(who: SessionActor, permission: str) -> bool:
    return grant(who.actor.roles, permission) is not Grant.NONE


async def _deal_figures(uow: UnitOfWork, who: SessionActor) -> dict[str, Any]:
    """Rotting deals, the fallback funnel and per-owner open figures, from the visible open deals."""
    plist = await pipelines.list_pipelines(uow, who.actor)
    stages = {s["id"]: s for p in plist for s in p["stages"]}
    page = await deals.list_deals(uow, who.actor, ListQuery(limit=OPEN_DEALS, sort="stage_changed_at",
                                                             filters={"status": "open"}))
    now = clock.now()
    rotting: list[dict[str, Any]] = []
    counts: dict[str | None, int] = defaultdict(int)
    values: dict[str | None, Decimal] = defaultdict(Decimal)
    for d in page.data:
        stage = stages.get(d["stage_id"], {})
        days = stage.get("rot_period_days")
        if days and d["stage_changed_at"] < now - timedelta(days=days):
            rotting.append({**d, "stage_name": stage.get("name", ""),
                            "idle_days": (now - d["stage_changed_at"]).days})
        for key in (d["stage_id"], f'owner:{d["owner_id"]}'):
            counts[key] += 1
            values[key] += _amount(d["value"])
    default: dict[str, Any] = plist[0] if plist else {"stages": [], "name": ""}
    funnel = [(s["name"], counts[s["id"]], values[s["id"]]) for s in default["stages"] if not s.get("outcome")]
    by_owner = {u: (counts[f"owner:{u}"], values[f"owner:{u}"]) for u in {d["owner_id"] for d in page.data}}
    return {"rotting": rotting[:20], "funnel_rows": funnel, "by_owner": by_owner, "pipeline_name": default["name"]}


async def _analytics(uow: UnitOfWork, who: SessionActor) -> dict[str, Any] | None:
    if not _has(who, "analytics:read"):
        return None
    try:
        scope = analytics.scope_for(who.actor)
        pipe = await analytics.pipeline(uow, who.actor, scope)
        fc = await analytics.forecast(uow, who.actor, scope)
    except KithError:
        return None
    return {"currency": pipe["currency"],
            "funnel": [(s["name"], s["count"], s["value"]) for s in pipe["stages"] if not s.get("outcome")],
            "forecast": [(m["month"] or "no date", m["weighted_value"], m["best_case_value"])
                         for m in fc["months"]][:12]}


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
