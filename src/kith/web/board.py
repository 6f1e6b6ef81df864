"""The pipeline board (issue 7 point 4): a kanban per deal pipeline.

Columns are the pipeline's stages with their totals (count, value and weighted value in the org
currency); cards are the open deals the caller may see. Moving a card calls the same verb as the
API (``deals.move_stage``): by drag and drop or the keyboard "Move to…" control (``board.js``,
through ``POST /api/v1/deals/{id}/move-stage``), or by the plain form each card carries (no
JavaScript). Live updates: ``board.js`` listens to the realtime channel ``org:{id}:crm:pipeline``
and re-fetches the columns (``?partial=columns``) when a deal event arrives.

A board render runs a fixed number of statements whatever the number of deals: the pipeline, the
org (currency), the users (owner names), one page of open deals, and one query each for the
company and contact names of the cards.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Request
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from kith.auth.access import visible_owner_ids
from kith.companies.tables import companies
from kith.contacts.tables import contacts
from kith.core import clock
from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.deals import service as deals
from kith.deals.schemas import MoveStage
from kith.deals.tables import deals as deals_table
from kith.orgs import service as orgs
from kith.pipelines import service as pipelines
from kith.web.render import Posted, Web, field, redirect, render, web_router
from kith.web.sessions import SessionActor

M = TypeVar("M", bound=BaseModel)
router = web_router()
MAX_CARDS = 200  # open deals read per board (oldest stage move first); the page says when there are more


def parse(model: type[M], data: dict[str, Any]) -> M:
    """A command from form fields; a bad value becomes a 422 page naming the field (never a 500)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise ValidationFailed("the form has invalid values", errors=errors) from None


async def _names(uow: UnitOfWork, org_id: str, table: sa.Table, ids: set[str]) -> dict[str, str]:
    """Display names of the linked records on the cards: one query per kind, scoped by org."""
    if not ids:
        return {}
    stmt = sa.select(table.c.id, table.c.name).where(table.c.org_id == org_id, table.c.id.in_(sorted(ids)))
    async with uow.transaction():
        return {r.id: r.name for r in await uow.execute(stmt)}


async def _stage_totals(uow: UnitOfWork, actor: Any, pipeline_id: str) -> dict[str, dict[str, tuple[int, int, int]]]:
    """stage id -> currency -> (open deals, their amount in cents, Σ amount × probability in cents·%),
    over every open deal of the pipeline the actor may read — not only the cards shown."""
    d = deals_table.c
    cents = sa.type_coerce(d.amount, sa.BigInteger)
    q = (sa.select(d.stage_id, d.currency, sa.func.count(), sa.func.sum(cents), sa.func.sum(cents * d.probability))
         .where(d.org_id == actor.org_id, d.pipeline_id == pipeline_id, d.status == "open", d.deleted_at.is_(None))
         .group_by(d.stage_id, d.currency))
    owners = visible_owner_ids(actor, "deal")
    if owners is not None:
        q = q.where(d.owner_id.in_(sorted(owners)))
    out: dict[str, dict[str, tuple[int, int, int]]] = defaultdict(dict)
    async with uow.transaction():
        rows: list[Any] = list(await uow.execute(q))
        for row in rows:
            out[row[0]][row[1]] = (int(row[2]), int(row[3] or 0), int(row[4] or 0))
    return out


def _stage_options(stages: list[dict[str, Any]], selected: str) -> Markup:
    """The "Move to…" options of a card in column ``selected``: rendered once per column, not per card."""
    return Markup("").join(
        Markup('<option value="{}" data-outcome="{}"{}>{}</option>').format(
            s["id"], s.get("outcome") or "", Markup(" selected") if s["id"] == selected else "", s["name"])
        for s in stages)


