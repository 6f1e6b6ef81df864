"""Custom field definition routes (managing them is crm-admin business; every user reads them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from starlette.responses import Response

from kith.customfields import service
from kith.customfields.schemas import (
    CustomFieldCreate,
    CustomFieldList,
    CustomFieldOut,
    CustomFieldPatch,
    ObjectName,
)
from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Uow
from kith.http.routing import READ, WRITE, router

api = router("custom-fields")
Id = Annotated[str, Path(max_length=40)]
BASE = "/custom-fields"


@api.post(BASE, response_model=CustomFieldOut, status_code=201, responses=WRITE, summary="Define a custom field")
async def create_field(body: CustomFieldCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Define a typed field on contacts or companies (crm-admin). Its values then live in the
    records' `custom_fields` object (`{"<name>": value}`), are validated on every write, and the
    field name becomes a list filter (`GET /api/v1/contacts?<name>=<value>`) and a sort
    (`sort=<name>`, `sort=-<name>`). See docs/custom-fields.md."""
    row = await service.create_field(uow, actor, body)
    return r.record(row, 201, {"Location": f"/api/v1{BASE}/{row['id']}"})


@api.get(BASE, response_model=CustomFieldList, responses=READ, summary="List custom fields")
async def list_fields(actor: CurrentActor, uow: Uow,
                      object: Annotated[ObjectName | None, Query(description="Only this object's fields.")] = None
                      ) -> r.JSON:
    """The org's custom fields, by object, oldest first (every role may read them)."""
    return r.JSON({"data": await service.list_fields(uow, actor, object), "next_cursor": None})


@api.get(f"{BASE}/{{field_id}}", response_model=CustomFieldOut, responses=READ, summary="Get a custom field")
async def get_field(field_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_field(uow, actor, field_id))


@api.patch(f"{BASE}/{{field_id}}", response_model=CustomFieldOut, responses=WRITE, summary="Change a custom field")
async def patch_field(field_id: Id, body: CustomFieldPatch, actor: CurrentActor, uow: Uow, version: IfMatch
                      ) -> r.JSON:
    """Change the label, description, `required` flag or options (crm-admin). Options may be added
    or reordered; removing one a record still holds answers 409. `object`, `name` and `type` never
    change (409)."""
    return r.record(await service.update_field(uow, actor, field_id, body, version))


@api.delete(f"{BASE}/{{field_id}}", status_code=204, responses=WRITE, summary="Delete a custom field")
async def delete_field(field_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """Delete the field (crm-admin) and remove its value from every record of the org, the trash
    included, in batches before answering (each such record's version goes up). Not undoable."""
    await service.delete_field(uow, actor, field_id, version)
    return Response(status_code=204)
