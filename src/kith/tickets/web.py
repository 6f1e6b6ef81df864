"""The ticket pages (SupportApp): the "new ticket" form and the ticket record page with its verbs
as buttons, the assign form, inline editing (the page's JavaScript PATCHes the API with If-Match)
and the ticket's timeline. The list at /tickets is the generic list (``kith.web.objects``).

Every form runs the same service the API runs; a refusal (permission, rule, illegal transition,
bad input) re-renders the page with the reason and the error's status. A page reads a fixed number
of statements whatever the ticket's history: the ticket, the users, one timeline page, the
reporter and the company.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from kith.auth.access import require
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies import service as companies
from kith.contacts import service as contacts
from kith.core.errors import KithError, NotFound
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.orgs import service as orgs
from kith.tickets import model, service
from kith.tickets.schemas import TicketCreate
from kith.web.records import build
from kith.web.render import Posted, Web, field, redirect, render, web_router
from kith.web.sessions import SessionActor

router = web_router()
TIMELINE_LIMIT = 30

Verb = Callable[[UnitOfWork, Actor, str, FormData], Awaitable[Any]]


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.db)


async def _assign(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> Any:
    return await service.assign_ticket(uow, a, rid, field(form, "assignee_id"))


def _move(verb: str) -> Verb:
    async def run(uow: UnitOfWork, a: Actor, rid: str, form: FormData) -> Any:
        return await service.move_ticket(uow, a, rid, verb, resolution=field(form, "resolution"))
    return run


VERBS: dict[str, Verb] = {"assign": _assign, **{v: _move(v) for v in model.VERBS}}
LABELS = {"pending": "Wait on customer", "resolve": "Resolve", "reopen": "Reopen", "close": "Close"}


def _handlers(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The users a ticket may be assigned to (rule ``ticket-assignee-must-handle-tickets``)."""
    return [u for u in users if u.get("is_active", True)
            and grant(frozenset(u["roles"]), "ticket:read") is not Grant.NONE]


async def detail(request: Request, who: SessionActor, rid: str, *, error: KithError | None = None) -> Response:
    uow = _uow(request)
    row = await service.get_ticket(uow, who.actor, rid)
    users = await orgs.list_users(uow, who.actor)
    tl = await service.ticket_timeline(uow, who.actor, rid, limit=TIMELINE_LIMIT, cursor=None)
    try:
        contact: dict[str, Any] | None = await contacts.get_contact(uow, who.actor, row["contact_id"])
    except NotFound:
        contact = None
    company = None
    if row["company_id"]:
        try:
            company = await companies.get_company(uow, who.actor, row["company_id"])
        except NotFound:
            company = None
    verbs = [v for v, (target, _) in model.VERBS.items() if target in model.TRANSITIONS[row["status"]]]
    return render(request, who, "tickets/detail.html", status=error.status if error else 200, row=row,
                  error=error, verbs=verbs, labels=LABELS, permissions=service.PERMISSIONS, items=tl.data,
                  users=users, user_names={u["id"]: u["name"] for u in users}, handlers=_handlers(users),
                  contact=contact, company=company, priorities=model.PRIORITIES, channels=model.CHANNELS,
                  api_url=f"/api/v1/tickets/{row['id']}")


async def new_form(request: Request, who: SessionActor, *, error: KithError | None = None,
                   values: dict[str, Any] | None = None) -> Response:
    uow = _uow(request)
    people = (await contacts.list_contacts(uow, who.actor, ListQuery(limit=200, sort="name"))).data
    return render(request, who, "tickets/new.html", status=error.status if error else 200, error=error,
                  values=values or {}, contacts=people, priorities=model.PRIORITIES, channels=model.CHANNELS)


@router.get("/tickets/new", name="tickets-new")
async def new_page(request: Request, who: Web) -> Response:
    require(who.actor, "ticket:create")
    return await new_form(request, who, values=dict(request.query_params))


@router.post("/tickets/new", name="tickets-create")
async def create(request: Request, who: Web, form: Posted) -> Response:
    data = {n: v for n in ("subject", "description", "contact_id", "priority", "channel")
            if (v := field(form, n)) is not None}
    try:
        row = await service.create_ticket(_uow(request), who.actor, build(TicketCreate, data))
    except KithError as exc:
        values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}
        return await new_form(request, who, error=exc, values=values)
    return redirect(f"/tickets/{row['id']}", flash=f"Opened ticket #{row['number']}.")


@router.get("/tickets/{record_id}", name="tickets-detail")
async def page(request: Request, who: Web, record_id: str) -> Response:
    return await detail(request, who, record_id)


@router.post("/tickets/{record_id}/do/{verb}", name="tickets-verb")
async def verb(request: Request, who: Web, form: Posted, record_id: str, verb: str) -> Response:
    fn = VERBS.get(verb)
    if fn is None:
        raise NotFound(f"ticket has no verb {verb!r}")
    try:
        await fn(_uow(request), who.actor, record_id, form)
    except KithError as exc:
        if isinstance(exc, NotFound) and exc.extra.get("id") == record_id:
            raise
        return await detail(request, who, record_id, error=exc)
    return redirect(f"/tickets/{record_id}", flash=f"Done: {LABELS.get(verb, verb).lower()}.")
