"""Lead routes (seed 004 §8, seed 002 leads feed): CRUD, the feed's upsert and batch, and the
lead machine's verbs. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path
from starlette.responses import Response

from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow
from kith.http.routing import READ, WRITE, router
from kith.leads import feed, service
from kith.leads.convert import convert_lead
from kith.leads.schemas import (
    BatchIn,
    BatchOut,
    ConvertIn,
    ConvertOut,
    DisqualifyIn,
    LeadCreate,
    LeadList,
    LeadOut,
    LeadPatch,
    ReassignIn,
)
from kith.leads.tables import leads
from kith.records import crud
from kith.records.api import add_timeline_route

api = router("leads")


async def _read_only(*_: object) -> None:
    raise AssertionError("the lead timeline Kind is read-only: lead writes go through kith.leads.service")


# What the shared timeline route needs to know of leads (table, permission resource); lead writes
# have their own service, so this Kind is never used to write.
TIMELINE_KIND = crud.Kind(name="lead", table=leads, resource="lead", sortable=(), filters={}, search_columns=(),
                          not_null=(), prepare=_read_only)
add_timeline_route(api, kind=TIMELINE_KIND, plural="leads")
Id = Annotated[str, Path(max_length=40)]


@api.get("/leads", response_model=LeadList, responses=READ, summary="List leads")
async def list_leads(query: Listing, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Keyset-paginated leads you may read (a sales-rep: their own and their team's). Filters:
    `status`, `owner_id`, `contact_id`, `source`, `channel`, `external_key`, `created_after`,
    `created_before`, `updated_after`, `updated_before` (ISO 8601 with timezone). `q` matches the
    title (substring), or the external key or listing ref exactly. `sort`: created_at, updated_at,
    score, title, id (prefix `-` for descending; default `-created_at`)."""
    page = await service.list_leads(uow, actor, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.post("/leads", response_model=LeadOut, status_code=201, responses=WRITE,
          summary="Create a lead (or update it by external_key)")
async def create_lead(body: LeadCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """lead:create. The lead's person is `contact_id` or `contact` (matched by email,
    case-insensitively, or created: contact:create). With `external_key` (the feed's own key,
    unique per org) a resend updates that lead's feed fields (title, source, score, source_url,
    channel, listing_ref, payload; only those sent, a null title/score/payload counts as not sent)
    and answers 200; a new lead answers 201. A resend never changes the lead's contact, status or
    owner. `owner_id` other than yourself needs lead:reassign."""
    lead, created = await feed.create_lead(uow, actor, body)
    if not created:
        return r.record(lead)
    return r.record(lead, 201, {"Location": f"/api/v1/leads/{lead['id']}"})


@api.post("/leads/batch", response_model=BatchOut, responses=WRITE, summary="Create or update up to 1,000 leads")
async def batch(body: BatchIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """The feed in bulk: each element of `leads` is a body of `POST /api/v1/leads` (upserted on
    `external_key`; a key repeated in the batch updates the lead its first occurrence made). One
    transaction; `results` has one entry per lead, in order: `{index, status: created|updated, id}`
    or `{index, status: error, code, detail, errors: [{field, message}]}`. A refused lead writes
    nothing; the others are written. More than 1,000 leads: 422."""
    return r.JSON(await feed.upsert_batch(uow, actor, body.leads))


@api.get("/leads/{lead_id}", response_model=LeadOut, responses=READ, summary="Get a lead")
async def get_lead(lead_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """lead:read (a sales-rep: their own and their team's; another's answers 404)."""
    return r.record(await service.get_lead(uow, actor, lead_id))


@api.patch("/leads/{lead_id}", response_model=LeadOut, responses=WRITE, summary="Update a lead")
async def patch_lead(lead_id: Id, body: LeadPatch, actor: CurrentActor, uow: Uow, version: IfMatch) -> r.JSON:
    """lead:update. Only the fields sent change; `payload` is replaced. Status changes through the
    verbs, the owner through `reassign`. `If-Match` refuses a stale write (412)."""
    return r.record(await service.update_lead(uow, actor, lead_id, body, version))


@api.delete("/leads/{lead_id}", status_code=204, responses=WRITE, summary="Delete a lead")
async def delete_lead(lead_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """lead:delete (crm-admin). Erases the lead (event `lead.deleted` keeps what it held); a deal it
    was converted to stays."""
    await service.delete_lead(uow, actor, lead_id, version)
    return Response(status_code=204)


# --- verbs (seed 004 Lead FSM) -----------------------------------------------------------------------

@api.post("/leads/{lead_id}/contacted", response_model=LeadOut, responses=WRITE, summary="Mark a lead contacted")
async def contacted(lead_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """new → contacted (lead:update). Logging an outbound activity on the lead does the same.
    From any other status: 409."""
    return r.record(await service.mark_contacted_lead(uow, actor, lead_id))


@api.post("/leads/{lead_id}/qualify", response_model=LeadOut, responses=WRITE, summary="Qualify a lead")
async def qualify(lead_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """contacted → qualified (lead:qualify). Rule `lead-qualify-score-threshold`: the score must be at
    least the org's `lead_qualify_score_threshold` (default 30), else 422. From another status: 409."""
    return r.record(await service.qualify_lead(uow, actor, lead_id))


@api.post("/leads/{lead_id}/disqualify", response_model=LeadOut, responses=WRITE, summary="Disqualify a lead")
async def disqualify(lead_id: Id, actor: CurrentActor, uow: Uow,
                     body: Annotated[DisqualifyIn | None, Body()] = None) -> r.JSON:
    """new|contacted|qualified → disqualified (lead:disqualify). Rule
    `lead-disqualify-requires-reason`: a missing or blank `reason` answers 422. From another status: 409."""
    return r.record(await service.disqualify_lead(uow, actor, lead_id, body.reason if body else None))


@api.post("/leads/{lead_id}/reopen", response_model=LeadOut, responses=WRITE, summary="Reopen a lead")
async def reopen(lead_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """disqualified → new (lead:update); the disqualification reason is cleared. From another status: 409."""
    return r.record(await service.reopen_lead(uow, actor, lead_id))


@api.post("/leads/{lead_id}/convert", response_model=ConvertOut, responses=WRITE,
          summary="Convert a lead to a deal")
async def convert(lead_id: Id, actor: CurrentActor, uow: Uow,
                  body: Annotated[ConvertIn | None, Body()] = None) -> r.JSON:
    """qualified → converted (lead:convert), in one transaction: a deal for the lead's contact and
    owner in the default pipeline (or `pipeline_id`), titled as the lead unless `title` is given,
    worth `value`; the sales-process workflow started on it; a note activity "Lead converted to Deal"
    on the contact and the deal; the owner notified (`lead.converted`). Any refusal writes nothing.
    From another status: 409. Answers `{lead, deal}`."""
    lead, deal = await convert_lead(uow, actor, lead_id, body or ConvertIn.model_validate({}))
    return r.JSON({"lead": lead, "deal": deal})


@api.post("/leads/{lead_id}/reassign", response_model=LeadOut, responses=WRITE, summary="Give a lead to another user")
async def reassign(lead_id: Id, body: ReassignIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """lead:reassign (crm-admin, sales-manager): `owner_id` must be an active user of the org, who is
    notified (`lead.assigned`)."""
    return r.record(await service.reassign_lead(uow, actor, lead_id, body.owner_id))
