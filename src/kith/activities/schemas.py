"""Activity request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from kith.records.schemas import Metadata, Notes, RecordId, Strict

ActivityType = Literal["call", "email", "meeting", "note", "task", "demo", "sms", "chat"]
Direction = Literal["inbound", "outbound"]
Subject = Annotated[str, Field(min_length=1, max_length=500)]
Outcome = Annotated[str, Field(max_length=200)]
ChannelName = Annotated[str, Field(min_length=1, max_length=50, description=(
    "Where it happened, free text: `phone`, `gmail`, `whatsapp`, `facebook`, `web-form`, …"))]

NOT_NULL = ("type", "subject", "occurred_at", "metadata")


class ActivityCreate(Strict):
    type: ActivityType
    subject: Subject
    body: Notes | None = None
    outcome: Outcome | None = None
    channel: ChannelName | None = None
    direction: Direction | None = Field(default=None, description=(
        "`outbound` communications (call, email, meeting, demo, sms, chat) set the contact's "
        "`last_contacted_at` and move its `new` leads to `contacted`."))
    occurred_at: AwareDatetime | None = Field(default=None, description="When it happened; default now.")
    due_at: AwareDatetime | None = Field(default=None, description="A to-do's due date (tasks).")
    contact_id: RecordId | None = None
    company_id: RecordId | None = None
    deal_id: RecordId | None = None
    lead_id: RecordId | None = None
    assignee_id: RecordId | None = Field(default=None, description=(
        "Who must do it (an active user of the org); a to-do defaults to you. Assigning someone else "
        "notifies them (`task.assigned`)."))
    metadata: Metadata = {}


class ActivityPatch(Strict):
    """Only the fields sent change; ``metadata`` merges (RFC 7386)."""

    type: ActivityType | None = None
    subject: Subject | None = None
    body: Notes | None = None
    outcome: Outcome | None = None
    channel: ChannelName | None = None
    direction: Direction | None = None
    occurred_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    contact_id: RecordId | None = None
    company_id: RecordId | None = None
    deal_id: RecordId | None = None
    lead_id: RecordId | None = None
    assignee_id: RecordId | None = None
    metadata: Metadata | None = None


class ActivityComplete(Strict):
    outcome: Outcome | None = None


class ActivityOut(BaseModel):
    id: str
    type: str
    status: Literal["open", "completed"]
    subject: str
    body: str | None
    outcome: str | None
    channel: str | None
    direction: str | None
    occurred_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    overdue: bool
    contact_id: str | None
    company_id: str | None
    deal_id: str | None
    lead_id: str | None
    actor_id: str | None
    assignee_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int


class ActivityPage(BaseModel):
    data: list[ActivityOut]
    next_cursor: str | None
