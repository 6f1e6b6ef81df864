"""Deal routes (seed 004 §8): CRUD, the state-machine verbs, the deal's contacts, approval
requests, a contact's deals, and the business rules with the org's values."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query
from starlette.responses import Response

from kith import rules
from kith.auth.access import require
from kith.deals import approvals, repo, service
from kith.deals.schemas import (
    ApprovalAnswer,
    ApprovalList,
    ApprovalOut,
    ApprovalRequestIn,
    DealContactIn,
    DealContactOut,
    DealCreate,
    DealList,
    DealOut,
    DealPatch,
    LoseDeal,
    MoveStage,
    Reassign,
    ReopenDeal,
    WinDeal,
)
from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow, includes, settings
from kith.http.routing import READ, WRITE, router
from kith.records.api import add_timeline_route

api = router("deals")
Id = Annotated[str, Path(max_length=40)]
Include = Annotated[str | None, Query(max_length=200, description=(
    f"Comma-separated relations to expand: {', '.join(repo.INCLUDES)}"))]
Settings = Annotated[Any, Depends(settings)]


@api.get("/deals", response_model=DealList, responses=READ, summary="List deals")
async def list_deals(query: Listing, actor: CurrentActor, uow: Uow, include: Include = None) -> r.JSON:
    """Keyset-paginated deals you may see (a sales-rep: their own; a manager: their team's).
    Filters: `status`, `pipeline_id`, `stage_id`, `owner_id`, `contact_id` (primary or listed),
    `company_id`, `lead_id`, `tag`, `created_after`/`created_before`, `updated_after`/`updated_before`
    (ISO date-times), `close_date_from`/`close_date_to` (dates, on `expected_close_date`). `q`
    matches the title. `sort`: created_at, updated_at, title, amount, stage_changed_at, id (`-` for
    descending). `include=line_items,contacts,activities` expands each deal."""
    page = await service.list_deals(uow, actor, query, includes(include, repo.INCLUDES))
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.post("/deals", response_model=DealOut, status_code=201, responses=WRITE, summary="Create a deal")
async def create_deal(body: DealCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """A new open deal. No `pipeline_id`/`stage_id`: the org's default pipeline, its first open
    stage. `value` is `{amount, currency}` (currency default: the price list's, else the org's).
    With `line_items` the amount is their total (computed here). `probability` overrides the
    stage's. `contacts` adds further contacts with role labels. References to records of another
    org answer 422."""
    row = await service.create_deal(uow, actor, body)
    return r.record(row, 201, {"Location": f"/api/v1/deals/{row['id']}"})


@api.get("/deals/{deal_id}", response_model=DealOut, responses=READ, summary="Get a deal")
async def get_deal(deal_id: Id, actor: CurrentActor, uow: Uow, include: Include = None) -> r.JSON:
    return r.record(await service.get_deal(uow, actor, deal_id, includes(include, repo.INCLUDES)))


@api.patch("/deals/{deal_id}", response_model=DealOut, responses=WRITE, summary="Update a deal")
async def update_deal(deal_id: Id, body: DealPatch, actor: CurrentActor, uow: Uow, version: IfMatch) -> r.JSON:
    """Change only the fields sent (`metadata` merges, `tags` and `line_items` replace). A new
    amount or currency cancels the deal's approval requests. Stage and status change through
    `move-stage`, `won`, `lost`, `abandon`, `reopen`. `If-Match` refuses a stale write (412)."""
    return r.record(await service.update_deal(uow, actor, deal_id, body, version))


@api.delete("/deals/{deal_id}", status_code=204, responses=WRITE, summary="Delete a deal")
async def delete_deal(deal_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch, cfg: Settings,
                      permanent: Annotated[bool, Query(description="Erase for good (crm-admin).")] = False
                      ) -> Response:
    """To the trash (restorable for 30 days; deal:delete, crm-admin); `?permanent=true` erases it."""
    await service.delete_deal(uow, actor, deal_id, permanent=permanent, expected_version=version,
                              retention_days=cfg.trash_retention_days)
    return Response(status_code=204)


@api.post("/deals/{deal_id}/restore", response_model=DealOut, responses=WRITE, summary="Restore a deal")
async def restore_deal(deal_id: Id, actor: CurrentActor, uow: Uow, cfg: Settings) -> r.JSON:
    return r.record(await service.restore_deal(uow, actor, deal_id, retention_days=cfg.trash_retention_days))


# --- the state machine (seed 004 §4) ----------------------------------------------------------------

@api.post("/deals/{deal_id}/move-stage", response_model=DealOut, responses=WRITE, summary="Move a deal")
async def move_stage(deal_id: Id, body: MoveStage, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Move an open deal to another stage of its pipeline (deal:update); its probability follows the
    stage unless overridden. A won/lost outcome stage closes the deal as `won`/`lost` do (same
    permission, rules and events; `reason` for lost). A closed deal answers 409."""
    return r.record(await service.move_stage(uow, actor, deal_id, body))


@api.post("/deals/{deal_id}/won", response_model=DealOut, responses=WRITE, summary="Mark a deal won")
async def won(deal_id: Id, actor: CurrentActor, uow: Uow, body: WinDeal | None = None) -> r.JSON:
    """open → won (deal:close-won). Rules (422 with `rule`): `deal-won-requires-close-date` (send
    `expected_close_date` here if the deal has none), `high-value-deal-approval` (a value at or above
    the org's threshold needs an approved approval request for that value). The deal moves to its
    pipeline's won stage; its contact becomes a `customer`; the owner's manager is notified."""
    return r.record(await service.win_deal(uow, actor, deal_id, body or WinDeal()))


@api.post("/deals/{deal_id}/lost", response_model=DealOut, responses=WRITE, summary="Mark a deal lost")
async def lost(deal_id: Id, actor: CurrentActor, uow: Uow, body: LoseDeal | None = None) -> r.JSON:
    """open → lost (deal:close-lost). Rule `deal-lost-requires-reason`: `{reason}` is required (422)."""
    return r.record(await service.lose_deal(uow, actor, deal_id, body or LoseDeal()))


@api.post("/deals/{deal_id}/abandon", response_model=DealOut, responses=WRITE, summary="Abandon a deal")
async def abandon(deal_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """open → abandoned (deal:close-lost)."""
    return r.record(await service.abandon_deal(uow, actor, deal_id))


@api.post("/deals/{deal_id}/reopen", response_model=DealOut, responses=WRITE, summary="Reopen a won deal")
async def reopen(deal_id: Id, actor: CurrentActor, uow: Uow, body: ReopenDeal | None = None) -> r.JSON:
    """won → open, only within 30 days of closing (deal:close-won); otherwise 409. Clears won_at and
    closed_at; a deal in the won stage returns to the pipeline's last open stage (or `stage_id`)."""
    return r.record(await service.reopen_deal(uow, actor, deal_id, body or ReopenDeal()))


@api.post("/deals/{deal_id}/reassign", response_model=DealOut, responses=WRITE, summary="Reassign a deal")
async def reassign(deal_id: Id, body: Reassign, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Give the deal another owner (deal:reassign: crm-admin, sales-manager); the new owner is notified."""
    return r.record(await service.reassign_deal(uow, actor, deal_id, body))


# --- the contacts a deal involves ----------------------------------------------------------------------

@api.get("/deals/{deal_id}/contacts", response_model=dict[str, list[DealContactOut]], responses=READ,
         summary="A deal's contacts")
async def deal_contacts(deal_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """The primary contact first (`is_primary`), then the others with their role labels."""
    deal = await service.get_deal(uow, actor, deal_id, ("contacts",))
    return r.JSON({"data": deal["contacts"]})


@api.post("/deals/{deal_id}/contacts", response_model=dict[str, list[DealContactOut]], status_code=201,
          responses=WRITE, summary="Add a contact to a deal")
async def add_contact(deal_id: Id, body: DealContactIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Add a contact with a role label such as "Decision maker" (deal:update). Adding it again
    changes its label and answers 200."""
    data, created = await service.add_contact(uow, actor, deal_id, body)
    return r.JSON({"data": data}, status_code=201 if created else 200)


@api.delete("/deals/{deal_id}/contacts/{contact_id}", status_code=204, responses=WRITE,
            summary="Remove a contact from a deal")
async def remove_contact(deal_id: Id, contact_id: Id, actor: CurrentActor, uow: Uow) -> Response:
    await service.remove_contact(uow, actor, deal_id, contact_id)
    return Response(status_code=204)


@api.get("/contacts/{contact_id}/deals", response_model=DealList, responses=READ, summary="A contact's deals")
async def contact_deals(contact_id: Id, query: Listing, actor: CurrentActor, uow: Uow) -> r.JSON:
    """The deals involving the contact (as primary contact or listed), that you may see; the
    filters and sorts of `GET /deals`."""
    page = await service.contact_deals(uow, actor, contact_id, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


# --- approvals (DESIGN §5.3) ----------------------------------------------------------------------------

@api.post("/deals/{deal_id}/approval-requests", response_model=ApprovalOut, status_code=201, responses=WRITE,
          summary="Ask approval to close a high-value deal")
async def request_approval(deal_id: Id, actor: CurrentActor, uow: Uow,
                           body: ApprovalRequestIn | None = None) -> r.JSON:
    """A pending request for the deal's current value (the owner, or anyone who may update the deal).
    The owner's manager is notified (every sales-manager when the owner has none). 409 when the deal
    is not open, is below the threshold, or already has a pending or approved request."""
    row = await approvals.request_approval(uow, actor, deal_id, body or ApprovalRequestIn())
    return r.record(row, 201, {"Location": f"/api/v1/approvals/{row['id']}"})


@api.get("/approvals", response_model=ApprovalList, responses=READ, summary="List approval requests")
async def list_approvals(query: Listing, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Requests on deals you may see. Filters: `status` (pending, approved, rejected, cancelled),
    `deal_id`, `requested_by`; `sort`: created_at, id."""
    page = await approvals.list_approvals(uow, actor, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.get("/approvals/{approval_id}", response_model=ApprovalOut, responses=READ, summary="Get an approval request")
async def get_approval(approval_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await approvals.get_approval(uow, actor, approval_id))


@api.post("/approvals/{approval_id}/approve", response_model=ApprovalOut, responses=WRITE,
          summary="Approve a request")
async def approve(approval_id: Id, actor: CurrentActor, uow: Uow, body: ApprovalAnswer | None = None) -> r.JSON:
    """pending → approved (deal:approve: sales-manager, crm-admin); the requester is notified.
    A request already answered or cancelled answers 409."""
    return r.record(await approvals.answer(uow, actor, approval_id, "approved", body or ApprovalAnswer()))


@api.post("/approvals/{approval_id}/reject", response_model=ApprovalOut, responses=WRITE,
          summary="Reject a request")
async def reject(approval_id: Id, actor: CurrentActor, uow: Uow, body: ApprovalAnswer | None = None) -> r.JSON:
    """pending → rejected (deal:approve); the requester is notified."""
    return r.record(await approvals.answer(uow, actor, approval_id, "rejected", body or ApprovalAnswer()))


# --- business rules (seed 004 §6) --------------------------------------------------------------------------

@api.get("/rules", responses=READ, summary="Business rules and the org's values")
async def list_rules(actor: CurrentActor, uow: Uow) -> r.JSON:
    """The rules of seed 004 §6 with their stable ids (the `rule` of a 422 problem), the verb each
    guards, and the org's current value of its setting (change them with `PATCH /api/v1/org`)."""
    require(actor, "org:read")
    async with uow.transaction():
        settings_ = await repo.org_settings(uow, actor.org_id)
    return r.JSON({"data": rules.describe(settings_)})


add_timeline_route(api, kind=service.KIND, plural="deals")