async def board_data(uow: UnitOfWork, who: SessionActor, pipeline_id: str | None) -> dict[str, Any]:
    """Everything the board shows, in a fixed number of statements."""
    if pipeline_id is None:
        plist = await pipelines.list_pipelines(uow, who.actor)
        deal_pipelines = [p for p in plist if p.get("kind", "deal") == "deal"]
        if not deal_pipelines:
            raise NotFound("this org has no deal pipeline")
        pipeline = next((p for p in deal_pipelines if p.get("is_default")), deal_pipelines[0])
    else:
        pipeline = await pipelines.get_pipeline(uow, who.actor, pipeline_id)
        plist = None
    org = await orgs.get_org(uow, who.actor)
    currency = org["settings"]["currency"]
    users = await orgs.list_users(uow, who.actor)
    owner_names = {u["id"]: u["name"] for u in users}
    page = await deals.list_deals(uow, who.actor, ListQuery(
        limit=MAX_CARDS, sort="stage_changed_at", filters={"pipeline_id": pipeline["id"], "status": "open"}))
    cards = page.data
    org_id = who.actor.org_id
    company_names = await _names(uow, org_id, companies, {d["company_id"] for d in cards if d.get("company_id")})
    contact_names = await _names(uow, org_id, contacts, {d["contact_id"] for d in cards if d.get("contact_id")})
    totals = await _stage_totals(uow, who.actor, pipeline["id"])
    now = clock.now()
    by_stage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in cards:
        by_stage[d["stage_id"]].append(d)
    columns = []
    for s in pipeline["stages"]:
        rot_days = s.get("rot_period_days") or org["settings"]["rot_period_days"]
        items = []
        count, value, weighted = 0, Decimal(0), Decimal(0)
        other: dict[str, Decimal] = defaultdict(Decimal)
        for cur, (n, cents, weighted_cents) in totals.get(s["id"], {}).items():
            count += n
            if cur == currency:
                value += Decimal(cents) / 100
                weighted += Decimal(weighted_cents) / 10_000
            else:
                other[cur] += Decimal(cents) / 100
        for d in by_stage.get(s["id"], []):
            idle = now - d["stage_changed_at"]
            items.append({
                "id": d["id"], "title": d["title"], "value": d.get("value"), "version": d.get("version"),
                "company": company_names.get(d.get("company_id") or ""),
                "contact": contact_names.get(d.get("contact_id") or ""),
                "owner": owner_names.get(d.get("owner_id") or "", ""),
                "age_days": (now - d["created_at"]).days, "idle_days": idle.days,
                "rotting": idle > timedelta(days=rot_days),
            })
        columns.append({**s, "cards": items, "count": count, "options": _stage_options(pipeline["stages"], s["id"]),
                        "value": {"amount": value.quantize(Decimal("0.01")), "currency": currency},
                        "weighted": {"amount": weighted.quantize(Decimal("0.01")), "currency": currency},
                        "other": sorted(other.items()), "rot_days": rot_days})
    return {"pipeline": pipeline, "pipelines": plist, "columns": columns, "currency": currency,
            "truncated": page.next_cursor is not None, "max_cards": MAX_CARDS}


async def _show(request: Request, who: SessionActor, pipeline_id: str | None) -> Response:
    uow = UnitOfWork(request.app.state.db)
    data = await board_data(uow, who, pipeline_id)
    if data["pipelines"] is None:
        data["pipelines"] = await pipelines.list_pipelines(uow, who.actor)
    template = "board/columns.html" if request.query_params.get("partial") == "columns" else "board/index.html"
    return render(request, who, template, **data)


@router.get("/board")
async def default_board(request: Request, who: Web) -> Response:
    return await _show(request, who, None)


@router.get("/pipelines/{pipeline_id}/board")
async def pipeline_board(request: Request, who: Web, pipeline_id: str) -> Response:
    return await _show(request, who, pipeline_id)


@router.post("/board/deals/{deal_id}/move")
async def move(request: Request, who: Web, form: Posted, deal_id: str) -> Response:
    """The form fallback of drag and drop: the same verb, the same rules (a lost stage needs a reason)."""
    stage_id = field(form, "stage_id")
    back = field(form, "back") or "/board"
    if not back.startswith("/") or back.startswith("//"):
        back = "/board"
    cmd = parse(MoveStage, {"stage_id": stage_id or "", "reason": field(form, "reason")})
    deal = await deals.move_stage(UnitOfWork(request.app.state.db), who.actor, deal_id, cmd)
    return redirect(back, flash=f"Moved {deal['title']}.")
