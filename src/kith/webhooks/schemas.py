"""Request/response shapes for webhook subscriptions, their delivery log and the event catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StrictBool, field_validator

from kith.core.events import EVENT_TYPES
from kith.records.schemas import Strict
from kith.webhooks import model

NOUNS = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)


def _check_url(url: str) -> str:
    model.parse_target(url)  # ValueError → 422 naming the field
    return url


def _check_event_type(value: str) -> str:
    if value == "*" or value in EVENT_TYPES:
        return value
    if value.endswith(".*") and value[:-2] in NOUNS:
        return value
    raise ValueError(f"unknown event type {value!r}: see GET /api/v1/event-types (or use \"*\", \"<noun>.*\")")


Url = Annotated[str, Field(min_length=1, max_length=model.MAX_URL_LENGTH), AfterValidator(_check_url)]
EventType = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_check_event_type)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=500)]


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class WebhookCreate(Strict):
    url: Url = Field(description="Where to POST events: http(s), a public address unless "
                                 "KITH_WEBHOOKS_ALLOW_PRIVATE=true.")
    events: EventTypes = Field(description='Event types to receive: exact types, "<noun>.*" or "*".')
    description: Description | None = None

    _unique = field_validator("events")(_dedupe)


class WebhookPatch(Strict):
    url: Url | None = None
    events: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = Field(None, description="true re-enables a disabled subscription "
                                                         "(its failure count starts again at 0).")

    @field_validator("url", "events", "enabled")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value

    _unique = field_validator("events")(lambda v: _dedupe(v) if v is not None else v)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    consecutive_failures: int
    disabled_at: datetime | None
    disabled_reason: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="The signing secret, shown only in this answer.")


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending | succeeded | failed (every retry used up)")
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None
    replay_of: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None


class WebhookPage(BaseModel):
    data: list[WebhookOut]
    next_cursor: str | None


class EventTypeOut(BaseModel):
    type: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema")


class EventTypeList(BaseModel):
    data: list[EventTypeOut]
