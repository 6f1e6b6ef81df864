"""Routes shared by the CRM objects: list, create, get, patch, delete, restore, timeline.

No ``from __future__ import annotations`` here on purpose: FastAPI reads the closures' annotations
at registration time, and they name per-object models held in local variables.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from starlette.responses import Response

from kith.auth.model import Actor
from kith.core.uow import UnitOfWork
from kith.http import responses as r
from kith.http.deps import IfMatch, Listing, actor, includes, settings, uow
from kith.http.routing import READ, WRITE
from kith.records import crud
from kith.timeline import service as timeline
from kith.timeline.schemas import TimelinePage

Id = Annotated[str, Path(max_length=40)]


def add_record_routes(api: APIRouter, *, kind: crud.Kind, plural: str, create_model: type[BaseModel],
                      patch_model: type[BaseModel], out_model: type[BaseModel], list_model: type[BaseModel],
                      includes_allowed: tuple[str, ...], get_fn: Any) -> None:
    label = kind.name

    @api.get(f"/{plural}", response_model=list_model, responses=READ, name=f"list_{plural}",
             summary=f"List {plural}")
    async def list_records(query: Listing, who: Annotated[Actor, Depends(actor)],
                           u: Annotated[UnitOfWork, Depends(uow)]) -> r.JSON:
        page = await crud.list_(u, who, kind, query)
        return r.JSON({"data": page.data, "next_cursor": page.next_cursor})

    list_records.__doc__ = (
        f"Keyset-paginated {plural}. Filter by field name ({', '.join(sorted(kind.filters))}), search with "
        f"`q`, sort with `sort` ({', '.join(kind.sortable)}; prefix `-` for descending).\n\n"
        f"**Custom fields** (`GET /api/v1/custom-fields?object={label}`) filter and sort by their name like "
        "built-in fields: `?plan=pro` (equality; numbers as numbers, `true`/`false`, `YYYY-MM-DD`; a "
        "select value must be one of its options), `?features=sso` on a multi_select matches records "
        "holding that option, and `sort=plan` / `sort=-plan` (not multi_select, not with `q`) orders by "
        "the value with records without one last in both directions; the cursor stays exact. "
        "A name that is neither built in nor one of the org's fields answers 422.")

    @api.post(f"/{plural}", response_model=out_model, status_code=201, responses=WRITE,
              name=f"create_{label}", summary=f"Create a {label}")
    async def create_record(body: create_model, who: Annotated[Actor, Depends(actor)],  # type: ignore[valid-type]
                            u: Annotated[UnitOfWork, Depends(uow)]) -> r.JSON:
        """`custom_fields` holds values of the org's custom fields (`{"<name>": value}`), each validated
        against its definition; every required field must be given. A bad value refuses the whole
        record (422 naming `custom_fields.<name>`)."""
        row = await crud.create(u, who, kind, body, extra=_create_extra(kind), enforce_required=True)
        return r.record(row, 201, {"Location": f"/api/v1/{plural}/{row['id']}"})

    @api.get(f"/{plural}/{{record_id}}", response_model=out_model, responses=READ, name=f"get_{label}",
             summary=f"Get a {label}")
    async def get_record(record_id: Id, who: Annotated[Actor, Depends(actor)],
                         u: Annotated[UnitOfWork, Depends(uow)],
                         include: Annotated[str | None, Query(max_length=200, description=(
                             f"Comma-separated relations to expand: {', '.join(includes_allowed)}"))] = None
                         ) -> r.JSON:
        return r.record(await get_fn(u, who, record_id, includes(include, includes_allowed)))

    @api.patch(f"/{plural}/{{record_id}}", response_model=out_model, responses=WRITE, name=f"update_{label}",
               summary=f"Update a {label}")
    async def patch_record(record_id: Id, body: patch_model,  # type: ignore[valid-type]
                           who: Annotated[Actor, Depends(actor)], u: Annotated[UnitOfWork, Depends(uow)],
                           version: IfMatch) -> r.JSON:
        return r.record(await crud.update(u, who, kind, record_id, body, version))

    patch_record.__doc__ = ("Change only the fields sent. `metadata` merges (RFC 7386: null removes a key); "
                            "`custom_fields` merges key by key (null removes a value; a required one cannot be "
                            "removed); `tags` replaces the list. Send `If-Match` to refuse a stale write (412).")

    @api.delete(f"/{plural}/{{record_id}}", status_code=204, responses=WRITE, name=f"delete_{label}",
                summary=f"Delete a {label}")
    async def delete_record(record_id: Id, who: Annotated[Actor, Depends(actor)],
                            u: Annotated[UnitOfWork, Depends(uow)], version: IfMatch,
                            cfg: Annotated[Any, Depends(settings)],
                            permanent: Annotated[bool, Query(description="Erase for good (crm-admin).")] = False
                            ) -> Response:
        await crud.delete(u, who, kind, record_id, permanent=permanent, expected_version=version,
                          retention_days=cfg.trash_retention_days)
        return Response(status_code=204)

    delete_record.__doc__ = (f"Move the {label} to the trash (restorable for 30 days); `?permanent=true` "
                             "erases it, also from the trash.")

    @api.post(f"/{plural}/{{record_id}}/restore", response_model=out_model, responses=WRITE,
              name=f"restore_{label}", summary=f"Restore a {label} from the trash")
    async def restore_record(record_id: Id, who: Annotated[Actor, Depends(actor)],
                             u: Annotated[UnitOfWork, Depends(uow)], cfg: Annotated[Any, Depends(settings)]
                             ) -> r.JSON:
        return r.record(await crud.restore(u, who, kind, record_id, retention_days=cfg.trash_retention_days))

    add_timeline_route(api, kind=kind, plural=plural)


def add_timeline_route(api: APIRouter, *, kind: crud.Kind, plural: str) -> None:
    """``GET /{plural}/{id}/timeline`` for any record kind with an owner (contacts, companies,
    deals, leads)."""
    label = kind.name

    @api.get(f"/{plural}/{{record_id}}/timeline", response_model=TimelinePage, responses=READ,
             name=f"{label}_timeline", summary=f"A {label}'s timeline")
    async def record_timeline(record_id: Id, who: Annotated[Actor, Depends(actor)],
                              u: Annotated[UnitOfWork, Depends(uow)],
                              limit: Annotated[int, Query(ge=1, le=500)] = 50,
                              cursor: Annotated[str | None, Query(max_length=100)] = None) -> r.JSON:
        """Every event about this record and the activities linked to it that you may read, merged
        newest first; each item has `kind` (`event` or `activity`). One `cursor` pages through both."""
        page = await timeline.for_record(u, who, kind, record_id, limit=limit, cursor=cursor)
        return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


def _create_extra(kind: crud.Kind) -> dict[str, Any]:
    return {"is_placeholder": False} if "is_placeholder" in kind.table.c else {}
