"""Notifications: other slices call ``notify`` inside their own transaction, so a notification
exists exactly when the change that caused it was committed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.errors import NotFound
from kith.core.listing import ListQuery, Page, keyset, page
from kith.core.uow import UnitOfWork
from kith.notifications.tables import notifications

# type -> what it tells the user. Other slices pass one of these to ``notify``.
NOTIFICATION_TYPES: dict[str, str] = {
    "contact.assigned": "A contact was assigned to you.",
    "lead.assigned": "A lead was assigned to you.",
    "deal.assigned": "A deal was assigned to you.",
    "lead.converted": "Your lead was converted to a deal.",
    "deal.won": "A deal of your team was won.",
    "deal.rotting": "One of your deals has had no progress for longer than its stage allows.",
    "approval.requested": "A high-value deal waits for your approval.",
    "approval.answered": "Your approval request was approved or rejected.",
    "task.assigned": "A task was assigned to you.",
    "task.due": "A task of yours is due.",
    "webhook.disabled": "A webhook you created was disabled after too many failed deliveries.",
    "automation.notified": "An automation rule sent you a notification.",
}

READ_EVENT = "notification.read"


async def notify(uow: UnitOfWork, org_id: str, user_id: str | None, type_: str, title: str, *,
                 subject_type: str | None = None, subject_id: str | None = None, body: str | None = None,
                 data: dict[str, Any] | None = None) -> str | None:
    """Queue one in-app notification for ``user_id`` (nothing when there is nobody to tell)."""
    if type_ not in NOTIFICATION_TYPES:
        raise AssertionError(f"unregistered notification type {type_!r}")
    if user_id is None:
        return None
    notification_id = ids.new("ntf")
    await uow.execute(notifications.insert(), {
        "org_id": org_id, "id": notification_id, "user_id": user_id, "type": type_, "title": title[:300],
        "body": body, "subject_type": subject_type, "subject_id": subject_id, "data": data or {},
        "created_at": clock.now(), "read_at": None})
    return notification_id


# --- the inbox: a user reads only their own notifications --------------------------------------------

_OUT = [c for c in notifications.c if c.name not in {"org_id", "user_id"}]


def _mine(actor: Actor) -> tuple[sa.ColumnElement[bool], ...]:
    return notifications.c.org_id == actor.org_id, notifications.c.user_id == (actor.user_id or "")


async def list_notifications(uow: UnitOfWork, actor: Actor, *, unread: bool, limit: int, cursor: str | None
                             ) -> Page:
    """The caller's notifications, newest first (ids are time-ordered), keyset-paginated."""
    n = notifications.c
    stmt = sa.select(*_OUT).where(*_mine(actor))
    if unread:
        stmt = stmt.where(n.read_at.is_(None))  # served by the partial index ix_notifications_unread
    query = ListQuery(limit=limit, cursor=cursor, sort="-id")
    stmt = keyset(stmt, sort_col=n.id, id_col=n.id, query=query, sort_name="id", desc=True)
    async with uow.transaction():
        rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    return page(rows, query, "id")


async def mark_read(uow: UnitOfWork, actor: Actor, notification_id: str) -> dict[str, Any]:
    """Mark one of the caller's notifications read (again: nothing changes). Anyone else's: 404."""
    n = notifications.c
    async with uow.transaction(write=True):
        now = clock.now()
        marked = (await uow.execute(notifications.update()
                                    .where(*_mine(actor), n.id == notification_id, n.read_at.is_(None))
                                    .values(read_at=now).returning(n.type, n.subject_type, n.subject_id))).first()
        row = (await uow.execute(sa.select(*_OUT).where(*_mine(actor), n.id == notification_id))).first()
        if row is None:
            raise NotFound(f"notification {notification_id!r} does not exist", extra={"id": notification_id})
        if marked is not None:  # it was unread: reading it again records nothing
            await uow.record(actor.org_id, READ_EVENT, subject_type="notification", subject_id=notification_id,
                             actor_id=actor.id, actor_type=actor.kind,
                             data={"notification_id": notification_id, "type": marked.type,
                                   "subject_type": marked.subject_type, "subject_id": marked.subject_id,
                                   "read_at": now.isoformat()})
    return dict(row._mapping)


async def mark_all_read(uow: UnitOfWork, actor: Actor) -> int:
    """Mark every unread notification of the caller read; how many were unread. One summarising
    ``notification.read`` event (not one per notification) when there were any."""
    n = notifications.c
    async with uow.transaction(write=True):
        now = clock.now()
        res = await uow.execute(notifications.update().where(*_mine(actor), n.read_at.is_(None))
                                .values(read_at=now))
        count = int(res.rowcount)
        if count > 0 and actor.user_id is not None:
            await uow.record(actor.org_id, READ_EVENT, subject_type="user", subject_id=actor.user_id,
                             actor_id=actor.id, actor_type=actor.kind,
                             data={"all": True, "count": count, "read_at": now.isoformat()})
    return count


async def unread_count(uow: UnitOfWork, actor: Actor) -> int:
    n = notifications.c
    async with uow.transaction():
        q = sa.select(sa.func.count()).select_from(notifications).where(*_mine(actor), n.read_at.is_(None))
        return int((await uow.execute(q)).scalar_one())
