"""Record pages: contact, company, lead and deal detail, and the "new record" forms.

A record page shows the fields (inline editing: the page's JavaScript PATCHes the API with
If-Match), linked records, the merged timeline and its communications tab (activities only),
quick "log a call / email / note / task" forms, the automation toggle (contacts), and the record's
verbs as buttons. Every form posts here and runs the same service the API runs; a refusal
(permission, rule, bad input) re-renders the page with the reason and the error's status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pydantic
from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from kith.activities import service as activities
from kith.activities.schemas import ActivityCreate
from kith.auth.model import Actor
from kith.companies import service as companies
from kith.companies.schemas import CompanyCreate, CompanyPatch
from kith.contacts import service as contacts
from kith.contacts import verbs as contact_verbs
from kith.contacts.schemas import CompanyLink, ContactCreate, ContactPatch
from kith.core.errors import FieldError, KithError, NotFound, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.deals import service as deals
from kith.deals.schemas import DealCreate, LoseDeal, MoveStage, Reassign, ReopenDeal, WinDeal
from kith.leads import feed
from kith.leads import service as leads
from kith.leads.api import TIMELINE_KIND as LEAD_KIND
from kith.leads.convert import convert_lead
from kith.leads.schemas import ConvertIn, LeadCreate
from kith.pipelines import service as pipelines
from kith.records import crud
from kith.timeline import service as timeline
from kith.web import pickers
from kith.web.render import Posted, Web, field, may, redirect, render, web_router
from kith.web.sessions import SessionActor

router = web_router()
M = TypeVar("M", bound=pydantic.BaseModel)
TIMELINE_LIMIT = 30


def build(model: type[M], data: dict[str, Any]) -> M:
    """A command from form values; pydantic's complaints become a 422 with the fields at fault."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]) or "form", e["msg"]) for e in exc.errors()]
        raise ValidationFailed("the form has invalid fields: " + ", ".join(e.field for e in errors),
                               errors=errors) from None


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.db)


def _filled(form: FormData, *names: str) -> dict[str, Any]:
    return {n: v for n in names if (v := field(form, n)) is not None}


# --- per-object description --------------------------------------------------------------------------

Getter = Callable[[UnitOfWork, Actor, str], Awaitable[dict[str, Any]]]
Creator = Callable[[UnitOfWork, Actor, FormData], Awaitable[dict[str, Any]]]
# (uow, actor, id, form) -> the URL to go to after success
Verb = Callable[[UnitOfWork, Actor, str, FormData], Awaitable[str | None]]


@dataclass(frozen=True)
class RecordSpec:
    path: str
    singular: str
    kind: crud.Kind
    get: Getter
    create: Creator
    # (field, label, input type, options) — the fields shown; editable when the role may update
    fields: tuple[tuple[str, str, str, str], ...]
    name_key: str = "name"
    link_field: str = "contact_id"  # the activity field linking a logged activity to this record


async def _get_contact(uow: UnitOfWork, actor: Actor, rid: str) -> dict[str, Any]:
    return await contacts.get_contact(uow, actor, rid, ("companies", "visitors", "deals"))


async def _get_company(uow: UnitOfWork, actor: Actor, rid: str) -> dict[str, Any]:
    return await companies.get_company(uow, actor, rid, ("contacts",))


async def _get_lead(uow: UnitOfWork, actor: Actor, rid: str) -> dict[str, Any]:
    return await leads.get_lead(uow, actor, rid)


async def _get_deal(uow: UnitOfWork, actor: Actor, rid: str) -> dict[str, Any]:
    return await deals.get_deal(uow, actor, rid, ("contacts",))


async def _new_contact(uow: UnitOfWork, actor: Actor, form: FormData) -> dict[str, Any]:
    return await contacts.create_contact(uow, actor, build(ContactCreate, _filled(
        form, "name", "email", "phone", "title", "source")))


async def _new_company(uow: UnitOfWork, actor: Actor, form: FormData) -> dict[str, Any]:
    return await companies.create_company(uow, actor, build(CompanyCreate, _filled(form, "name", "domain", "industry")))


async def _new_lead(uow: UnitOfWork, actor: Actor, form: FormData) -> dict[str, Any]:
    data = _filled(form, "title", "source", "contact_id")
    if "contact_id" not in data and (name := field(form, "contact_name")):
        data["contact"] = {"name": name, **_filled(form, "email")}
    lead, _ = await feed.create_lead(uow, actor, build(LeadCreate, data))
    return lead


