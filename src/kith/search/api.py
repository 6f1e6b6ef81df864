"""`GET /api/v1/search`: one query across contacts and companies (and every type registered later)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, router
from kith.search import service

api = router("search")


class SearchHit(BaseModel):
    """One match. Besides these, a hit carries its type's summary fields (contact: email, title,
    stage, owner_id; company: domain, external_id, stage, owner_id)."""

    model_config = ConfigDict(extra="allow")

    type: str
    id: str
    name: str
    rank: int


class SearchPage(BaseModel):
    data: list[SearchHit]
    next_cursor: str | None


@api.get("/search", response_model=SearchPage, responses=READ, summary="Search records")
async def search(
    actor: CurrentActor,
    uow: Uow,
    q: Annotated[str, Query(min_length=1, max_length=200, description="What to look for.")],
    types: Annotated[str | None, Query(max_length=200, description=(
        "Comma-separated record types (`contact,company`); default every type you may read."))] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Hits per page (1–100).")] = 20,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> r.JSON:
    """Every word of `q` must begin a word of the record (name, email and its parts, phone digits,
    title, notes, tags; companies: name, domain, external_id, notes, tags), accents and case
    ignored; any text is accepted and read as plain words (no operators). Best matches first: `rank`
    0 for an exact name/email/domain, 1 when the name/email starts with `q`, 2 when a word of the
    name/email does, 3 for the rest; then by name. Types your role may not read are left out."""
    page = await service.search(uow, actor, q, types=types, limit=limit, cursor=cursor)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})
