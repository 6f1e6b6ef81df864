"""Automation routes: the seed 002 pipeline state an outreach bot reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from kith.automation import service
from kith.contacts.schemas import Stage
from kith.core.listing import MAX_LIMIT
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, router

api = router("automation")


@api.get("/automation/targets", responses=READ, summary="Contacts an outreach bot may contact now")
async def automation_targets(
        actor: CurrentActor, uow: Uow,
        stage: Annotated[Stage, Query(description="The contacts' stage.")],
        not_contacted_since: Annotated[AwareDatetime | None, Query(description=(
            "ISO 8601 with timezone: leave out contacts contacted at or after this moment."))] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(max_length=2000)] = None) -> r.JSON:
    """Live contacts with `automation_enabled`, status `active`, in `stage`, never contacted or last
    contacted before `not_contacted_since` (every one when it is left out). Never-contacted contacts
    come first, then the longest-uncontacted. Logging an outbound communication
    (`POST /api/v1/activities`) moves a contact's `last_contacted_at`, which takes it off this list.
    Same shape as `GET /api/v1/contacts`; keyset-paginated."""
    page = await service.targets(uow, actor, stage=stage, not_contacted_since=not_contacted_since,
                                 limit=limit, cursor=cursor)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})
