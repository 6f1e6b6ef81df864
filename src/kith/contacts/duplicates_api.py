"""``GET /api/v1/contacts/duplicates``: its own router, included before the contact routes so the
path is not taken for ``/contacts/{record_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from kith.contacts.duplicates import list_duplicates
from kith.contacts.schemas import DuplicateList, DuplicateReason
from kith.core.listing import DEFAULT_LIMIT, MAX_LIMIT
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, router

api = router("contacts")


@api.get("/contacts/duplicates", response_model=DuplicateList, responses=READ, summary="Likely duplicate contacts")
async def duplicates(
    actor: CurrentActor,
    uow: Uow,
    reason: Annotated[DuplicateReason | None, Query(description="Only groups of this reason.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Groups per page (1–500).")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> r.JSON:
    """Groups of live contacts you may read that share an email (case, `+tag` and, for Gmail, dots
    ignored), a phone number (digits compared, any of phone and mobile) or a name (case, accents and
    punctuation ignored) together with a company they are linked to. Ordered by reason (email,
    phone, name_company), then key. Nothing is merged: review a group, then
    `POST /api/v1/contacts/{id}/merge`."""
    page = await list_duplicates(uow, actor, reason=reason, limit=limit, cursor=cursor)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})
