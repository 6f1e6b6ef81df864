"""The analytics queries: every figure is one GROUP BY in SQL, grouped by currency (and whatever else
the report splits by), so Python only sees a few rows per stage, month or rep, never deals.

Time windows are half-open ``[start, end)`` in UTC; ``Scope`` carries the caller's filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kith.activities.tables import activities
from kith.analytics import moves
from kith.analytics.tables import currency_rates, deal_stage_moves
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads.tables import leads
from kith.orgs.tables import users
from kith.pipelines.tables import pipelines, stages

d, ld, act, m, st = deals.c, leads.c, activities.c, deal_stage_moves.c, stages.c


@dataclass(frozen=True)
class Scope:
    """Which records a report covers: the org, an optional UTC date window (both days included),
    one pipeline, one owner, and the owners the caller may see (None: all)."""

    org_id: str
    start: date | None = None
    end: date | None = None
    pipeline_id: str | None = None
    owner_id: str | None = None
    visible: frozenset[str] | None = None

    @property
    def start_at(self) -> datetime | None:
        return None if self.start is None else datetime.combine(self.start, time(), UTC)

    @property
    def end_at(self) -> datetime | None:
        return None if self.end is None else datetime.combine(self.end + timedelta(days=1), time(), UTC)


def within(col: Any, scope: Scope) -> list[ColumnElement[bool]]:
    """``col`` inside the scope's window (a datetime column)."""
    out: list[ColumnElement[bool]] = []
    if scope.start_at is not None:
        out.append(col >= scope.start_at)
    if scope.end_at is not None:
        out.append(col < scope.end_at)
    return out


def owned(col: Any, scope: Scope) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if scope.owner_id is not None:
        out.append(col == scope.owner_id)
    if scope.visible is not None:
        out.append(col.in_(sorted(scope.visible)))
    return out


def live_deals(scope: Scope, *, pipeline: bool = True) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [d.org_id == scope.org_id, d.deleted_at.is_(None), *owned(d.owner_id, scope)]
    if pipeline and scope.pipeline_id is not None:
        out.append(d.pipeline_id == scope.pipeline_id)
    return out


def epoch(col: Any, backend: str) -> Any:
    """Seconds since 1970 of a UTC datetime column, on either backend."""
    if backend == "sqlite":
        return (sa.func.julianday(col) - 2440587.5) * 86400.0
    return sa.extract("epoch", col)


def month_key(col: Any, backend: str) -> Any:
    """The expected-close month as ``ix_deals_analytics_month`` (migration 0025) keys it, spelled
    exactly as the index does (constants inline, not bound), so the planner matches the two."""
    if backend == "sqlite":  # dates are YYYY-MM-DD text
        return sa.func.substr(col, sa.literal_column("1"), sa.literal_column("7"))
    return sa.func.date_trunc(sa.literal_column("'month'"), sa.cast(col, sa.DateTime()))


def month_label(key: Any, backend: str) -> Any:
    """``YYYY-MM`` of a :func:`month_key` (PostgreSQL formats each group's key, not each row)."""
    if backend == "sqlite":
        return key
    return sa.func.to_char(key, sa.literal_column("'YYYY-MM'"))


async def _all(uow: UnitOfWork, q: Any) -> list[dict[str, Any]]:
    result = await uow.execute(q)
    keys = list(result.keys())  # once: a Row's own mapping costs more than the query per group row
    return [dict(zip(keys, r, strict=True)) for r in result]


# --- org currency and rates -----------------------------------------------------------------------

async def rates(uow: UnitOfWork, org_id: str) -> list[dict[str, Any]]:
    q = (sa.select(currency_rates.c.currency, currency_rates.c.rate, currency_rates.c.updated_at)
         .where(currency_rates.c.org_id == org_id).order_by(currency_rates.c.currency))
    return await _all(uow, q)


async def rate_map(uow: UnitOfWork, org_id: str) -> dict[str, Decimal]:
    return {r["currency"]: Decimal(r["rate"]) for r in await rates(uow, org_id)}


# --- pipelines and stages -------------------------------------------------------------------------

