"""Analytics and currency-rate shapes. Amounts are decimal strings in the org currency; ratios are
numbers between 0 and 1 (four places), or null when there is nothing to divide by."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from kith.analytics.model import MAX_RATE, check_rate
from kith.core.validate import check_currency
from kith.records.schemas import Strict

Currency = Annotated[str, AfterValidator(check_currency)]
Rate = Annotated[Decimal, Field(gt=0, le=MAX_RATE, allow_inf_nan=False), AfterValidator(check_rate)]
Money = Annotated[str, Field(description="A decimal amount in the org currency, e.g. `1234.50`.",
                             examples=["1234.50"])]
Ratio = Annotated[float | None, Field(description="0–1, four places; null when the denominator is 0.")]
MissingRates = Annotated[list[str], Field(description=(
    "Currencies of deals that were left out because the org has no rate for them "
    "(`PUT /api/v1/currency-rates`)."))]


# --- currency rates -------------------------------------------------------------------------------

class RatesPut(Strict):
    rates: Annotated[dict[Currency, Rate], Field(max_length=100, description=(
        "`{currency: rate}`: what one unit of the currency is worth in the org currency "
        "(`{\"EUR\": \"1.08\"}` in a USD org). Replaces the whole table: a currency left out has no "
        "rate any more. The org currency itself may be given only with rate 1."))]


class RateOut(BaseModel):
    currency: str
    rate: str = Field(description="Decimal text, up to 12 places.")
    updated_at: datetime


class RatesOut(BaseModel):
    currency: str = Field(description="The org currency every report converts into.")
    rates: list[RateOut]


# --- pipeline -------------------------------------------------------------------------------------

class StageFigures(BaseModel):
    stage_id: str
    name: str
    position: int
    probability: int
    outcome: str | None = Field(description="won | lost for the closing stages (they hold no open deals).")
    count: int = Field(description="Open deals in the stage.")
    value: Money
    weighted_value: Money = Field(description="Σ value × the deal's probability / 100.")
    average_age_days: float | None = Field(description="Mean days since the open deals were created.")


class PipelineTotals(BaseModel):
    count: int
    value: Money
    weighted_value: Money


class PipelineOut(BaseModel):
    currency: str
    pipeline_id: str
    stages: list[StageFigures]
    totals: PipelineTotals
    missing_rates: MissingRates


# --- forecast -------------------------------------------------------------------------------------

class ForecastFigures(BaseModel):
    open_count: int
    won_count: int
    won_value: Money = Field(description="Deals already won with their close date in the month.")
    weighted_value: Money = Field(description="won_value + Σ open value × probability / 100.")
    best_case_value: Money = Field(description="won_value + Σ open value (every open deal wins).")


class OwnerForecast(ForecastFigures):
    owner_id: str | None


class MonthForecast(ForecastFigures):
    month: str | None = Field(description="`YYYY-MM` of expected_close_date; null: deals without one.")
    owners: list[OwnerForecast]


class ForecastOut(BaseModel):
    currency: str
    months: list[MonthForecast]
    totals: ForecastFigures
    missing_rates: MissingRates


# --- rep performance ------------------------------------------------------------------------------

class RepFigures(BaseModel):
    owner_id: str
    name: str | None
    won_count: int
    lost_count: int
    won_value: Money
    lost_value: Money
    win_rate: Ratio
    activity_count: int = Field(description="Activities the rep logged (actor) in the window.")
    average_cycle_days: float | None = Field(description="Mean days from creation to winning, of deals won.")


class RepPerformanceOut(BaseModel):
    currency: str
    reps: list[RepFigures]
    missing_rates: MissingRates


# --- conversion rates -----------------------------------------------------------------------------

class LeadConversion(BaseModel):
    created: int = Field(description="Leads created in the window.")
    converted: int = Field(description="Of those, leads converted to a deal (by now).")
    rate: Ratio


class FunnelStage(BaseModel):
    stage_id: str
    name: str
    reached: int = Field(description="Deals created in the window that got to this stage or further (or won).")
    advanced: int = Field(description="Of those, deals that reached the next open stage (after the last: won).")
    rate: Ratio


class Transition(BaseModel):
    from_stage_id: str | None
    to_stage_id: str | None
    count: int


class LostReason(BaseModel):
    reason: str
    count: int
    share: Ratio


class WinLoss(BaseModel):
    won: int
    lost: int
    win_rate: Ratio = Field(description="won / (won + lost).")
    win_loss_ratio: float | None = Field(description="won / lost; null when nothing was lost.")
    lost_reasons: list[LostReason]


class ConversionOut(BaseModel):
    pipeline_id: str
    leads: LeadConversion
    stages: list[FunnelStage]
    transitions: list[Transition]
    win_loss: WinLoss


# --- trends ---------------------------------------------------------------------------------------

class TrendPoint(BaseModel):
    period_start: date
    period_end: date
    last_day: date = Field(description="The last snapshot in the period (its stock figures are shown).")
    days: int = Field(description="Snapshots in the period.")
    currency: str
    open_count: int
    pipeline_value: Money
    weighted_value: Money
    won_count: int
    won_value: Money
    lost_count: int
    lost_value: Money
    win_rate: Ratio
    leads_created: int
    leads_converted: int
    lead_conversion_rate: Ratio
    missing_rates: MissingRates


class TrendsOut(BaseModel):
    currency: str
    series: str
    from_: date = Field(alias="from")
    to: date
    points: list[TrendPoint]
