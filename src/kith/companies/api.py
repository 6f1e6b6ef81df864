"""Company routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from kith.companies import service
from kith.companies.schemas import CompanyCreate, CompanyList, CompanyOut, CompanyPatch
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, router
from kith.records import crud
from kith.records.api import add_record_routes

api = router("companies")
Id = Annotated[str, Path(max_length=40)]

add_record_routes(api, kind=service.KIND, plural="companies", create_model=CompanyCreate,
                  patch_model=CompanyPatch, out_model=CompanyOut, list_model=CompanyList,
                  includes_allowed=service.INCLUDES, get_fn=service.get_company)


@api.get("/companies/{record_id}/contacts", responses=READ, summary="A company's contacts")
async def list_contacts(record_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    await crud.get(uow, actor, service.KIND, record_id)
    async with uow.transaction():
        return r.JSON({"data": await service.contacts_of(uow, actor.org_id, record_id)})