async def pipeline_id(uow: UnitOfWork, org_id: str, wanted: str | None) -> str | None:
    """``wanted`` if it is one of the org's deal pipelines (else None); without it, the default one."""
    p = pipelines.c
    q = sa.select(p.id).where(p.org_id == org_id, p.kind == "deal")
    q = q.where(p.id == wanted) if wanted is not None else q.where(p.is_default.is_(True))
    found: str | None = (await uow.execute(q)).scalar_one_or_none()
    return found


async def stages_of(uow: UnitOfWork, org_id: str, pid: str) -> list[dict[str, Any]]:
    q = (sa.select(st.id, st.name, st.position, st.probability, st.outcome)
         .where(st.org_id == org_id, st.pipeline_id == pid).order_by(st.position, st.id))
    return await _all(uow, q)


# --- pipeline -------------------------------------------------------------------------------------

async def open_by_stage(uow: UnitOfWork, scope: Scope) -> list[dict[str, Any]]:
    """Open deals of the scope's pipeline by (stage, currency): count, value, weighted value (in
    hundredths of cents) and the sum of their creation times (for the average age)."""
    q = (sa.select(d.stage_id, d.currency, sa.func.count().label("count"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger)).label("value"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger) * d.probability).label("weighted"),
                   sa.func.sum(epoch(d.created_at, uow.backend)).label("created"))
         .where(*live_deals(scope), d.status == "open", *within(d.created_at, scope))
         .group_by(d.stage_id, d.currency))
    return await _all(uow, q)


# --- forecast -------------------------------------------------------------------------------------

async def forecast(uow: UnitOfWork, scope: Scope) -> list[dict[str, Any]]:
    return await _all(uow, forecast_query(scope, uow.backend))


def forecast_query(scope: Scope, backend: str) -> sa.Select[Any]:
    """Open and won deals by (status, expected-close month, owner, currency): the order of
    ``ix_deals_analytics_month``, which the GROUP BY reads without sorting. A window also bounds the
    month, so the scan starts and stops at the window's first and last months."""
    key = month_key(d.expected_close_date, backend)
    q = (sa.select(month_label(key, backend).label("month"), d.owner_id, d.currency, d.status,
                   sa.func.count().label("count"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger)).label("value"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger) * d.probability).label("weighted"))
         .where(*live_deals(scope), d.status.in_(("open", "won")))
         .group_by(d.status, key, d.owner_id, d.currency))
    if scope.start is not None:
        q = q.where(key >= month_key(sa.literal(scope.start, sa.Date()), backend),
                    d.expected_close_date >= scope.start)
    if scope.end is not None:
        q = q.where(key <= month_key(sa.literal(scope.end, sa.Date()), backend),
                    d.expected_close_date <= scope.end)
    return q


# --- rep performance ------------------------------------------------------------------------------

# "Closed since 1970" changes nothing but makes the closing time a range when there is no window,
# which steers SQLite to the covering ix_deals_analytics_closed (else it read every deal through
# ix_deals_owner, not covering: ~900 ms at 300,000 deals).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def closed_by_owner(uow: UnitOfWork, scope: Scope) -> list[dict[str, Any]]:
    """Deals closed won or lost in the window by (owner, status, currency): count, value, and the
    summed seconds from creation to closing."""
    cycle = epoch(d.closed_at, uow.backend) - epoch(d.created_at, uow.backend)
    q = (sa.select(d.owner_id, d.status, d.currency, sa.func.count().label("count"),
                   sa.func.sum(sa.type_coerce(d.amount, sa.BigInteger)).label("value"),
                   sa.func.sum(cycle).label("cycle"))
         .where(*live_deals(scope), d.status.in_(("won", "lost")), d.closed_at.is_not(None),
                *(within(d.closed_at, scope) or [d.closed_at >= _EPOCH]))
         .group_by(d.owner_id, d.status, d.currency))
    return await _all(uow, q)


