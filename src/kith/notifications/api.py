"""Notifications routes: the caller's own in-app inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from kith.core.listing import MAX_LIMIT
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, WRITE, router
from kith.notifications import service
from kith.notifications.schemas import NotificationOut, NotificationPage, ReadAll, UnreadCount

api = router("notifications")


@api.get("/notifications", response_model=NotificationPage, responses=READ, summary="My notifications")
async def list_notifications(actor: CurrentActor, uow: Uow,
                             unread: Annotated[bool, Query(description="Only unread ones.")] = False,
                             limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
                             cursor: Annotated[str | None, Query(max_length=2000)] = None) -> r.JSON:
    """Your notifications, newest first: assignments (`contact.assigned`, `lead.assigned`,
    `deal.assigned`, `task.assigned`), `lead.converted`, `deal.won` (to the owner's manager),
    `approval.requested`/`approval.answered`, reminders. Only ever your own."""
    page = await service.list_notifications(uow, actor, unread=unread, limit=limit, cursor=cursor)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.get("/notifications/unread-count", response_model=UnreadCount, responses=READ,
         summary="How many unread notifications I have")
async def unread_count(actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.JSON({"unread": await service.unread_count(uow, actor)})


@api.post("/notifications/read-all", response_model=ReadAll, responses=WRITE, summary="Mark all my notifications read")
async def read_all(actor: CurrentActor, uow: Uow) -> r.JSON:
    """Returns how many were unread."""
    return r.JSON({"marked_read": await service.mark_all_read(uow, actor)})


@api.post("/notifications/{notification_id}/read", response_model=NotificationOut, responses=WRITE,
          summary="Mark a notification read")
async def read_one(notification_id: Annotated[str, Path(max_length=40)], actor: CurrentActor, uow: Uow) -> r.JSON:
    """Marking a read one again keeps its first `read_at`. Another user's notification answers 404."""
    return r.JSON(await service.mark_read(uow, actor, notification_id))
