"""Request/response shapes for automation rules and their run log. Conditions and actions are
checked by the service (``kith.automations.model`` / ``actions``), which names each error's path."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, field_validator

from kith.records.schemas import Name, Strict

Trigger = Annotated[str, Field(min_length=1, max_length=80, description=(
    "An event type (GET /api/v1/event-types), e.g. `contact.qualified`."))]
Conditions = Annotated[dict[str, Any], Field(description=(
    '`{}` (always), or `{"all": [...]}` / `{"any": [...]}` of `{field, op, value}` and nested groups; '
    "ops: eq, ne, gt, gte, lt, lte, in, contains, is_empty, is_not_empty, changed (with from/to)."))]
Actions = Annotated[list[Any], Field(min_length=1, max_length=20, description=(
    "create_deal, create_activity, update_field, add_tag, notify_user, call_webhook (see docs/automations.md)."))]


class AutomationCreate(Strict):
    name: Name
    enabled: StrictBool = True
    trigger: Trigger
    conditions: Conditions = {}
    actions: Actions


class AutomationPatch(Strict):
    """Only the fields sent change; the rule is checked again as a whole."""

    name: Name | None = None
    enabled: StrictBool | None = None
    trigger: Trigger | None = None
    conditions: Conditions | None = None
    actions: Actions | None = None

    @field_validator("name", "enabled", "trigger", "conditions", "actions")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class AutomationOut(BaseModel):
    id: str
    name: str
    enabled: bool
    trigger: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class AutomationWithSecret(AutomationOut):
    secret: str = Field(description="Signs the rule's call_webhook requests (Kith-Signature); shown only here.")


class AutomationPage(BaseModel):
    data: list[AutomationOut]
    next_cursor: str | None


class ActionResult(BaseModel):
    index: int
    type: str
    status: str = Field(description="succeeded | failed")
    result: dict[str, Any] | None = None
    error: str | None = None


class RunOut(BaseModel):
    id: str
    automation_id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending | succeeded | failed | skipped")
    depth: int = Field(description="Automated steps that led here (1: a person or the system caused the event).")
    reason: str | None = Field(description="Why it was skipped or failed.")
    actions: list[ActionResult]
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunPage(BaseModel):
    data: list[RunOut]
    next_cursor: str | None
