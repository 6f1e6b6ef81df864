"""Analytics use cases (seed 004 §8): pipeline, forecast, rep performance, conversion rates, trends.

Every report needs ``analytics:read``. The matrix grants it in full (✓) to crm-admin,
sales-manager, marketing and viewer, so figures cover the whole org for each of them (a manager's
report is not narrowed to their team); should a role ever hold it own-only (◑), the reports narrow
to the deals, leads and activities of that caller's team (``visible_owner_ids``).
Amounts are in the org currency (``kith.analytics.model.Converter``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kith.analytics import model, repo
from kith.analytics.model import ZERO, Converter
from kith.analytics.repo import Scope
from kith.analytics.tables import analytics_snapshots
from kith.auth.access import visible_owner_ids
from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import NotFound
from kith.core.uow import UnitOfWork
from kith.deals.repo import org_settings


async def converter(uow: UnitOfWork, org_id: str) -> Converter:
    settings = await org_settings(uow, org_id)
    return Converter(settings.currency, await repo.rate_map(uow, org_id))


def scope_for(actor: Actor, *, start: date | None = None, end: date | None = None, pipeline_id: str | None = None,
              owner_id: str | None = None) -> Scope:
    return Scope(org_id=actor.org_id, start=start, end=end, pipeline_id=pipeline_id, owner_id=owner_id,
                 visible=visible_owner_ids(actor, "analytics"))


async def _pipeline(uow: UnitOfWork, scope: Scope) -> Scope:
    """The scope with its pipeline resolved (the default one when none was asked for); 404 for a
    pipeline that is not one of the org's deal pipelines."""
    pid = await repo.pipeline_id(uow, scope.org_id, scope.pipeline_id)
    if pid is None:
        raise NotFound(f"pipeline {scope.pipeline_id!r} does not exist", extra={"id": scope.pipeline_id})
    return Scope(scope.org_id, scope.start, scope.end, pid, scope.owner_id, scope.visible)


# --- pipeline -------------------------------------------------------------------------------------

async def pipeline(uow: UnitOfWork, actor: Actor, scope: Scope) -> dict[str, Any]:
    """Open deals per stage of one pipeline: count, value, weighted value, average age in days."""
    async with uow.transaction():
        scope = await _pipeline(uow, scope)
        conv = await converter(uow, actor.org_id)
        stage_rows = await repo.stages_of(uow, scope.org_id, scope.pipeline_id or "")
        groups = await repo.open_by_stage(uow, scope)
    now = clock.now().timestamp()
    by_stage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in groups:
        by_stage[g["stage_id"]].append(g)
    out = [_stage_figures(s, by_stage.get(s["id"], []), conv, now) for s in stage_rows]
    totals = {k: sum((s[k] for s in out), ZERO) for k in ("value", "weighted_value")}
    return {"currency": conv.base, "pipeline_id": scope.pipeline_id, "stages": out,
            "totals": {"count": sum(s["count"] for s in out), **totals},
            "missing_rates": conv.missing_rates()}


def _stage_figures(stage: dict[str, Any], groups: list[dict[str, Any]], conv: Converter, now: float
                   ) -> dict[str, Any]:
    counted = [g for g in groups if conv.has_rate(g["currency"])]
    count = sum(int(g["count"]) for g in counted)
    created = sum((Decimal(str(g["created"])) for g in counted), Decimal(0))
    return {
        "stage_id": stage["id"], "name": stage["name"], "position": stage["position"],
        "probability": stage["probability"], "outcome": stage["outcome"], "count": count,
        "value": sum((conv.convert(g["value"], g["currency"]) for g in counted), ZERO),
        "weighted_value": sum((conv.convert(g["weighted"], g["currency"], 10_000) for g in counted), ZERO),
        "average_age_days": model.days(Decimal(str(now)) * count - created, count),
    }


# --- forecast -------------------------------------------------------------------------------------

