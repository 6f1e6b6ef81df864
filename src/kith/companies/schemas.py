"""Company request and response shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from kith.records.schemas import (
    Amount,
    CustomFieldValues,
    Metadata,
    Name,
    Notes,
    Phone,
    RecordId,
    ShortText,
    Strict,
    Tags,
    Url,
)


def normalise_domain(value: str) -> str:
    d = value.strip().lower()
    for prefix in ("https://", "http://"):
        if d.startswith(prefix):
            d = d[len(prefix):]
    d = d.split("/", 1)[0]
    if d.startswith("www."):
        d = d[4:]
    labels = d.split(".")
    if len(d) > 253 or len(labels) < 2 or not all(
        0 < len(lab) <= 63 and lab.replace("-", "").isalnum() and not lab.startswith("-") for lab in labels
    ):
        raise ValueError("not a valid domain name")
    return d


Domain = Annotated[str, Field(max_length=300), AfterValidator(normalise_domain)]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$"), AfterValidator(str.upper)]


class _CompanyFields(Strict):
    external_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Your own key for this company (e.g. `acme`); unique per org.")
    domain: Domain | None = None
    industry: Annotated[str, Field(max_length=100)] | None = None
    stage: Annotated[str, Field(min_length=1, max_length=120)] | None = Field(
        None, description="One of the org's company stages, matched case-insensitively.")
    deal_value: Amount | None = Field(None, description="The account's deal value (seed 000).")
    owner_id: RecordId | None = None
    notes: Notes | None = None
    description: Notes | None = None
    website: Url | None = None
    linkedin_url: Url | None = None
    employee_count: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    annual_revenue: Amount | None = None
    country: Country | None = None
    city: Annotated[str, Field(max_length=100)] | None = None
    phone: Phone | None = None
    logo_url: Url | None = None


class CompanyCreate(_CompanyFields):
    name: Name
    tags: Tags = []
    metadata: Metadata = {}
    custom_fields: CustomFieldValues = {}


class CompanyPatch(_CompanyFields):
    name: Name | None = None
    tags: Tags | None = None
    metadata: Metadata | None = None
    custom_fields: CustomFieldValues | None = None


NOT_NULL = ("name", "tags", "metadata", "custom_fields")


class CompanyOut(BaseModel):
    id: str
    name: str
    external_id: str | None
    domain: str | None
    industry: str | None
    stage: str | None
    deal_value: Decimal | None
    owner_id: str | None
    notes: str | None
    metadata: dict[str, Any]
    custom_fields: CustomFieldValues
    tags: list[str]
    is_placeholder: bool
    description: str | None
    website: str | None
    linkedin_url: str | None
    employee_count: int | None
    annual_revenue: Decimal | None
    country: str | None
    city: str | None
    phone: str | None
    logo_url: str | None
    enriched_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    contacts: list[dict[str, Any]] | None = Field(None, description="With ?include=contacts.")


class CompanyList(BaseModel):
    data: list[CompanyOut]
    next_cursor: str | None


_ = ShortText
