"""``GET /api/v1/exports``: a list as a file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request
from starlette.responses import StreamingResponse

from kith.core import clock
from kith.core.errors import FieldError, ValidationFailed
from kith.exports import service, writers
from kith.exports.model import OBJECTS, Format, filename
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, router

api = router("exports")

# Parameters of the route itself; every other query parameter is a filter of the object's list.
OWN = frozenset({"object", "format", "q", "sort"})
# List parameters that make no sense for a whole-list file: refused rather than read as filters.
REFUSED = frozenset({"limit", "cursor", "include"})

ObjectName = Literal["contacts", "companies", "deals", "leads", "activities", "tickets"]
assert set(ObjectName.__args__) == set(OBJECTS)  # type: ignore[attr-defined]


def _filters(request: Request) -> dict[str, str]:
    filters: dict[str, str] = {}
    errors: list[FieldError] = []
    for name, value in request.query_params.multi_items():
        if name in OWN:
            continue
        if name in REFUSED:
            errors.append(FieldError(name, "an export holds the whole list: leave out limit, cursor and include"))
        elif name in filters:
            errors.append(FieldError(name, "give this filter once"))
        filters[name] = value
    if errors:
        raise ValidationFailed("invalid export parameters", errors=errors)
    return filters


@api.get("/exports", responses={**READ, 200: {"description": "The file", "content": {
    "text/csv": {}, Format.XLSX.media_type: {}}}}, summary="Export a list as CSV or XLSX")
async def export(request: Request, actor: CurrentActor, uow: Uow,
                 object: Annotated[ObjectName, Query(description="What to export.")],
                 format: Annotated[Format, Query(description="`csv` (default) or `xlsx`.")] = Format.CSV,
                 q: Annotated[str | None, Query(min_length=1, max_length=200, description="Text search, "
                                                "as on the list.")] = None,
                 sort: Annotated[str | None, Query(max_length=64, description="As on the list.")] = None,
                 ) -> StreamingResponse:
    """Everything `GET /api/v1/<object>` would list for you with the same filters, `q` and `sort`
    (every page of it), as one file: one row per record, one column per field, the object's custom
    fields as columns named after them. You get only the records you may read (a sales-rep's
    export holds their team's records). Streamed in batches of 1,000; a bad filter answers 422
    before the file starts. Text cells starting with `=`, `+`, `-`, `@`, tab or CR are prefixed with
    `'` so no spreadsheet evaluates them. See docs/exports.md."""
    job = await service.start(uow, actor, object, format, filters=_filters(request), q=q, sort=sort)
    body = writers.render(format, job.source.builtin, job.custom, service.batches(uow, actor, job))
    name = filename(object, format, clock.now())
    return StreamingResponse(body, media_type=format.media_type,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store"})