async def _new_deal(uow: UnitOfWork, actor: Actor, form: FormData) -> dict[str, Any]:
    data = _filled(form, "title", "contact_id", "company_id", "expected_close_date")
    if amount := field(form, "amount"):
        data["value"] = {"amount": amount, **_filled(form, "currency")}
    return await deals.create_deal(uow, actor, build(DealCreate, data))


_C = (("name", "Name", "text", ""), ("email", "Email", "email", ""), ("phone", "Phone", "text", ""),
      ("title", "Title", "text", ""), ("stage", "Stage", "select", "lead,qualified,customer,churned,partner"),
      ("status", "Status", "select", "active,inactive,bounced,unsubscribed"),
      ("lead_score", "Lead score", "number", ""),
      ("source", "Source", "text", ""), ("notes", "Notes", "text", ""))

SPECS: dict[str, RecordSpec] = {s.path: s for s in (
    RecordSpec("contacts", "contact", contacts.KIND, _get_contact, _new_contact, _C),
    RecordSpec("companies", "company", companies.KIND, _get_company, _new_company, (
        ("name", "Name", "text", ""), ("domain", "Domain", "text", ""), ("industry", "Industry", "text", ""),
        ("stage", "Stage", "text", ""), ("notes", "Notes", "text", "")), link_field="company_id"),
    RecordSpec("leads", "lead", LEAD_KIND, _get_lead, _new_lead, (
        ("title", "Title", "text", ""), ("status", "Status", "", ""), ("score", "Score", "number", ""),
        ("source", "Source", "text", ""), ("channel", "Channel", "text", ""),
        ("disqualification_reason", "Disqualified because", "", "")), name_key="title", link_field="lead_id"),
    RecordSpec("deals", "deal", deals.KIND, _get_deal, _new_deal, (
        ("title", "Title", "text", ""), ("value", "Value", "", ""), ("status", "Status", "", ""),
        ("probability", "Probability", "number", ""), ("expected_close_date", "Close date", "date", ""),
        ("lost_reason", "Lost because", "", ""), ("notes", "Notes", "text", "")),
        name_key="title", link_field="deal_id"),
)}


# --- verbs: the record's state changes, through the services ---------------------------------------

def _owner(form: FormData) -> str:
    owner = field(form, "owner_id")
    if owner is None:
        raise ValidationFailed("choose the new owner", errors=[FieldError("owner_id", "required")])
    return owner


