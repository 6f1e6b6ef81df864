"""Timeline (event) shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EventOut(BaseModel):
    id: str
    type: str
    subject_type: str
    subject_id: str
    actor_type: str
    actor_id: str | None
    occurred_at: datetime
    data: dict[str, Any]


class TimelinePage(BaseModel):
    data: list[EventOut]
    next_cursor: str | None
