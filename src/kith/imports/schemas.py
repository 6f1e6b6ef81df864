"""Import response shapes (the request is multipart: see ``api.create_import``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Counts(BaseModel):
    rows: int = Field(description="Data rows read so far (the header is not counted).")
    created: int
    updated: int
    skipped: int = Field(description="Rows that wrote nothing: unchanged, or refused (see errors).")
    errors: int = Field(description="Rows refused, each listed in `errors` / errors.csv.")


class RowError(BaseModel):
    row: int = Field(description="The spreadsheet row number: the header is row 1, the first data row 2.")
    field: str
    message: str


class ImportOut(BaseModel):
    id: str
    object: Literal["contacts", "companies", "leads", "deals"]
    mode: Literal["create", "update", "upsert"]
    match: str
    mapping: dict[str, str | None]
    dry_run: bool
    status: Literal["queued", "running", "done", "failed"]
    source: Literal["upload", "cli"]
    filename: str
    sha256: str
    record_events: bool | None
    failure: str | None = Field(description="Why a failed import failed (a problem with the file as a whole).")
    counts: Counts
    errors: list[RowError] | None = Field(None, description="The first 100 row errors (all in errors.csv).")
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reverted_at: datetime | None
    file_size: int | None = None
    reverted: dict[str, Any] | None = None


class ImportPage(BaseModel):
    data: list[ImportOut]
    next_cursor: str | None
