"""Import routes (DESIGN §6 Imports). Thin: parse the multipart form, call the service, render."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import File, Form, UploadFile
from fastapi import Path as PathParam
from starlette.responses import StreamingResponse

from kith.http import responses as r
from kith.http.deps import CurrentActor, Listing, Uow
from kith.http.routing import READ, WRITE, router
from kith.imports import readers, service
from kith.imports.schemas import ImportOut, ImportPage

api = router("imports")
Id = Annotated[str, PathParam(max_length=40)]


@api.post("/imports", response_model=ImportOut, status_code=202, responses=WRITE, summary="Import a CSV or XLSX file")
async def create_import(
    actor: CurrentActor,
    uow: Uow,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 with or without BOM, Windows-1252/Latin-1; "
                                                 "`,` `;` tab or `|` delimited) or XLSX (first sheet).")],
    object: Annotated[str, Form(description="contacts | companies | leads | deals")],
    mode: Annotated[str, Form(description="create | update | upsert")] = "create",
    match: Annotated[str | None, Form(max_length=64, description=(
        "The unique field rows are matched on: contacts email (default) | external_user_id | id; "
        "companies domain (default) | external_id | id; leads external_key (default) | id; deals id."))] = None,
    mapping: Annotated[str | None, Form(max_length=100_000, description=(
        'JSON {"Column": "field"} overriding the header mapping; `custom_fields.<name>` for a custom field; '
        "null ignores a column."))] = None,
    dry_run: Annotated[bool, Form(description="Validate and report; write no record.")] = False,
) -> r.JSON:
    """Check the options and the file's header (422 naming the field at fault, nothing stored), store
    the file and queue the import; the worker runs it. Follow it with `GET /api/v1/imports/{id}`.
    Needs create (mode create, upsert) and update (update, upsert) rights on the object."""
    tmp = Path(tempfile.mkdtemp(prefix="kith-upload-"))
    try:
        path = tmp / "upload"
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                out.write(chunk)
        row = await service.start_upload(uow, actor, obj=object, mode=mode, match=match, mapping_raw=mapping,
                                          dry_run=dry_run, filename=file.filename or "upload", path=path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return r.JSON(row, status_code=202, headers={"Location": f"/api/v1/imports/{row['id']}"})


@api.get("/imports", response_model=ImportPage, responses=READ, summary="List imports")
async def list_imports(actor: CurrentActor, uow: Uow, query: Listing) -> r.JSON:
    """Imports you started (all of the object's imports with the org-wide update grant), newest
    first; filters `status`, `object`."""
    return r.JSON(await service.list_imports(uow, actor, query))


@api.get("/imports/{import_id}", response_model=ImportOut, responses=READ, summary="An import's status")
async def get_import(import_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Status (queued | running | done | failed), counts, and the first 100 row errors."""
    return r.JSON(await service.get_import(uow, actor, import_id))


@api.get("/imports/{import_id}/errors.csv", responses=READ, summary="The per-row error report",
         response_class=StreamingResponse)
async def import_errors_csv(import_id: Id, actor: CurrentActor, uow: Uow) -> StreamingResponse:
    """Every row error as CSV: `row,field,message` (row 1 is the file's header)."""
    rows = service.error_rows(uow, actor, import_id)
    first = await anext(rows, None)  # 404 before the response starts

    async def body() -> AsyncIterator[bytes]:
        yield readers.to_csv([["row", "field", "message"]]).encode()
        if first is not None:
            yield readers.to_csv([first]).encode()
        async for row in rows:
            yield readers.to_csv([row]).encode()

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{import_id}-errors.csv"'})


@api.post("/imports/{import_id}/revert", response_model=ImportOut, responses=WRITE, summary="Revert an import")
async def revert_import(import_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Remove every record the import created and restore every record it updated to its state
    before the import. 409 while it runs, or for a dry run."""
    return r.JSON(await service.revert(uow, actor, import_id))
