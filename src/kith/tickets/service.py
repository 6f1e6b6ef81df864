"""Ticket use cases: create, read, list, patch, delete, assign and the state-machine verbs.

Every write is one transaction: check the permission (403), load (and on PostgreSQL lock) the
ticket (404 when absent or another org's), apply the machine of ``kith.tickets.model`` (409) and
its rules (422), and only then write the row and the verb's event. A refusal leaves nothing
written. Ticket grants are all-or-nothing (seed 004: ✓ or —), so there is no own-only filtering.
Events are indexed under the ticket, its contact and its company, so they show in those timelines
and reach the ``org:{orgId}:crm:support`` realtime channel.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies.tables import companies
from kith.contacts.tables import contact_companies, contacts
from kith.core import clock, ids
from kith.core.errors import FieldError, NotFound, PreconditionFailed, RuleViolation, ValidationFailed, invalid
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.orgs.tables import orgs, users
from kith.records import filters as f
from kith.records import service as rec
from kith.records.schemas import clean_tags
from kith.tickets import model
from kith.tickets.schemas import NOT_NULL, TicketCreate, TicketPatch
from kith.tickets.tables import tickets
from kith.timeline import service as timeline

COLUMNS = [c for c in tickets.c if c.name != "org_id"]
t = tickets.c

SORTABLE = ("created_at", "updated_at", "due_at", "number", "subject", "id")


def _unassigned(_org: str, raw: str) -> sa.ColumnElement[bool]:
    if raw.lower() not in {"true", "false"}:
        raise ValueError("must be true or false")
    return t.assignee_id.is_(None) if raw.lower() == "true" else t.assignee_id.is_not(None)


def _overdue(_org: str, raw: str) -> sa.ColumnElement[bool]:
    if raw.lower() not in {"true", "false"}:
        raise ValueError("must be true or false")
    late = sa.and_(t.status.in_(model.ACTIVE), t.due_at < clock.now())
    return late if raw.lower() == "true" else sa.not_(late)


def _number(_org: str, raw: str) -> sa.ColumnElement[bool]:
    text = raw.lstrip("#")
    if not text.isdigit() or len(text) > 9:
        raise ValueError("a ticket number, e.g. 1042 or #1042")
    return t.number == int(text)


FILTERS: dict[str, f.FilterFn] = {
    "status": f.eq(t.status, choices=model.STATUSES),
    "priority": f.eq(t.priority, choices=model.PRIORITIES),
    "channel": f.eq(t.channel, choices=model.CHANNELS),
    "assignee_id": f.eq(t.assignee_id, max_length=40),
    "unassigned": _unassigned,
    "contact_id": f.eq(t.contact_id, max_length=40),
    "company_id": f.eq(t.company_id, max_length=40),
    "number": _number,
    "tag": f.tag("ticket", t.id),
    "overdue": _overdue,
    "created_after": f.after(t.created_at),
    "created_before": f.before(t.created_at),
    "updated_after": f.after(t.updated_at),
    "updated_before": f.before(t.updated_at),
    "due_after": f.after(t.due_at),
    "due_before": f.before(t.due_at),
}


def out(row: dict[str, Any]) -> dict[str, Any]:
    """The record as the API shows it: the row plus ``overdue`` (computed, never stored)."""
    return {**row, "overdue": model.is_overdue(row["status"], row["due_at"], clock.now())}


def _refs(ticket: dict[str, Any]) -> tuple[str, ...]:
    return tuple(r for r in (ticket["contact_id"], ticket.get("company_id")) if r)


async def record(uow: UnitOfWork, actor: Actor, type_: str, ticket: dict[str, Any], data: dict[str, Any]) -> None:
    """One ticket event, indexed under the ticket, its contact and its company."""
    await uow.record(actor.org_id, type_, subject_type="ticket", subject_id=ticket["id"], actor_id=actor.id,
                     actor_type=actor.kind, refs=_refs(ticket), data=data)


# --- lookups the rules need --------------------------------------------------------------------------

async def _live_contact(uow: UnitOfWork, org_id: str, contact_id: str) -> None:
    c = contacts.c
    q = sa.select(c.id).where(c.org_id == org_id, c.id == contact_id, c.deleted_at.is_(None))
    if (await uow.execute(q)).first() is None:
        raise invalid("contact_id", f"no contact {contact_id!r} in this org")


async def _live_company(uow: UnitOfWork, org_id: str, company_id: str) -> None:
    c = companies.c
    q = sa.select(c.id).where(c.org_id == org_id, c.id == company_id, c.deleted_at.is_(None))
    if (await uow.execute(q)).first() is None:
        raise invalid("company_id", f"no company {company_id!r} in this org")


async def primary_company(uow: UnitOfWork, org_id: str, contact_id: str) -> str | None:
    """The contact's primary (live, not placeholder) company, if it has one."""
    j, c = contact_companies.c, companies.c
    q = (sa.select(j.company_id).join(companies, sa.and_(c.org_id == j.org_id, c.id == j.company_id))
         .where(j.org_id == org_id, j.contact_id == contact_id, j.is_primary.is_(True), c.deleted_at.is_(None),
                c.is_placeholder.is_(False)).limit(1))
    return (await uow.execute(q)).scalar_one_or_none()