_FIGURES = ("open_count", "won_count", "won_value", "weighted_value", "best_case_value")


def _blank() -> dict[str, Any]:
    return {"open_count": 0, "won_count": 0, "won_value": ZERO, "weighted_value": ZERO, "best_case_value": ZERO}


def _figures(g: dict[str, Any], conv: Converter) -> dict[str, Any]:
    """One (month, owner, currency, status) group's figures in the org currency."""
    value = conv.convert(g["value"], g["currency"])
    if g["status"] == "won":
        return {"open_count": 0, "won_count": int(g["count"]), "won_value": value, "weighted_value": value,
                "best_case_value": value}
    return {"open_count": int(g["count"]), "won_count": 0, "won_value": ZERO,
            "weighted_value": conv.convert(g["weighted"], g["currency"], 10_000), "best_case_value": value}


def _add(into: dict[str, Any], figures: dict[str, Any]) -> None:
    for k in _FIGURES:
        into[k] += figures[k]


async def forecast(uow: UnitOfWork, actor: Actor, scope: Scope) -> dict[str, Any]:
    """Open and won deals by expected-close month, each month split per owner."""
    async with uow.transaction():
        conv = await converter(uow, actor.org_id)
        groups = await repo.forecast(uow, scope)
    months: dict[str | None, dict[str, Any]] = {}
    owners: dict[str | None, dict[str | None, dict[str, Any]]] = defaultdict(dict)
    total = _blank()
    for g in groups:
        if not conv.has_rate(g["currency"]):
            continue
        month, figures = g["month"], _figures(g, conv)
        _add(months.setdefault(month, _blank()), figures)
        _add(owners[month].setdefault(g["owner_id"], _blank()), figures)
        _add(total, figures)
    ordered = sorted(months, key=lambda m: (m is None, m or ""))
    return {"currency": conv.base, "months": [
        {"month": m, **months[m], "owners": [{"owner_id": o, **owners[m][o]}
                                              for o in sorted(owners[m], key=lambda o: (o is None, o or ""))]}
        for m in ordered], "totals": total, "missing_rates": conv.missing_rates()}


# --- rep performance ------------------------------------------------------------------------------

def _rep(owner_id: str) -> dict[str, Any]:
    return {"owner_id": owner_id, "name": None, "won_count": 0, "lost_count": 0, "won_value": ZERO,
            "lost_value": ZERO, "win_rate": None, "activity_count": 0, "average_cycle_days": None,
            "_cycle": Decimal(0), "_cycled": 0}


async def rep_performance(uow: UnitOfWork, actor: Actor, scope: Scope) -> dict[str, Any]:
    """Per owner: deals won and lost in the window (count, value, win rate, average days from
    creation to winning) and the activities they logged in the window."""
    async with uow.transaction():
        conv = await converter(uow, actor.org_id)
        closed = await repo.closed_by_owner(uow, scope)
        logged = await repo.activities_by_actor(uow, scope)
        reps: dict[str, dict[str, Any]] = {}
        for g in closed:
            if g["owner_id"] is None:
                continue
            rep = reps.setdefault(g["owner_id"], _rep(g["owner_id"]))
            rep[f"{g['status']}_count"] += int(g["count"])
            if g["status"] == "won":
                rep["_cycle"] += Decimal(str(g["cycle"] or 0))
                rep["_cycled"] += int(g["count"])
            if conv.has_rate(g["currency"]):
                rep[f"{g['status']}_value"] += conv.convert(g["value"], g["currency"])
        for a in logged:
            reps.setdefault(a["actor_id"], _rep(a["actor_id"]))["activity_count"] = int(a["count"])
        names = await repo.user_names(uow, actor.org_id, list(reps))
    out = []
    for owner_id in sorted(reps):
        rep = reps[owner_id]
        rep["name"] = names.get(owner_id)
        rep["win_rate"] = model.ratio(rep["won_count"], rep["won_count"] + rep["lost_count"])
        rep["average_cycle_days"] = model.days(rep.pop("_cycle"), rep.pop("_cycled"))
        out.append(rep)
    return {"currency": conv.base, "reps": out, "missing_rates": conv.missing_rates()}


