"""Deal request and response shapes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from kith.core.validate import check_currency
from kith.records.schemas import Amount, Metadata, Name, Notes, RecordId, Strict, Tags

Status = Literal["open", "won", "lost", "abandoned"]
Probability = Annotated[int, Field(ge=0, le=100)]
Currency = Annotated[str, AfterValidator(check_currency)]
Quantity = Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), decimal_places=3, allow_inf_nan=False)]
Reason = Annotated[str, Field(max_length=2000)]
RoleLabel = Annotated[str, Field(min_length=1, max_length=100)]


class Value(Strict):
    """Money: a decimal amount (string or number) and an ISO 4217 currency (default: the org's)."""

    amount: Amount | None = None
    currency: Currency | None = None


class LineItemIn(Strict):
    product_id: RecordId | None = Field(default=None, description="A product of the catalog; its name and price are "
                                                          "the defaults.")
    name: Name | None = Field(default=None, description="Required without product_id.")
    quantity: Quantity = Decimal(1)
    unit_price: Amount | None = Field(default=None, description=(
        "Default: the deal's price list, else the product's price (in the deal's currency)."))
    discount_percent: Annotated[int, Field(ge=0, le=100)] = 0


LineItems = Annotated[list[LineItemIn], Field(max_length=200)]


class DealContactIn(Strict):
    contact_id: RecordId
    role: RoleLabel | None = Field(default=None, description="A label such as `Decision maker`.")


class _DealFields(Strict):
    contact_id: RecordId | None = None
    company_id: RecordId | None = None
    owner_id: RecordId | None = None
    expected_close_date: date | None = None
    probability: Probability | None = Field(default=None, description=(
        "Set to override the stage's probability (kept across stage moves); "
        "PATCH `probability_override: false` to follow the stage again."))
    price_list_id: RecordId | None = None
    notes: Notes | None = None


class DealCreate(_DealFields):
    title: Name
    pipeline_id: RecordId | None = Field(default=None, description="Default: the org's default deal pipeline.")
    stage_id: RecordId | None = Field(default=None, description="Default: the pipeline's first open stage.")
    value: Value | None = None
    line_items: LineItems | None = Field(default=None, description="When given, the deal's amount is their total.")
    contacts: Annotated[list[DealContactIn], Field(max_length=50)] | None = None
    tags: Tags = []
    metadata: Metadata = {}


class DealPatch(_DealFields):
    """Only the fields sent change. Status and stage change through their verbs (`won`, `lost`,
    `abandon`, `reopen`, `move-stage`); owner through `reassign` (or PATCH by a manager)."""

    title: Name | None = None
    value: Value | None = None
    probability_override: Literal[False] | None = Field(default=None, description="false: follow the stage again.")
    line_items: LineItems | None = Field(default=None, description="Replaces the list; [] removes them all.")
    tags: Tags | None = None
    metadata: Metadata | None = None


class MoveStage(Strict):
    stage_id: RecordId
    reason: Reason | None = Field(default=None, description="Required when the stage is a lost outcome (rule "
                                                    "deal-lost-requires-reason).")


class WinDeal(Strict):
    expected_close_date: date | None = Field(default=None, description="Set it while winning, when the deal has none.")


class LoseDeal(Strict):
    reason: Reason | None = None


class ReopenDeal(Strict):
    stage_id: RecordId | None = Field(default=None, description="The open stage to reopen into. Default: the "
                                                        "pipeline's last open stage, when the deal sits in an "
                                                        "outcome stage; else its stage.")


class Reassign(Strict):
    owner_id: RecordId


class ApprovalRequestIn(Strict):
    note: Reason | None = None


class ApprovalAnswer(Strict):
    comment: Reason | None = None


class MoneyOut(BaseModel):
    amount: str
    currency: str


class LineItemOut(BaseModel):
    id: str
    position: int
    product_id: str | None
    name: str
    quantity: str
    unit_price: str
    discount_percent: int
    total: str


class DealContactOut(BaseModel):
    contact_id: str
    name: str | None
    email: str | None
    role: str | None
    is_primary: bool


class DealOut(BaseModel):
    id: str
    title: str
    contact_id: str | None
    company_id: str | None
    lead_id: str | None
    pipeline_id: str
    stage_id: str
    owner_id: str | None
    value: MoneyOut
    expected_close_date: date | None
    status: Status
    probability: int
    probability_override: bool
    lost_reason: str | None
    won_at: datetime | None
    lost_at: datetime | None
    closed_at: datetime | None
    stage_changed_at: datetime
    price_list_id: str | None
    notes: str | None
    tags: list[str]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int
    line_items: list[LineItemOut] | None = None
    contacts: list[DealContactOut] | None = None
    activities: list[dict[str, Any]] | None = None


class DealList(BaseModel):
    data: list[DealOut]
    next_cursor: str | None


class ApprovalOut(BaseModel):
    id: str
    deal_id: str
    rule: str
    status: Literal["pending", "approved", "rejected", "cancelled"]
    value: MoneyOut
    requested_by: str
    note: str | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    created_at: datetime
    version: int


class ApprovalList(BaseModel):
    data: list[ApprovalOut]
    next_cursor: str | None