async def _assignable(uow: UnitOfWork, org_id: str, user_id: str) -> None:
    """Rule ``ticket-assignee-must-handle-tickets``: an active user of the org whose roles read tickets."""
    q = sa.select(users.c.roles).where(users.c.org_id == org_id, users.c.id == user_id, users.c.is_active.is_(True))
    roles = (await uow.execute(q)).scalar_one_or_none()
    if roles is None:
        raise invalid("assignee_id", f"no active user {user_id!r} in this org")
    if grant(frozenset(roles), "ticket:read") is Grant.NONE:
        raise RuleViolation(model.ASSIGNEE_RULE, "tickets can be assigned only to users who handle tickets "
                            "(support-agent or crm-admin)", errors=[FieldError("assignee_id", "cannot handle tickets")],
                            extra={"field": "assignee_id"})


async def _org_settings(uow: UnitOfWork, org_id: str, *, lock: bool = False) -> dict[str, Any]:
    q = sa.select(orgs.c.settings).where(orgs.c.id == org_id)
    if lock and uow.backend == "postgresql":
        # Serialises ticket numbering per org. NO KEY UPDATE: inserts elsewhere that reference the
        # org (their foreign key takes KEY SHARE) are not blocked.
        q = q.with_for_update(key_share=True)
    raw = (await uow.execute(q)).scalar_one()
    return dict(raw or {})


async def _next_number(uow: UnitOfWork, org_id: str) -> int:
    """The org's next ticket number; the caller holds the org lock (PostgreSQL) or the write lock (SQLite)."""
    q = sa.select(sa.func.max(t.number)).where(t.org_id == org_id)
    return int((await uow.execute(q)).scalar_one() or 0) + 1


# --- access ------------------------------------------------------------------------------------------

async def load(uow: UnitOfWork, org_id: str, ticket_id: str, *, for_update: bool = False) -> dict[str, Any]:
    q = sa.select(*COLUMNS).where(t.org_id == org_id, t.id == ticket_id)
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"ticket {ticket_id!r} does not exist", extra={"id": ticket_id})
    return dict(row._mapping)


async def access_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str, permission: str, *,
                        for_update: bool = False, expected_version: int | None = None) -> dict[str, Any]:
    """The ticket, once ``permission`` is granted (403) and it exists in the actor's org (404);
    ``expected_version`` (If-Match) refuses a stale write (412)."""
    require(actor, permission)
    ticket = await load(uow, actor.org_id, ticket_id, for_update=for_update)
    if expected_version is not None and expected_version != ticket["version"]:
        raise PreconditionFailed(f"the ticket changed since you read it (version {ticket['version']}, If-Match "
                                 f"had {expected_version})", extra={"current_version": ticket["version"]})
    return ticket


