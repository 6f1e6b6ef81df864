"""Contact routes: the shared record routes, company links and the seed 001 verbs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from starlette.responses import Response

from kith.config import Settings
from kith.contacts import service, verbs
from kith.contacts.enrichment import load_provider
from kith.contacts.merge import merge_contacts
from kith.contacts.schemas import (
    CaptureIn,
    CaptureOut,
    CompanyLink,
    ContactCreate,
    ContactList,
    ContactOut,
    ContactPatch,
    MergeIn,
    OwnerIn,
)
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow, settings
from kith.http.routing import READ, WRITE, router
from kith.records import crud
from kith.records.api import add_record_routes

api = router("contacts")
Id = Annotated[str, Path(max_length=40)]

add_record_routes(api, kind=service.KIND, plural="contacts", create_model=ContactCreate, patch_model=ContactPatch,
                  out_model=ContactOut, list_model=ContactList, includes_allowed=service.INCLUDES,
                  get_fn=service.get_contact)


@api.get("/contacts/{record_id}/companies", responses=READ, summary="A contact's companies")
async def list_links(record_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    await crud.get(uow, actor, service.KIND, record_id)
    async with uow.transaction():
        return r.JSON({"data": await service.companies_of(uow, actor.org_id, record_id)})


@api.post("/contacts/{record_id}/companies", responses=WRITE, status_code=201, summary="Link a company")
async def link(record_id: Id, body: CompanyLink, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Link the contact to a company (needs update rights on both). Linking again updates the
    link's role, title or primary flag and answers 200."""
    data, created = await service.link_company(uow, actor, record_id, body)
    return r.JSON({"data": data}, status_code=201 if created else 200)


@api.delete("/contacts/{record_id}/companies/{company_id}", status_code=204, responses=WRITE,
            summary="Unlink a company")
async def unlink(record_id: Id, company_id: Id, actor: CurrentActor, uow: Uow) -> Response:
    await service.unlink_company(uow, actor, record_id, company_id)
    return Response(status_code=204)


# --- Verbs (seed 001) ------------------------------------------------------------------------------

@api.post("/contacts/capture", response_model=CaptureOut, status_code=201, responses=WRITE,
          summary="Capture a lead")
async def capture(body: CaptureIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Match a contact by email (case-insensitive) or create one, set its source when empty and open
    a lead for it, unless it has an open lead from the same source (contact:create and lead:create).
    201 when the contact was created, 200 when matched."""
    contact, lead, created = await verbs.capture_contact(uow, actor, body)
    return r.JSON({"contact": contact, "lead": lead}, status_code=201 if created else 200)


@api.post("/contacts/{record_id}/qualify", response_model=ContactOut, responses=WRITE, summary="Qualify a contact")
async def qualify(record_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Move the contact to stage `qualified` (contact:update). Rules: `contact-qualify-requires-email`,
    `contact-qualify-score-threshold` (the org's `qualify_score_threshold`) answer 422; from a stage
    that cannot move to qualified, 409."""
    return r.record(await verbs.qualify_contact(uow, actor, record_id))


@api.post("/contacts/{record_id}/assign", response_model=ContactOut, responses=WRITE,
          summary="Give an unowned contact its owner")
async def assign(record_id: Id, body: OwnerIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """contact:reassign (crm-admin, sales-manager) gives the contact to any active user; rule
    `contact-reassign-manager-only`. A contact that has another owner answers 409: use reassign."""
    return r.record(await verbs.assign_contact(uow, actor, record_id, body.owner_id, "assign"))


@api.post("/contacts/{record_id}/reassign", response_model=ContactOut, responses=WRITE,
          summary="Move a contact to another owner")
async def reassign(record_id: Id, body: OwnerIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """contact:reassign (crm-admin, sales-manager); rule `contact-reassign-manager-only`."""
    return r.record(await verbs.assign_contact(uow, actor, record_id, body.owner_id, "reassign"))


@api.post("/contacts/{record_id}/merge", response_model=ContactOut, responses=WRITE,
          summary="Merge duplicates into this contact")
async def merge(record_id: Id, body: MergeIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Move the duplicates' visitors, company links, leads, tags, metadata and empty fields to this
    contact, then erase them. Needs contact:update here and contact:delete on each (crm-admin)."""
    return r.record(await merge_contacts(uow, actor, record_id, body.from_ids))


@api.post("/contacts/{record_id}/enrich", response_model=ContactOut, responses=WRITE, summary="Enrich a contact")
async def enrich(record_id: Id, actor: CurrentActor, uow: Uow, cfg: Annotated[Settings, Depends(settings)]
                 ) -> r.JSON:
    """Derive the company from the email domain (free-mail skipped), find or create and link it, and
    fill empty fields from the configured enrichment provider (contact:update). Answers the contact
    with its companies."""
    return r.record(await verbs.enrich_contact(uow, actor, record_id, load_provider(cfg.enrichment_provider)))
