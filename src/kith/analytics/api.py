"""Analytics and currency-rate routes (seed 004 §8, DESIGN §6). Thin: parse, call a service, render.

Every report takes `from` / `to` (UTC dates, both included), and most take `pipeline_id` and
`owner_id`; any other query parameter answers 422 rather than being ignored.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request

from kith.analytics import rates, service
from kith.analytics.repo import Scope
from kith.analytics.schemas import (
    ConversionOut,
    ForecastOut,
    PipelineOut,
    RatesOut,
    RatesPut,
    RepPerformanceOut,
    TrendsOut,
)
from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import FieldError, ValidationFailed, invalid
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, WRITE, router

api = router("analytics")

Id = Annotated[str | None, Query(min_length=1, max_length=40)]
From = Annotated[date | None, Query(alias="from", description="First UTC day included (YYYY-MM-DD).")]
To = Annotated[date | None, Query(alias="to", description="Last UTC day included (YYYY-MM-DD).")]
SeriesParam = Annotated[Literal["daily", "weekly", "monthly"] | None, Query(
    description="Answer the snapshot trend series instead (see `/analytics/trends`).")]

# The longest window a trend series may cover (a daily series of ten years is 3,650 points).
MAX_TREND_DAYS = 3660
DEFAULT_TREND_DAYS = {"daily": 90, "weekly": 7 * 26, "monthly": 365}


def only(*names: str) -> Any:
    """A dependency refusing query parameters other than ``names`` (422 naming each)."""
    allowed = frozenset(names)

    async def check(request: Request) -> None:
        unknown = sorted({k for k in request.query_params if k not in allowed})
        if unknown:
            raise ValidationFailed(f"unknown parameter(s) {unknown}; this report takes {sorted(allowed)}",
                                   errors=[FieldError(k, "unknown parameter") for k in unknown])
    return Depends(check)


def _window(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise invalid("from", "`from` is after `to`")


def _scope(actor: Actor, start: date | None, end: date | None, pipeline_id: str | None, owner_id: str | None
           ) -> Scope:
    _window(start, end)
    return service.scope_for(actor, start=start, end=end, pipeline_id=pipeline_id, owner_id=owner_id)


async def _trends(actor: Actor, uow: Uow, series: str, start: date | None, end: date | None) -> r.JSON:
    _window(start, end)
    end = end or clock.now().date()
    start = start or end - timedelta(days=DEFAULT_TREND_DAYS[series] - 1)
    if (end - start).days >= MAX_TREND_DAYS:
        raise invalid("from", f"a trend series covers at most {MAX_TREND_DAYS} days")
    return r.JSON(await service.trends(uow, actor, series, start, end))


@api.get("/analytics/pipeline", response_model=PipelineOut | TrendsOut, responses=READ,
         summary="Open deals per stage", dependencies=[only("from", "to", "pipeline_id", "owner_id", "series")])
async def pipeline(actor: CurrentActor, uow: Uow, start: From = None, end: To = None, pipeline_id: Id = None,
                   owner_id: Id = None, series: SeriesParam = None) -> r.JSON:
    """Per stage of `pipeline_id` (default: the default deal pipeline): open deals' `count`,
    `value`, `weighted_value` (value × probability) and `average_age_days` (since creation), in the
    org currency. `from`/`to` keep deals created in the window. With `series=daily|weekly|monthly`
    the answer is the snapshot trend series of `/analytics/trends` (org-wide: no pipeline or owner)."""
    if series is not None:
        if pipeline_id is not None or owner_id is not None:
            field = "pipeline_id" if pipeline_id is not None else "owner_id"
            raise invalid(field, "trend series are org-wide: leave out pipeline_id and owner_id")
        return await _trends(actor, uow, series, start, end)
    return r.JSON(await service.pipeline(uow, actor, _scope(actor, start, end, pipeline_id, owner_id)))


@api.get("/analytics/forecast", response_model=ForecastOut, responses=READ, summary="Forecast by close month",
         dependencies=[only("from", "to", "pipeline_id", "owner_id")])
async def forecast(actor: CurrentActor, uow: Uow, start: From = None, end: To = None, pipeline_id: Id = None,
                   owner_id: Id = None) -> r.JSON:
    """Open and won deals by `expected_close_date` month (`from`/`to` bound that date), each month
    split per owner: `weighted_value` (won + open × probability) and `best_case_value` (won + every
    open deal). Deals with no close date are the month `null`."""
    return r.JSON(await service.forecast(uow, actor, _scope(actor, start, end, pipeline_id, owner_id)))


@api.get("/analytics/rep-performance", response_model=RepPerformanceOut, responses=READ,
         summary="Performance per rep", dependencies=[only("from", "to", "pipeline_id", "owner_id")])
async def rep_performance(actor: CurrentActor, uow: Uow, start: From = None, end: To = None,
                          pipeline_id: Id = None, owner_id: Id = None) -> r.JSON:
    """Per deal owner: deals won and lost in the window (by closing time), their values, `win_rate`,
    `average_cycle_days` (creation → won) and `activity_count` (activities they logged in the window;
    `pipeline_id` does not narrow activities)."""
    return r.JSON(await service.rep_performance(uow, actor, _scope(actor, start, end, pipeline_id, owner_id)))


@api.get("/analytics/conversion-rates", response_model=ConversionOut, responses=READ,
         summary="Lead, stage and win/loss conversion", dependencies=[only("from", "to", "pipeline_id", "owner_id")])
async def conversion_rates(actor: CurrentActor, uow: Uow, start: From = None, end: To = None,
                           pipeline_id: Id = None, owner_id: Id = None) -> r.JSON:
    """`leads`: leads created in the window and how many became deals. `stages`: the funnel of
    `pipeline_id` (default pipeline) for deals created in the window, from their `deal.stage-moved`
    history: per open stage, deals that `reached` it (or went further, or won) and the `rate` that
    `advanced` to the next one. `transitions`: stage moves made in the window. `win_loss`: deals
    closed in the window, with lost reasons."""
    return r.JSON(await service.conversion_rates(uow, actor, _scope(actor, start, end, pipeline_id, owner_id)))


@api.get("/analytics/trends", response_model=TrendsOut, responses=READ, summary="Trend series from snapshots",
         dependencies=[only("from", "to", "series")])
async def trends(actor: CurrentActor, uow: Uow, series: Annotated[Literal["daily", "weekly", "monthly"], Query(
        description="Bucket size.")] = "weekly", start: From = None, end: To = None) -> r.JSON:
    """The nightly snapshots between `from` and `to` (default: the last 90 days, 26 weeks or 12
    months up to today) folded into daily, ISO-weekly or monthly points: stock figures (open count,
    pipeline and weighted value) from the last snapshot of each period, flow figures (won, lost,
    leads created and converted) added up. Periods without a snapshot are left out."""
    return await _trends(actor, uow, series, start, end)


@api.get("/currency-rates", response_model=RatesOut, responses=READ, summary="The org's currency rates")
async def get_rates(actor: CurrentActor, uow: Uow) -> r.JSON:
    """What one unit of each currency is worth in the org currency (crm-admin: org:manage)."""
    return r.JSON(await rates.get_rates(uow, actor))


@api.put("/currency-rates", response_model=RatesOut, responses=WRITE, summary="Replace the currency rates")
async def put_rates(body: RatesPut, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Replace the whole rate table (org:manage). Reports convert deals in other currencies with
    these rates; a deal in a currency without one is left out of every figure and its currency is
    listed in the report's `missing_rates`."""
    return r.JSON(await rates.put_rates(uow, actor, body))
