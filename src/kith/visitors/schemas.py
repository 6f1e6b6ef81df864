"""Widget request/response shapes (seed 000: identify, setDeal, setStage)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from kith.records.schemas import Amount, Email, Metadata, Name, Strict

Ref = Annotated[str, Field(min_length=1, max_length=200)]
StageMode = Literal["advance_only", "exact"]


class CompanyIn(Strict):
    id: Ref | None = Field(None, description="An existing company id, or your external_id for it "
                                              "(the company is created with that external_id when absent).")
    name: Name | None = None
    domain: Annotated[str, Field(max_length=300)] | None = None
    stage: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    stage_mode: StageMode = "advance_only"
    metadata: Metadata | None = None


class IdentifyIn(Strict):
    visitor_id: Ref
    email: Email | None = None
    user_id: Ref | None = Field(None, description="Your own user id for this person.")
    name: Name | None = None
    metadata: Metadata | None = Field(None, description="Merged into the contact.")
    properties: Metadata | None = Field(None, description="Merged into the visitor's properties.")
    company: CompanyIn | None = None
    company_ids: Annotated[list[Ref], Field(max_length=50)] = []


class SetDealIn(Strict):
    visitor_id: Ref
    deal_value: Amount
    company_id: Ref | None = None
    stage_name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    mode: StageMode = "advance_only"


class SetStageIn(Strict):
    visitor_id: Ref
    stage_name: Annotated[str, Field(min_length=1, max_length=120)]
    company_id: Ref | None = None
    mode: StageMode = "advance_only"


class VisitorOut(BaseModel):
    id: str
    visitor_id: str
    properties: dict[str, Any]
    contact_id: str | None
    active_company_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class IdentifyOut(BaseModel):
    visitor: VisitorOut
    contact: dict[str, Any] | None
    companies: list[dict[str, Any]]
    active_company_id: str | None
