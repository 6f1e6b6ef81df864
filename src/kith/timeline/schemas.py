"""Timeline shapes: events and activities in one list, each item tagged with its ``kind``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from kith.activities.schemas import ActivityOut


class EventOut(BaseModel):
    kind: Literal["event"] = "event"
    id: str
    type: str
    subject_type: str
    subject_id: str
    actor_type: str
    actor_id: str | None
    occurred_at: datetime
    data: dict[str, Any]


class ActivityItem(ActivityOut):
    """An activity linked to the record, as ``GET /api/v1/activities/{id}`` shows it."""

    kind: Literal["activity"] = "activity"


TimelineItem = Annotated[EventOut | ActivityItem, Field(discriminator="kind")]


class TimelinePage(BaseModel):
    data: list[TimelineItem]
    next_cursor: str | None
