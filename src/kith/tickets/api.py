"""Ticket routes (seed 004 SupportApp; docs/tickets.md): CRUD, the verbs of the ticket machine, a
contact's tickets and the ticket timeline. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path, Query
from starlette.responses import Response

from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow
from kith.http.routing import READ, WRITE, router
from kith.tickets import service
from kith.tickets.schemas import AssignIn, ResolveIn, TicketCreate, TicketList, TicketOut, TicketPatch
from kith.timeline.schemas import TimelinePage

api = router("tickets")
Id = Annotated[str, Path(max_length=40)]
T = "/tickets/{ticket_id}"


@api.get("/tickets", response_model=TicketList, responses=READ, summary="List tickets")
async def list_tickets(query: Listing, actor: CurrentActor, uow: Uow) -> r.JSON:
    """ticket:read. Keyset-paginated. Filters: `status`, `priority`, `channel`, `assignee_id`,
    `unassigned` (true|false), `contact_id`, `company_id`, `number` (`1042` or `#1042`), `tag`,
    `overdue` (true|false: open or pending past `due_at`), `created_after`, `created_before`,
    `updated_after`, `updated_before`, `due_after`, `due_before` (ISO 8601 with timezone). `q` matches
    the number or a substring of the subject. `sort`: created_at, updated_at, due_at, number, subject,
    id (prefix `-` for descending; default `-created_at`)."""
    page = await service.list_tickets(uow, actor, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.post("/tickets", response_model=TicketOut, status_code=201, responses=WRITE, summary="Open a ticket")
async def create_ticket(body: TicketCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """ticket:create (plus ticket:assign with `assignee_id`). The reporter `contact_id` is required;
    `company_id` defaults to the reporter's primary company. The ticket gets the org's next `number`
    and `due_at` = now + the SLA hours of its priority unless given."""
    ticket = await service.create_ticket(uow, actor, body)
    return r.record(ticket, 201, {"Location": f"/api/v1/tickets/{ticket['id']}"})


@api.get(T, response_model=TicketOut, responses=READ, summary="Get a ticket")
async def get_ticket(ticket_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """ticket:read."""
    return r.record(await service.get_ticket(uow, actor, ticket_id))


@api.patch(T, response_model=TicketOut, responses=WRITE, summary="Update a ticket")
async def patch_ticket(ticket_id: Id, body: TicketPatch, actor: CurrentActor, uow: Uow, version: IfMatch) -> r.JSON:
    """ticket:update. Only the fields sent change; `tags` is replaced. A new `priority` moves `due_at`
    (created_at + the SLA hours) unless `due_at` is sent too. A closed ticket only takes tags (409).
    `If-Match` refuses a stale write (412)."""
    return r.record(await service.update_ticket(uow, actor, ticket_id, body, version))


@api.delete(T, status_code=204, responses=WRITE, summary="Erase a ticket")
async def delete_ticket(ticket_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """ticket:delete (crm-admin). Erases the ticket; the `ticket.deleted` event keeps what it held."""
    await service.delete_ticket(uow, actor, ticket_id, version)
    return Response(status_code=204)


@api.post(f"{T}/assign", response_model=TicketOut, responses=WRITE, summary="Assign a ticket")
async def assign(ticket_id: Id, body: AssignIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """ticket:assign. `assignee_id` must be an active user who handles tickets (rule
    `ticket-assignee-must-handle-tickets`, 422); null unassigns. A closed ticket: 409."""
    return r.record(await service.assign_ticket(uow, actor, ticket_id, body.assignee_id))


@api.post(f"{T}/pending", response_model=TicketOut, responses=WRITE, summary="Wait on the customer")
async def pending(ticket_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """open → pending (ticket:update). Stamps `first_response_at` the first time. Otherwise: 409."""
    return r.record(await service.move_ticket(uow, actor, ticket_id, "pending"))


@api.post(f"{T}/resolve", response_model=TicketOut, responses=WRITE, summary="Resolve a ticket")
async def resolve(ticket_id: Id, actor: CurrentActor, uow: Uow,
                  body: Annotated[ResolveIn | None, Body()] = None) -> r.JSON:
    """open|pending → resolved (ticket:resolve), with an optional `resolution`. Stamps `resolved_at`
    (and `first_response_at` the first time). Otherwise: 409."""
    resolution = body.resolution if body else None
    return r.record(await service.move_ticket(uow, actor, ticket_id, "resolve", resolution=resolution))


@api.post(f"{T}/reopen", response_model=TicketOut, responses=WRITE, summary="Reopen a ticket")
async def reopen(ticket_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """pending|resolved → open (ticket:resolve); `resolved_at` is cleared. Closed tickets stay closed: 409."""
    return r.record(await service.move_ticket(uow, actor, ticket_id, "reopen"))


@api.post(f"{T}/close", response_model=TicketOut, responses=WRITE, summary="Close a ticket")
async def close(ticket_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """resolved → closed (ticket:resolve). Closed is final for every role. Otherwise: 409."""
    return r.record(await service.move_ticket(uow, actor, ticket_id, "close"))


@api.get(f"{T}/timeline", response_model=TimelinePage, responses=READ, summary="A ticket's timeline")
async def timeline(ticket_id: Id, actor: CurrentActor, uow: Uow, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                   cursor: Annotated[str | None, Query(max_length=100)] = None) -> r.JSON:
    """ticket:read. The ticket's events, newest first (`kind`: `event`)."""
    page = await service.ticket_timeline(uow, actor, ticket_id, limit=limit, cursor=cursor)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.get("/contacts/{contact_id}/tickets", response_model=TicketList, responses=READ,
         summary="A contact's tickets")
async def contact_tickets(contact_id: Id, query: Listing, actor: CurrentActor, uow: Uow) -> r.JSON:
    """ticket:read. The tickets this contact reported, with the filters and sorts of `GET /tickets`."""
    page = await service.list_contact_tickets(uow, actor, contact_id, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})