# --- conversion rates -----------------------------------------------------------------------------

async def conversion_rates(uow: UnitOfWork, actor: Actor, scope: Scope) -> dict[str, Any]:
    """Lead → deal (leads created in the window), the stage funnel of one pipeline (deals created in
    the window) with the stage moves made in the window, and won/lost (deals closed in the window)."""
    async with uow.transaction():
        scope = await _pipeline(uow, scope)
        lead = await repo.lead_conversion(uow, scope)
        stage_rows = [s for s in await repo.stages_of(uow, scope.org_id, scope.pipeline_id or "")
                      if s["outcome"] is None]
        furthest = await repo.funnel(uow, scope, {s["id"]: s["position"] for s in stage_rows})
        won = await repo.won_in_cohort(uow, scope)
        moves = await repo.transitions(uow, scope)
        closed = await repo.outcomes(uow, scope)
    return {
        "pipeline_id": scope.pipeline_id,
        "leads": {**lead, "rate": model.ratio(lead["converted"], lead["created"])},
        "stages": _funnel(stage_rows, furthest, won),
        "transitions": sorted(({"from_stage_id": m["from_stage_id"], "to_stage_id": m["to_stage_id"],
                                "count": int(m["count"])} for m in moves),
                              key=lambda m: (-m["count"], m["from_stage_id"] or "", m["to_stage_id"] or "")),
        "win_loss": _win_loss(closed),
    }


def _funnel(stage_rows: list[dict[str, Any]], furthest: list[dict[str, Any]], won: int) -> list[dict[str, Any]]:
    """``reached`` of an open stage: deals that got to it or further, won deals counting as having
    passed every stage; ``rate``: the share of those that reached the next stage (or won, after
    the last open stage)."""
    reached = [won + sum(int(f["count"]) for f in furthest if not f["won"] and f["furthest"] >= s["position"])
               for s in stage_rows]
    out = []
    for i, s in enumerate(stage_rows):
        following = reached[i + 1] if i + 1 < len(reached) else won
        out.append({"stage_id": s["id"], "name": s["name"], "reached": reached[i],
                    "advanced": following, "rate": model.ratio(following, reached[i])})
    return out


def _win_loss(closed: list[dict[str, Any]]) -> dict[str, Any]:
    won = sum(int(c["count"]) for c in closed if c["status"] == "won")
    lost = sum(int(c["count"]) for c in closed if c["status"] == "lost")
    reasons: dict[str, int] = defaultdict(int)
    for c in closed:
        if c["status"] == "lost":
            reasons[c["lost_reason"] or ""] += int(c["count"])
    return {"won": won, "lost": lost, "win_rate": model.ratio(won, won + lost),
            "win_loss_ratio": model.ratio(won, lost),
            "lost_reasons": [{"reason": r, "count": n, "share": model.ratio(n, lost)}
                             for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]}


# --- trends (from the nightly snapshots) -----------------------------------------------------------

async def trends(uow: UnitOfWork, actor: Actor, series: str, start: date, end: date) -> dict[str, Any]:
    """The org's daily snapshots between ``start`` and ``end`` folded into ``series`` buckets."""
    visible_owner_ids(actor, "analytics")
    s = analytics_snapshots.c
    async with uow.transaction():
        settings = await org_settings(uow, actor.org_id)
        q = (sa.select(analytics_snapshots).where(s.org_id == actor.org_id, s.day >= start, s.day <= end)
             .order_by(s.day))
        rows = [dict(r._mapping) for r in await uow.execute(q)]
    return {"currency": settings.currency, "series": series, "from": start, "to": end,
            "points": model.buckets(rows, series)}
