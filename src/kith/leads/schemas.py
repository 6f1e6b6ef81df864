"""Lead request and response shapes: CRUD, the seed 002 feed (upsert on ``external_key``, batch)
and the verb bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from kith.deals.schemas import Value
from kith.records.schemas import Email, Name, Phone, RecordId, ShortText, Strict, Url

Status = Literal["new", "contacted", "qualified", "disqualified", "converted"]
Score = Annotated[int, Field(ge=0, le=100)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Source = Annotated[str, Field(min_length=1, max_length=100)]
Channel = Annotated[str, Field(min_length=1, max_length=50, description="e.g. email, form, facebook, phone")]
ExternalKey = Annotated[str, Field(min_length=1, max_length=200, description=(
    "The feed's own key for this lead, unique per org: sending it again updates that lead."))]
Payload = Annotated[dict[str, Any], Field(description="The feed's raw data (a JSON object, ≤ 64 KiB); "
                                          "replaced as a whole when sent.")]
BATCH_MAX = 1000  # seed 002 feed: one request, one transaction, at most this many leads


class FeedContact(Strict):
    """The lead's person, matched to a contact by email (case-insensitive) or created."""

    email: Email
    name: Name | None = Field(None, description="Defaults to the email's local part for a new contact.")
    first_name: Annotated[str, Field(max_length=100)] | None = None
    last_name: Annotated[str, Field(max_length=100)] | None = None
    phone: Phone | None = None
    mobile: Phone | None = None
    title: ShortText | None = None


class _LeadFields(Strict):
    title: Title | None = None
    source: Source | None = None
    score: Score | None = None
    source_url: Url | None = None
    channel: Channel | None = None
    listing_ref: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    payload: Payload | None = None


class LeadCreate(_LeadFields):
    """A new lead, or, when ``external_key`` names an existing one, an update of its feed fields
    (title, source, score, source_url, channel, listing_ref, payload; only those sent)."""

    contact_id: RecordId | None = Field(None, description="An existing contact of the org; or send `contact`.")
    contact: FeedContact | None = Field(None, validate_default=True)
    external_key: ExternalKey | None = None
    owner_id: RecordId | None = Field(None, description="Default: you. Anyone else needs lead:reassign.")

    @field_validator("contact")
    @classmethod
    def _one_contact(cls, v: FeedContact | None, info: ValidationInfo) -> FeedContact | None:
        # Reported on ``contact`` (not the whole body): contact_id is validated before it.
        if (info.data.get("contact_id") is None) == (v is None) and "contact_id" in info.data:
            raise ValueError("give either contact_id or contact (the lead's person), not both")
        return v


class LeadPatch(_LeadFields):
    """Only the fields sent change; ``payload`` is replaced. Status moves only through the verbs,
    the owner through ``reassign``."""

    external_key: ExternalKey | None = None


# Fields a PATCH may not set to null.
NOT_NULL = ("title", "score", "payload")


class LeadOut(BaseModel):
    id: str
    contact_id: str
    title: str
    source: str | None
    owner_id: str | None
    status: Status
    score: int
    disqualification_reason: str | None
    converted_to_deal_id: str | None
    converted_at: datetime | None
    external_key: str | None
    source_url: str | None
    channel: str | None
    listing_ref: str | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int


class LeadList(BaseModel):
    data: list[LeadOut]
    next_cursor: str | None


class BatchIn(BaseModel):
    """Not ``Strict``: each lead is validated on its own (``LeadCreate``, storable text included) so a
    bad one is reported in its result instead of refusing the batch; checking them here too would
    walk every lead twice."""

    model_config = ConfigDict(extra="forbid")

    leads: Annotated[list[Any], Field(min_length=1, max_length=BATCH_MAX, description=(
        f"1 to {BATCH_MAX} leads, each shaped as the body of POST /api/v1/leads."))]


class ItemError(BaseModel):
    field: str
    message: str


class BatchItem(BaseModel):
    index: int
    status: Literal["created", "updated", "error"]
    id: str | None = None
    code: str | None = Field(None, description="The problem code of an error (validation-failed, forbidden, …).")
    detail: str | None = None
    errors: list[ItemError] | None = None


class BatchOut(BaseModel):
    created: int
    updated: int
    failed: int
    results: list[BatchItem]


class DisqualifyIn(Strict):
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="Required (rule `lead-disqualify-requires-reason`).")


class ReassignIn(Strict):
    owner_id: RecordId = Field(description="An active user of the org.")


class ConvertIn(Strict):
    title: Title | None = Field(None, description="Default: the lead's title.")
    value: Value | None = Field(None, description='e.g. {"amount": "1200.00", "currency": "EUR"}; currency '
                                                  "defaults to the org's.")
    pipeline_id: RecordId | None = Field(None, description="A deal pipeline; default: the org's default one.")
    expected_close_date: date | None = None


class ConvertOut(BaseModel):
    lead: LeadOut
    deal: dict[str, Any]