async def activities_by_actor(uow: UnitOfWork, scope: Scope) -> list[dict[str, Any]]:
    q = (sa.select(act.actor_id, sa.func.count().label("count"))
         .where(act.org_id == scope.org_id, act.deleted_at.is_(None), act.actor_id.is_not(None),
                *owned(act.actor_id, scope), *within(act.occurred_at, scope))
         .group_by(act.actor_id))
    return await _all(uow, q)


async def user_names(uow: UnitOfWork, org_id: str, user_ids: Sequence[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    q = sa.select(users.c.id, users.c.name).where(users.c.org_id == org_id, users.c.id.in_(sorted(user_ids)))
    return {r["id"]: r["name"] for r in await _all(uow, q)}


# --- conversion rates -----------------------------------------------------------------------------

async def lead_conversion(uow: UnitOfWork, scope: Scope) -> dict[str, int]:
    """Leads created in the window, and how many of those have been converted to a deal."""
    converted = sa.func.sum(sa.case((ld.converted_to_deal_id.is_not(None), 1), else_=0))
    q = (sa.select(sa.func.count().label("created"), converted.label("converted"))
         .where(ld.org_id == scope.org_id, *owned(ld.owner_id, scope), *within(ld.created_at, scope)))
    row = (await uow.execute(q)).one()
    return {"created": int(row.created or 0), "converted": int(row.converted or 0)}


async def outcomes(uow: UnitOfWork, scope: Scope) -> list[dict[str, Any]]:
    """Deals closed won or lost in the window by (status, lost reason)."""
    q = (sa.select(d.status, d.lost_reason, sa.func.count().label("count"))
         .where(*live_deals(scope), d.status.in_(("won", "lost")), d.closed_at.is_not(None),
                *within(d.closed_at, scope))
         .group_by(d.status, d.lost_reason))
    return await _all(uow, q)


def greatest(a: Any, b: Any, backend: str) -> Any:
    """The larger of two non-NULL values (SQLite's two-argument ``max``, PostgreSQL's ``greatest``)."""
    return sa.func.max(a, b) if backend == "sqlite" else sa.func.greatest(a, b)


def _position(col: Any, positions: Mapping[str, int]) -> Any:
    """The position of the open stage ``col`` names, -1 for any other stage (an outcome stage,
    another pipeline's, a deleted one). The org's few stages are bound values in a CASE, which
    spares every move row a join to ``stages``."""
    if not positions:
        return sa.literal(-1)
    return sa.case({sid: pos for sid, pos in sorted(positions.items())}, value=col, else_=-1)


def _stage_moves(scope: Scope) -> list[ColumnElement[bool]]:
    """Moves between two stages (not the creation rows) of the scope's pipeline in the window."""
    return [m.org_id == scope.org_id, m.pipeline_id == scope.pipeline_id, m.from_stage_id.is_not(None),
            *within(m.moved_at, scope)]


async def funnel(uow: UnitOfWork, scope: Scope, positions: Mapping[str, int]) -> list[dict[str, Any]]:
    """Deals created in the window (the cohort) by (furthest open stage position reached, won or
    not), sorted; ``positions``: the pipeline's open stages. A deal has been in its current stage and
    in both stages of each of its moves made in the window; groups reaching no open stage are left out.

    Over all time (no window) every move counts, so each deal's set of stages reached
    (``deals.stages_reached``, NULL: never moved) answers it: one GROUP BY over the cohort's deals
    that are not won (``won_in_cohort`` counts those) by (stages reached, current stage), read from
    ``ix_deals_analytics_reached`` alone, already in group order (no per-deal lookup, no sort): a
    few dozen groups whose furthest position Python works out with the positions the stages have
    now, so only non-won rows come back. A window needs the moves' times: ``funnel_from_moves``."""
    if scope.start is not None or scope.end is not None:
        return await funnel_from_moves(uow, scope, positions)
    q = (sa.select(d.stages_reached, d.stage_id, sa.func.count().label("count"))
         .where(*live_deals(scope), d.status != "won")
         .group_by(d.stages_reached, d.stage_id))
    out: dict[int, int] = {}
    for g in await _all(uow, q):
        furthest = max([positions.get(g["stage_id"], -1),
                        *(positions.get(s, -1) for s in moves.split_stages(g["stages_reached"]))])
        if furthest >= 0:
            out[furthest] = out.get(furthest, 0) + int(g["count"])
    return [{"furthest": f, "won": False, "count": n} for f, n in sorted(out.items())]


async def funnel_from_moves(uow: UnitOfWork, scope: Scope, positions: Mapping[str, int]) -> list[dict[str, Any]]:
    """``funnel`` from the move rows (``deal_stage_moves``), for any window: only moves made in the
    window count; -1: no open stage.

    The furthest stage of each deal's moves: on SQLite a correlated lookup per cohort deal in the
    covering per-deal index (nested loops are what SQLite does well; grouping every move first and
    joining took 4 s at 90,000 deals); on PostgreSQL one GROUP BY over the cohort's moves, hash-joined."""
    assert scope.pipeline_id is not None

    def here(col: Any) -> Any:
        return _position(col, positions)

    reach = sa.func.max(greatest(here(m.from_stage_id), here(m.to_stage_id), uow.backend))
    if uow.backend == "sqlite":
        moved: Any = (sa.select(reach).where(m.org_id == d.org_id, m.deal_id == d.id, m.from_stage_id.is_not(None),
                                             *within(m.moved_at, scope))
                      .scalar_subquery())
        source: Any = deals
    else:
        per_deal = (sa.select(m.deal_id, reach.label("furthest"))
                    .where(*_stage_moves(scope), *within(m.deal_created_at, scope))
                    .group_by(m.deal_id).subquery("moved"))
        moved, source = per_deal.c.furthest, deals.outerjoin(per_deal, per_deal.c.deal_id == d.id)
    per_cohort_deal: Any = (sa.select(greatest(here(d.stage_id), sa.func.coalesce(moved, -1), uow.backend)
                                 .label("furthest"), sa.case((d.status == "won", True), else_=False).label("won"))
                       .select_from(source).where(*live_deals(scope), *within(d.created_at, scope)))
    if uow.backend == "sqlite":
        # OFFSET keeps SQLite from flattening this into the GROUP BY, which evaluated the
        # correlated lookup twice per deal (once for the sort key, once for the output)
        per_cohort_deal = per_cohort_deal.offset(0)
    cohort = per_cohort_deal.subquery("cohort")
    c = cohort.c
    q = sa.select(c.furthest, c.won, sa.func.count().label("count")).group_by(c.furthest, c.won)
    return sorted(({"furthest": int(r["furthest"]), "won": bool(r["won"]), "count": int(r["count"])}
                   for r in await _all(uow, q) if r["furthest"] >= 0), key=lambda r: (r["furthest"], r["won"]))


async def won_in_cohort(uow: UnitOfWork, scope: Scope) -> int:
    q = sa.select(sa.func.count()).where(*live_deals(scope), d.status == "won", *within(d.created_at, scope))
    return int((await uow.execute(q)).scalar_one())


def _of_live_deals(scope: Scope) -> list[ColumnElement[bool]]:
    """Rows of ``deal_stage_moves`` whose deal is live and in the scope. The foreign key guarantees
    the deal exists and the row carries its pipeline, so only the trash (a handful of deals, through
    ``ix_deals_analytics_trashed``) is left out, and deals are read only for an owner filter."""
    trashed = sa.select(d.id).where(d.org_id == scope.org_id, d.deleted_at.is_not(None))
    out: list[ColumnElement[bool]] = [m.deal_id.not_in(trashed)]
    if scope.owner_id is not None or scope.visible is not None:
        out.append(m.deal_id.in_(sa.select(d.id).where(*live_deals(scope))))
    return out


async def transitions(uow: UnitOfWork, scope: Scope) -> list[dict[str, Any]]:
    """Stage moves in the window, by (from stage, to stage), for live deals of the scope."""
    q = (sa.select(m.from_stage_id, m.to_stage_id, sa.func.count().label("count"))
         .where(*_stage_moves(scope), *_of_live_deals(scope))
         .group_by(m.from_stage_id, m.to_stage_id))
    return await _all(uow, q)

