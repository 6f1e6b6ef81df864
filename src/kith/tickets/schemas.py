"""Ticket request and response shapes: create, patch, the verb bodies and the record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from kith.records.schemas import RecordId, Strict, Tags

Status = Literal["open", "pending", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["email", "chat", "phone", "web", "api"]
Subject = Annotated[str, Field(min_length=1, max_length=300)]
Description = Annotated[str, Field(max_length=100_000)]
Resolution = Annotated[str, Field(max_length=10_000)]


class TicketCreate(Strict):
    subject: Subject
    description: Description = ""
    contact_id: RecordId = Field(description="The reporter: a contact of the org (required).")
    company_id: RecordId | None = Field(None, description="Default: the reporter's primary company, if any.")
    priority: Priority = "normal"
    channel: Channel = Field("web", description="How the customer reached the desk.")
    assignee_id: RecordId | None = Field(None, description=(
        "An active user who handles tickets (support-agent or crm-admin); needs ticket:assign."))
    tags: Tags = []
    due_at: AwareDatetime | None = Field(None, description=(
        "Default: created_at + the org's SLA hours for the priority (docs/tickets.md)."))


class TicketPatch(Strict):
    """Only the fields sent change; ``tags`` is replaced. Status moves only through the verbs, the
    assignee through ``assign``. Changing ``priority`` recomputes ``due_at`` from ``created_at``
    unless ``due_at`` is sent too."""

    subject: Subject | None = None
    description: Description | None = None
    company_id: RecordId | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    tags: Tags | None = None
    due_at: AwareDatetime | None = None


# Fields a PATCH may not set to null (company_id may: the ticket then has no company).
NOT_NULL = ("subject", "description", "priority", "channel", "tags", "due_at")


class AssignIn(Strict):
    assignee_id: RecordId | None = Field(description="An active user who handles tickets; null unassigns.")


class ResolveIn(Strict):
    resolution: Resolution | None = Field(None, description="What fixed it (kept with the ticket).")


class TicketOut(BaseModel):
    id: str
    number: int
    subject: str
    description: str
    status: Status
    priority: Priority
    channel: Channel
    contact_id: str
    company_id: str | None
    assignee_id: str | None
    resolution: str | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    due_at: datetime
    overdue: bool = Field(description="open or pending, and due_at has passed.")
    tags: list[str]
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class TicketList(BaseModel):
    data: list[TicketOut]
    next_cursor: str | None
