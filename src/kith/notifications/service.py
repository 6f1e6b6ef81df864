"""Notifications: other slices call ``notify`` inside their own transaction, so a notification
exists exactly when the change that caused it was committed."""

from __future__ import annotations

from typing import Any

from kith.core import clock, ids
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
}


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