async def _contact_qualify(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await contact_verbs.qualify_contact(uow, a, rid)
    return None


async def _contact_reassign(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await contact_verbs.assign_contact(uow, a, rid, _owner(form), "reassign")
    return None


async def _company_reassign(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await companies.update_company(uow, a, rid, build(CompanyPatch, {"owner_id": _owner(form)}))
    return None


async def _lead_contacted(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await leads.mark_contacted_lead(uow, a, rid)
    return None


async def _lead_qualify(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await leads.qualify_lead(uow, a, rid)
    return None


async def _lead_disqualify(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await leads.disqualify_lead(uow, a, rid, field(form, "reason"))
    return None


async def _lead_reopen(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await leads.reopen_lead(uow, a, rid)
    return None


async def _lead_convert(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    _, deal = await convert_lead(uow, a, rid, build(ConvertIn, {}))
    return f"/deals/{deal['id']}"


async def _lead_reassign(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await leads.reassign_lead(uow, a, rid, _owner(form))
    return None


async def _deal_won(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await deals.win_deal(uow, a, rid, build(WinDeal, _filled(form, "expected_close_date")))
    return None


async def _deal_lost(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await deals.lose_deal(uow, a, rid, build(LoseDeal, _filled(form, "reason")))
    return None


async def _deal_abandon(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await deals.abandon_deal(uow, a, rid)
    return None


async def _deal_reopen(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await deals.reopen_deal(uow, a, rid, build(ReopenDeal, {}))
    return None


async def _deal_reassign(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await deals.reassign_deal(uow, a, rid, build(Reassign, {"owner_id": _owner(form)}))
    return None


async def _deal_move(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> str | None:
    await deals.move_stage(uow, a, rid, build(MoveStage, _filled(form, "stage_id", "reason")))
    return None


VERBS: dict[str, dict[str, Verb]] = {
    "contacts": {"qualify": _contact_qualify, "reassign": _contact_reassign},
    "companies": {"reassign": _company_reassign},
    "leads": {"contacted": _lead_contacted, "qualify": _lead_qualify, "disqualify": _lead_disqualify,
              "reopen": _lead_reopen, "convert": _lead_convert, "reassign": _lead_reassign},
    "deals": {"won": _deal_won, "lost": _deal_lost, "abandon": _deal_abandon,
              "reopen": _deal_reopen, "reassign": _deal_reassign, "move-stage": _deal_move},
}


# --- pages -------------------------------------------------------------------------------------------

async def _timeline(uow: UnitOfWork, who: SessionActor, spec: RecordSpec, rid: str, before: str | None,
                    owner_id: str | None = None) -> dict[str, Any]:
    """A page of the merged timeline (older than ``before``), its "older" cursor and the names of
    the users it mentions (only those: never the org's whole user table)."""
    tl = await timeline.for_record(uow, who.actor, spec.kind, rid, limit=TIMELINE_LIMIT, cursor=before)
    names = await pickers.user_names(uow, who.actor, [owner_id, *(i.get("actor_id") for i in tl.data)])
    return {"timeline": tl.data, "older": tl.next_cursor, "user_names": names}


async def _extras(uow: UnitOfWork, who: SessionActor, spec: RecordSpec, row: dict[str, Any],
                  before: str | None = None) -> dict[str, Any]:
    """Lookups beside the record: a timeline page with its users' names, the first choices of the
    owner and company pickers, stages."""
    out: dict[str, Any] = {**await _timeline(uow, who, spec, row["id"], before, row.get("owner_id")),
                           "owner_choices": [], "companies_choice": [], "stages": []}
    if "reassign" in VERBS[spec.path] and may(who, "user:read"):
        out["owner_choices"] = await pickers.user_choices(uow, who.actor, None, pickers.FIRST)
    if spec.path == "contacts":
        linked = {c["id"] for c in row.get("companies") or []}
        out["companies_choice"] = [c for c in await pickers.company_choices(uow, who.actor, None, pickers.FIRST)
                                   if c["id"] not in linked]
    if spec.path == "deals":
        p = await pipelines.get_pipeline(uow, who.actor, row["pipeline_id"])
        out["stages"] = p["stages"]
        out["stage_name"] = next((s["name"] for s in p["stages"] if s["id"] == row["stage_id"]), row["stage_id"])
    if spec.path == "leads":
        try:
            out["contact"] = await contacts.get_contact(uow, who.actor, row["contact_id"])
        except NotFound:
            out["contact"] = None
    return out


async def detail(request: Request, who: SessionActor, spec: RecordSpec, rid: str, *,
                 error: KithError | None = None, tab: str | None = None) -> Response:
    uow = _uow(request)
    row = await spec.get(uow, who.actor, rid)
    before = request.query_params.get("before") or None if error is None else None
    extras = await _extras(uow, who, spec, row, before)
    tab = tab or request.query_params.get("tab") or "timeline"
    return render(request, who, "records/detail.html", status=error.status if error else 200, spec=spec, row=row,
                  verbs=VERBS[spec.path], error=error, tab=tab, items=_tab_items(extras["timeline"], tab),
                  before=before, api_url=f"/api/v1/{spec.path}/{row['id']}", **extras)


def _tab_items(items: list[dict[str, Any]], tab: str) -> list[dict[str, Any]]:
    return items if tab != "communications" else [i for i in items if i.get("kind") == "activity"]


async def older_items(request: Request, who: SessionActor, spec: RecordSpec, rid: str) -> Response:
    """``?partial=timeline&before=…``: only the next timeline items and the new "older" link (for
    ``record.js`` to append); the record's access is checked by the timeline service."""
    tab = request.query_params.get("tab") or "timeline"
    page = await _timeline(_uow(request), who, spec, rid, request.query_params.get("before") or None)
    return render(request, who, "records/_timeline_page.html", spec=spec, row={"id": rid}, tab=tab,
                  items=_tab_items(page["timeline"], tab), older=page["older"], user_names=page["user_names"],
                  before=request.query_params.get("before"))


async def new_form(request: Request, who: SessionActor, spec: RecordSpec, *, error: KithError | None = None,
                   values: dict[str, Any] | None = None) -> Response:
    uow = _uow(request)
    choices: dict[str, Any] = {}
    if spec.path in {"leads", "deals"}:
        choices["contacts"] = await pickers.contact_choices(uow, who.actor, None, pickers.FIRST)
    if spec.path == "deals":
        choices["companies"] = await pickers.company_choices(uow, who.actor, None, pickers.FIRST)
    return render(request, who, f"records/new_{spec.singular}.html", status=error.status if error else 200,
                  spec=spec, error=error, values=values or {}, **choices)


def _routes(spec: RecordSpec) -> None:
    async def new_page(request: Request, who: Web) -> Response:
        return await new_form(request, who, spec, values=dict(request.query_params))

    async def create(request: Request, who: Web, form: Posted) -> Response:
        try:
            row = await spec.create(_uow(request), who.actor, form)
        except KithError as exc:
            values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}
            return await new_form(request, who, spec, error=exc, values=values)
        return redirect(f"/{spec.path}/{row['id']}", flash=f"Created {spec.singular} “{row[spec.name_key]}”.")

    async def page(request: Request, who: Web, record_id: str) -> Response:
        if request.query_params.get("partial") == "timeline":
            return await older_items(request, who, spec, record_id)
        return await detail(request, who, spec, record_id)

    async def verb(request: Request, who: Web, form: Posted, record_id: str, verb: str) -> Response:
        fn = VERBS[spec.path].get(verb)
        if fn is None:
            raise NotFound(f"{spec.singular} has no verb {verb!r}")
        try:
            target = await fn(_uow(request), who.actor, record_id, form)
        except KithError as exc:
            if isinstance(exc, NotFound):
                raise
            return await detail(request, who, spec, record_id, error=exc)
        return redirect(target or f"/{spec.path}/{record_id}", flash=f"Done: {verb.replace('-', ' ')}.")

    async def log(request: Request, who: Web, form: Posted, record_id: str) -> Response:
        try:
            await _log_activity(_uow(request), who.actor, spec, record_id, form)
        except KithError as exc:
            if isinstance(exc, NotFound):
                raise
            return await detail(request, who, spec, record_id, error=exc, tab="communications")
        return redirect(f"/{spec.path}/{record_id}?tab=communications", flash="Logged.")

    p = spec.path
    router.add_api_route(f"/{p}/new", new_page, methods=["GET"], name=f"{p}-new")
    router.add_api_route(f"/{p}/new", create, methods=["POST"], name=f"{p}-create")
    router.add_api_route(f"/{p}/{{record_id}}", page, methods=["GET"], name=f"{p}-detail")
    router.add_api_route(f"/{p}/{{record_id}}/do/{{verb}}", verb, methods=["POST"], name=f"{p}-verb")
    router.add_api_route(f"/{p}/{{record_id}}/log", log, methods=["POST"], name=f"{p}-log")


def _when(raw: str | None, name: str) -> str | None:
    """A ``datetime-local`` or date input (no zone: taken as UTC) to an ISO datetime."""
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw if "T" in raw else f"{raw}T09:00")
    except ValueError:
        raise ValidationFailed(f"{name} is not a date", errors=[FieldError(name, "not a date")]) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


async def _log_activity(uow: UnitOfWork, actor: Actor, spec: RecordSpec, rid: str, form: FormData) -> None:
    data = _filled(form, "type", "subject", "body", "outcome", "direction")
    data[spec.link_field] = rid
    if spec.path == "leads":
        lead = await leads.get_lead(uow, actor, rid)
        data["contact_id"] = lead["contact_id"]
    if (due := _when(field(form, "due_at"), "due_at")) is not None:
        data["due_at"] = due
    await activities.log_activity(uow, actor, build(ActivityCreate, data))


for _spec in SPECS.values():
    _routes(_spec)


@router.post("/contacts/{record_id}/companies")
async def link_company(request: Request, who: Web, form: Posted, record_id: str) -> Response:
    data = _filled(form, "company_id", "role", "title")
    if form.get("is_primary") == "on":
        data["is_primary"] = True
    try:
        await contacts.link_company(_uow(request), who.actor, record_id, build(CompanyLink, data))
    except KithError as exc:
        if isinstance(exc, NotFound) and exc.extra.get("id") == record_id:
            raise
        return await detail(request, who, SPECS["contacts"], record_id, error=exc)
    return redirect(f"/contacts/{record_id}", flash="Linked the company.")


@router.post("/contacts/{record_id}/companies/{company_id}/unlink")
async def unlink_company(request: Request, who: Web, form: Posted, record_id: str, company_id: str) -> Response:
    await contacts.unlink_company(_uow(request), who.actor, record_id, company_id)
    return redirect(f"/contacts/{record_id}", flash="Unlinked the company.")


@router.post("/contacts/{record_id}/automation")
async def automation(request: Request, who: Web, form: Posted, record_id: str) -> Response:
    enabled = field(form, "enabled") == "true"
    try:
        await contacts.update_contact(_uow(request), who.actor, record_id,
                                      ContactPatch.model_validate({"automation_enabled": enabled}))
    except KithError as exc:
        if isinstance(exc, NotFound):
            raise
        return await detail(request, who, SPECS["contacts"], record_id, error=exc)
    return redirect(f"/contacts/{record_id}", flash="Automation " + ("on." if enabled else "off."))
