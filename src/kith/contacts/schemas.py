"""Contact request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, field_validator

from kith.records.schemas import (
    CustomFieldValues,
    Email,
    Language,
    Metadata,
    Name,
    Notes,
    Phone,
    RecordId,
    ShortText,
    Strict,
    Tags,
    Timezone,
    Url,
)

Stage = Literal["lead", "qualified", "customer", "churned", "partner"]
Status = Literal["active", "inactive", "bounced", "unsubscribed"]
Role = Literal["decision_maker", "influencer", "champion", "blocker", "user"]
Channel = Literal["email", "phone", "sms", "chat"]
Score = Annotated[int, Field(ge=0, le=100)]


class _ContactFields(Strict):
    first_name: Annotated[str, Field(max_length=100)] | None = None
    last_name: Annotated[str, Field(max_length=100)] | None = None
    email: Email | None = None
    external_user_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Your own user id for this person (the widget's user_id); unique per org.")
    phone: Phone | None = None
    mobile: Phone | None = None
    avatar: Url | None = None
    title: ShortText | None = None
    department: ShortText | None = None
    role: Role | None = None
    source: Annotated[str, Field(max_length=100)] | None = None
    preferred_channel: Channel | None = None
    timezone: Timezone | None = None
    language: Language | None = None
    manager_id: RecordId | None = Field(None, description="Another contact: this contact's manager.")
    linkedin_url: Url | None = None
    twitter_handle: Annotated[str, Field(max_length=100, pattern=r"^@?[A-Za-z0-9_]{1,50}$")] | None = None
    marketing_consent: Annotated[str, Field(max_length=50)] | None = None
    last_engagement_at: AwareDatetime | None = None
    last_contacted_at: AwareDatetime | None = None
    owner_id: RecordId | None = None
    notes: Notes | None = None


class ContactCreate(_ContactFields):
    name: Name
    stage: Stage = "lead"
    status: Status = "active"
    lead_score: Score = 0
    tags: Tags = []
    metadata: Metadata = {}
    custom_fields: CustomFieldValues = {}
    automation_enabled: StrictBool = True


class ContactPatch(_ContactFields):
    """Only the fields sent change; ``metadata`` merges; ``tags`` replaces the list."""

    name: Name | None = None
    stage: Stage | None = None
    status: Status | None = None
    lead_score: Score | None = None
    tags: Tags | None = None
    metadata: Metadata | None = None
    custom_fields: CustomFieldValues | None = None
    automation_enabled: StrictBool | None = None


# Fields that may not be set to null on PATCH (they have no "empty" value).
NOT_NULL = ("name", "stage", "status", "lead_score", "tags", "metadata", "custom_fields", "automation_enabled")


class ContactOut(BaseModel):
    id: str
    name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    external_user_id: str | None
    phone: str | None
    mobile: str | None
    avatar: str | None
    title: str | None
    department: str | None
    role: str | None
    stage: Stage
    status: Status
    source: str | None
    lead_score: int
    preferred_channel: str | None
    timezone: str | None
    language: str | None
    manager_id: str | None
    linkedin_url: str | None
    twitter_handle: str | None
    marketing_consent: str | None
    last_engagement_at: datetime | None
    owner_id: str | None
    tags: list[str]
    notes: str | None
    metadata: dict[str, Any]
    custom_fields: CustomFieldValues
    automation_enabled: bool
    last_contacted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    companies: list[dict[str, Any]] | None = Field(None, description="With ?include=companies.")
    visitors: list[dict[str, Any]] | None = Field(None, description="With ?include=visitors.")


class ContactList(BaseModel):
    data: list[ContactOut]
    next_cursor: str | None


class CompanyLink(Strict):
    company_id: RecordId
    is_primary: StrictBool | None = None
    role: Annotated[str, Field(max_length=100)] | None = Field(None, description='e.g. "Decision maker"')
    title: ShortText | None = None


# --- Verb bodies (seed 001: capture, assign/reassign, merge) ----------------------------------------

class CaptureIn(_ContactFields):
    """A lead capture (a form, a feed): matched to a contact by email, else a new contact."""

    email: Email
    source: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="Where the capture came from, e.g. `demo-request-form`.")
    name: Name | None = Field(None, description="Defaults to the email's local part for a new contact.")
    tags: Tags = []
    metadata: Metadata = {}
    lead_title: ShortText | None = Field(None, description='Defaults to "<name> (<source>)".')


class CaptureOut(BaseModel):
    contact: ContactOut
    lead: dict[str, Any]


class OwnerIn(Strict):
    owner_id: RecordId = Field(description="An active user of the org.")


class MergeIn(Strict):
    from_ids: Annotated[list[RecordId], Field(min_length=1, max_length=20)] = Field(
        description="The duplicates to merge into this contact and erase (1–20, distinct).")

    @field_validator("from_ids")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("list each contact once")
        return v


DuplicateReason = Literal["email", "phone", "name_company"]


class DuplicateContact(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    mobile: str | None
    title: str | None
    stage: Stage
    owner_id: str | None
    created_at: datetime
    updated_at: datetime


class DuplicateCompany(BaseModel):
    id: str
    name: str


class DuplicateGroup(BaseModel):
    reason: DuplicateReason
    key: str = Field(description="What the contacts share: the normalised email, phone digits or name.")
    company: DuplicateCompany | None = Field(description="The company they are linked to (name_company only).")
    size: int = Field(description="How many contacts you may read share it; `contacts` lists the oldest 25.")
    contacts: list[DuplicateContact]


class DuplicateList(BaseModel):
    data: list[DuplicateGroup]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page. A "
                                                "page may hold fewer than `limit` groups and still have one.")
