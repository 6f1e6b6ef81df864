"""The arithmetic of analytics: currency conversion, ratios, averages and trend buckets. Pure; no I/O.

Money is summed exactly in SQL as integer minor units per currency; only those per-currency
subtotals reach Python, where each is converted to the org currency with ``Decimal`` and rounded
half-up to the cent (then the converted subtotals are added). A currency with no rate is never
guessed: its subtotals are left out and the currency is named in ``missing_rates``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# A rate is what one unit of a currency is worth in the org currency; these bound what a PUT accepts.
MAX_RATE = Decimal("1e9")
RATE_PLACES = 12
SECONDS_PER_DAY = 86_400

Series = Literal["daily", "weekly", "monthly"]
SERIES: tuple[str, ...] = ("daily", "weekly", "monthly")


@dataclass
class Converter:
    """Converts per-currency subtotals (integer minor units × ``scale``) into the org currency."""

    base: str
    rates: Mapping[str, Decimal]
    missing: set[str] = field(default_factory=set)

    def rate(self, currency: str) -> Decimal | None:
        return Decimal(1) if currency == self.base else self.rates.get(currency)

    def convert(self, units: int | Decimal | None, currency: str, scale: int = 100) -> Decimal:
        """``units`` / ``scale`` of ``currency`` in the org currency; ZERO (and noted) without a rate."""
        rate = self.rate(currency)
        if rate is None:
            self.missing.add(currency)
            return ZERO
        return (Decimal(units or 0) / scale * rate).quantize(CENT, rounding=ROUND_HALF_UP)

    def has_rate(self, currency: str) -> bool:
        if self.rate(currency) is None:
            self.missing.add(currency)
            return False
        return True

    def missing_rates(self) -> list[str]:
        return sorted(self.missing)


def ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` to four places; None when there is nothing to divide by."""
    if denominator == 0:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def days(total_seconds: float | Decimal | None, count: int) -> float | None:
    """The average of ``count`` durations summing to ``total_seconds``, in days to two places."""
    if not count or total_seconds is None:
        return None
    avg = Decimal(str(total_seconds)) / count / SECONDS_PER_DAY
    return float(avg.quantize(CENT, rounding=ROUND_HALF_UP))


def check_rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0 or value > MAX_RATE:
        raise ValueError(f"a rate must be greater than 0 and at most {MAX_RATE:f}")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_PLACES:
        raise ValueError(f"a rate has at most {RATE_PLACES} decimal places")
    return value


def rate_text(value: Decimal) -> str:
    """The canonical decimal text of a rate (no exponent, no trailing zeros)."""
    return f"{value.normalize():f}"


# --- trend buckets --------------------------------------------------------------------------------

def bucket_start(day: date, series: str) -> date:
    if series == "weekly":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if series == "monthly":
        return day.replace(day=1)
    return day


def bucket_end(start: date, series: str) -> date:
    """The last day of the bucket that starts on ``start``."""
    if series == "weekly":
        return start + timedelta(days=6)
    if series == "monthly":
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)
    return start


# Stock figures describe the pipeline at snapshot time (a bucket shows its last day's); flow
# figures count what happened on a day (a bucket adds its days up).
STOCKS: tuple[str, ...] = ("open_count", "pipeline_value", "weighted_value")
FLOWS: tuple[str, ...] = ("won_count", "won_value", "lost_count", "lost_value", "leads_created",
                          "leads_converted")


def buckets(snapshots: Iterable[Mapping[str, Any]], series: str) -> list[dict[str, Any]]:
    """Fold daily snapshots (ordered by day) into one point per bucket that has any."""
    points: dict[date, dict[str, Any]] = {}
    for snap in snapshots:
        start = bucket_start(snap["day"], series)
        point = points.get(start)
        if point is None or point["currency"] != snap["currency"]:
            point = points[start] = _new_point(start, series, snap["currency"])
        point["days"] += 1
        point["last_day"] = snap["day"]
        for key in STOCKS:
            point[key] = snap[key]
        for key in FLOWS:
            point[key] += snap[key]
        point["missing_rates"] = sorted({*point["missing_rates"], *snap["missing_rates"]})
    for point in points.values():
        point["win_rate"] = ratio(point["won_count"], point["won_count"] + point["lost_count"])
        point["lead_conversion_rate"] = ratio(point["leads_converted"], point["leads_created"])
    return [points[k] for k in sorted(points)]


def _new_point(start: date, series: str, currency: str) -> dict[str, Any]:
    point: dict[str, Any] = {"period_start": start, "period_end": bucket_end(start, series), "currency": currency,
                             "days": 0, "last_day": start, "missing_rates": []}
    point.update({k: 0 for k in FLOWS})
    for money in ("won_value", "lost_value"):
        point[money] = ZERO
    return point