async def write(uow: UnitOfWork, actor: Actor, ticket: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Write ``values`` to a ticket read in this transaction; bumps its version."""
    values = {**values, "updated_at": clock.now(), "version": ticket["version"] + 1}
    res = await uow.execute(tickets.update().where(t.org_id == actor.org_id, t.id == ticket["id"],
                                                   t.version == ticket["version"]).values(**values))
    if res.rowcount != 1:  # a concurrent writer won the race between our read and write
        raise PreconditionFailed("the ticket changed while this verb ran; try again")
    return {**ticket, **values}


# --- create / read -----------------------------------------------------------------------------------

async def create_ticket(uow: UnitOfWork, actor: Actor, cmd: TicketCreate) -> dict[str, Any]:
    """ticket:create (and ticket:assign when ``assignee_id`` is given)."""
    require(actor, "ticket:create")
    if cmd.assignee_id is not None:
        require(actor, "ticket:assign")
    now = clock.now()
    async with uow.transaction(write=True):
        settings = await _org_settings(uow, actor.org_id, lock=True)
        await _live_contact(uow, actor.org_id, cmd.contact_id)
        company_id = cmd.company_id
        if company_id is not None:
            await _live_company(uow, actor.org_id, company_id)
        else:
            company_id = await primary_company(uow, actor.org_id, cmd.contact_id)
        if cmd.assignee_id is not None:
            await _assignable(uow, actor.org_id, cmd.assignee_id)
        tags = clean_tags(cmd.tags)
        row: dict[str, Any] = {
            "id": ids.new("tkt"), "number": await _next_number(uow, actor.org_id), "subject": cmd.subject,
            "description": cmd.description, "status": "open", "priority": cmd.priority, "channel": cmd.channel,
            "contact_id": cmd.contact_id, "company_id": company_id, "assignee_id": cmd.assignee_id,
            "resolution": None, "first_response_at": None, "resolved_at": None, "closed_at": None,
            "due_at": cmd.due_at or model.due_at(now, cmd.priority, model.sla_hours(settings)),
            "tags": tags, "created_by": actor.user_id, "created_at": now, "updated_at": now, "version": 1}
        await uow.insert(tickets, [{"org_id": actor.org_id, **row}])
        await rec.set_tags(uow, actor.org_id, "ticket", row["id"], tags, replace=False)
        await record(uow, actor, "ticket.created", row, {"after": {k: rec.jsonable(v) for k, v in row.items()}})
    return out(row)


async def get_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str) -> dict[str, Any]:
    async with uow.transaction(autocommit=True):
        return out(await access_ticket(uow, actor, ticket_id, "ticket:read"))


def _search(q: str) -> sa.ColumnElement[bool]:
    """``q``: the ticket number (``1042`` or ``#1042``), else a substring of the subject."""
    text = q.lstrip("#")
    like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    by_subject = sa.func.lower(t.subject).like(like, escape="\\")
    if text.isdigit() and len(text) <= 9:
        return sa.or_(t.number == int(text), by_subject)
    return by_subject


async def list_tickets(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    """Keyset pages of the org's tickets (ticket:read)."""
    require(actor, "ticket:read")
    stmt = sa.select(*COLUMNS).where(t.org_id == actor.org_id)
    errors: list[FieldError] = []
    for name, raw in query.filters.items():
        fn = FILTERS.get(name)
        if fn is None:
            errors.append(FieldError(name, f"unknown filter; filter by one of {sorted(FILTERS)}"))
            continue
        try:
            stmt = stmt.where(fn(actor.org_id, raw))
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    if query.q is not None:
        stmt = stmt.where(_search(query.q))
    # With ``q`` the default sort is "relevance": for tickets, newest first.
    sort_name, desc = ("created_at", True) if query.sort == "relevance" else parse_sort(query.sort, SORTABLE)
    stmt = keyset(stmt, sort_col=t[sort_name], id_col=t.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [out(dict(r._mapping)) for r in await uow.execute(stmt)]
    return page(rows, query, sort_name)


async def list_contact_tickets(uow: UnitOfWork, actor: Actor, contact_id: str, query: ListQuery) -> Page:
    """A contact's tickets: 404 when the contact is absent or another org's."""
    require(actor, "ticket:read")
    if "contact_id" in query.filters:
        raise ValidationFailed("invalid list parameters", errors=[FieldError("contact_id", "given by the path")])
    c = contacts.c
    async with uow.transaction(autocommit=True):
        found = (await uow.execute(sa.select(c.id).where(c.org_id == actor.org_id, c.id == contact_id,
                                                         c.deleted_at.is_(None)))).first()
    if found is None:
        raise NotFound(f"contact {contact_id!r} does not exist", extra={"id": contact_id})
    return await list_tickets(uow, actor, replace(query, filters={**query.filters, "contact_id": contact_id}))


# --- patch / delete ----------------------------------------------------------------------------------

async def update_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str, patch: TicketPatch,
                        expected_version: int | None = None) -> dict[str, Any]:
    """ticket:update. A closed ticket is a record of what was done: only its tags may change."""
    fields = patch.model_dump(exclude_unset=True)
    nulls = [k for k in NOT_NULL if k in fields and fields[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null", errors=[FieldError(k, "cannot be null") for k in nulls])
    if "tags" in fields:
        fields["tags"] = clean_tags(fields["tags"])
    async with uow.transaction(write=True):
        ticket = await access_ticket(uow, actor, ticket_id, "ticket:update", for_update=True,
                                     expected_version=expected_version)
        before, after = rec.diff(ticket, fields)
        if not after:
            return out(ticket)
        model.assert_editable(ticket["status"], set(after))
        if after.get("company_id") is not None:
            await _live_company(uow, actor.org_id, fields["company_id"])
        values = {k: fields[k] for k in after}
        if "priority" in values and "due_at" not in fields:
            hours = model.sla_hours(await _org_settings(uow, actor.org_id))
            due = model.due_at(ticket["created_at"], values["priority"], hours)
            if due != ticket["due_at"]:
                values["due_at"] = due
                before["due_at"], after["due_at"] = rec.jsonable(ticket["due_at"]), rec.jsonable(due)
        ticket = await write(uow, actor, ticket, values)
        if "tags" in values:
            await rec.set_tags(uow, actor.org_id, "ticket", ticket_id, values["tags"])
        await record(uow, actor, "ticket.updated", ticket, {"before": before, "after": after})
    return out(ticket)


async def delete_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str, expected_version: int | None = None) -> None:
    """Erase a ticket (ticket:delete, crm-admin); the ``ticket.deleted`` event keeps what it held."""
    async with uow.transaction(write=True):
        ticket = await access_ticket(uow, actor, ticket_id, "ticket:delete", for_update=True,
                                     expected_version=expected_version)
        await rec.set_tags(uow, actor.org_id, "ticket", ticket_id, [])
        await uow.execute(tickets.delete().where(t.org_id == actor.org_id, t.id == ticket_id))
        await record(uow, actor, "ticket.deleted", ticket,
                     {"before": {k: rec.jsonable(v) for k, v in ticket.items()}, "permanent": True})


# --- assign and the machine's verbs ------------------------------------------------------------------

async def assign_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str, assignee_id: str | None) -> dict[str, Any]:
    """ticket:assign: hand the ticket to a user who handles tickets, or to nobody (null). The same
    assignee again changes nothing. A closed ticket cannot be reassigned (409)."""
    async with uow.transaction(write=True):
        ticket = await access_ticket(uow, actor, ticket_id, "ticket:assign", for_update=True)
        if assignee_id is not None:
            await _assignable(uow, actor.org_id, assignee_id)
        if assignee_id == ticket["assignee_id"]:
            return out(ticket)
        model.assert_editable(ticket["status"], {"assignee_id"})
        before = ticket["assignee_id"]
        ticket = await write(uow, actor, ticket, {"assignee_id": assignee_id})
        await record(uow, actor, "ticket.assigned", ticket,
                     {"before": {"assignee_id": before}, "after": {"assignee_id": assignee_id}})
    return out(ticket)


# verb -> the permission it needs: parking a ticket is ordinary desk work (ticket:update);
# resolving, reopening and closing decide the outcome (ticket:resolve).
PERMISSIONS: dict[str, str] = {"pending": "ticket:update", "resolve": "ticket:resolve",
                               "reopen": "ticket:resolve", "close": "ticket:resolve"}


async def move_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str, verb: str, *,
                      resolution: str | None = None) -> dict[str, Any]:
    """One verb of the machine (``model.VERBS``): 409 from a status it does not leave from."""
    target, event = model.VERBS[verb]
    async with uow.transaction(write=True):
        ticket = await access_ticket(uow, actor, ticket_id, PERMISSIONS[verb], for_update=True)
        model.assert_transition(ticket["status"], target)
        values: dict[str, Any] = {"status": target, **model.stamps(target, clock.now(), ticket)}
        if verb == "resolve" and resolution is not None and resolution.strip():
            values["resolution"] = resolution.strip()
        before = {k: rec.jsonable(ticket[k]) for k in values}
        ticket = await write(uow, actor, ticket, values)
        await record(uow, actor, event, ticket,
                     {"before": before, "after": {k: rec.jsonable(v) for k, v in values.items()}})
    return out(ticket)


async def ticket_timeline(uow: UnitOfWork, actor: Actor, ticket_id: str, *, limit: int, cursor: str | None) -> Page:
    """The events indexed under the ticket, newest first, in the shared timeline's cursor format.
    Activities carry no ticket link yet (docs/tickets.md), so only events are merged in."""
    before = timeline.position(cursor)  # a bad cursor is a 400 first
    async with uow.transaction():
        await access_ticket(uow, actor, ticket_id, "ticket:read")
        return await timeline.page(uow, actor, ticket_id, link=None, limit=limit, before=before)
