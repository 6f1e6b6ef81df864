"""The org's currency rates, the nightly analytics snapshots, and the indexes analytics reads through.

- ``currency_rates``: one row per (org, currency): what one unit of ``currency`` is worth in the
  org's currency. ``rate`` is a decimal string (read only in Python, with ``Decimal``), so no
  backend rounds it.
- ``analytics_snapshots``: one row per (org, day), upserted by ``take_snapshot``; amounts are
  cents of the org currency the snapshot was taken in (``currency``).
- ``deal_stage_moves``: one row per stage a deal entered (``kith.analytics.moves`` keeps it): the
  stage it started in (``from_stage_id`` NULL) and every ``deal.stage-moved`` (same id as the
  event), with the deal's pipeline, owner and creation time copied in, so the stage funnel and the
  transitions are index range scans instead of a scan of the event log with JSON parsing.
- The extra indexes on deals, leads, activities and events cover the analytics filters
  (status/pipeline/stage, expected-close month, closing time, lead conversion time, activity time,
  stage-move history), so each figure is one index range scan and a GROUP BY.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.activities.tables import activities
from kith.core.db import Cents, JSONType, UTCDateTime, metadata
from kith.core.events import events
from kith.deals.tables import deals
from kith.leads.tables import leads

_live = sa.text("deleted_at IS NULL")

currency_rates = sa.Table(
    "currency_rates",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("rate", sa.String(40), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

analytics_snapshots = sa.Table(
    "analytics_snapshots",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("open_count", sa.Integer, nullable=False),
    sa.Column("pipeline_value", Cents(), nullable=False),
    sa.Column("weighted_value", Cents(), nullable=False),
    sa.Column("won_count", sa.Integer, nullable=False),
    sa.Column("won_value", Cents(), nullable=False),
    sa.Column("lost_count", sa.Integer, nullable=False),
    sa.Column("lost_value", Cents(), nullable=False),
    sa.Column("leads_created", sa.Integer, nullable=False),
    sa.Column("leads_converted", sa.Integer, nullable=False),
    sa.Column("missing_rates", JSONType, nullable=False),
    sa.Column("taken_at", UTCDateTime(), nullable=False),
)

# Covering indexes: each aggregate reads index entries only. ``deleted_at`` is a column of the
# partial ones too: SQLite (3.40) counts an index as covering only if it holds every column the
# query names, the one its WHERE implies included; without it each row was read from the table
# (the forecast took 5× longer at 30,000 deals). Widened in migration 0021.
sa.Index("ix_deals_analytics_open", deals.c.org_id, deals.c.status, deals.c.pipeline_id, deals.c.stage_id,
         deals.c.currency, deals.c.owner_id, deals.c.amount, deals.c.probability, deals.c.created_at,
         deals.c.deleted_at, sqlite_where=_live, postgresql_where=_live)
# The forecast's index keys live deals by (org, status, expected-close *month*, owner, currency): an
# index on an expression that differs per backend, so it is made by migration 0025's DDL and left out
# of this metadata (kith.search.ddl.include_name skips it). It replaced 0021's ix_deals_analytics_close.
FORECAST_INDEX = "ix_deals_analytics_month"
sa.Index("ix_deals_analytics_closed", deals.c.org_id, deals.c.closed_at, deals.c.status, deals.c.owner_id,
         deals.c.currency, deals.c.amount, deals.c.created_at, deals.c.pipeline_id, deals.c.lost_reason,
         deals.c.deleted_at)
# the funnel's cohort: live deals of a pipeline by creation time (0021)
sa.Index("ix_deals_analytics_cohort", deals.c.org_id, deals.c.pipeline_id, deals.c.created_at, deals.c.id,
         deals.c.stage_id, deals.c.status, deals.c.owner_id, deals.c.deleted_at,
         sqlite_where=_live, postgresql_where=_live)
# the trash is a handful of deals: what deal_stage_moves readers leave out (repo._of_live_deals) (0021)
sa.Index("ix_deals_analytics_trashed", deals.c.org_id, deals.c.id, sqlite_where=sa.text("deleted_at IS NOT NULL"),
         postgresql_where=sa.text("deleted_at IS NOT NULL"))
# won/lost over all time (conversion-rates' win_loss): already grouped by (status, lost reason), from
# the index alone; a window reads ix_deals_analytics_closed. Status before pipeline: SQLite would
# otherwise take it for the funnel's (org, pipeline) scan, which only the cohort index covers (0023)
sa.Index("ix_deals_analytics_outcome", deals.c.org_id, deals.c.status, deals.c.pipeline_id, deals.c.lost_reason,
         deals.c.closed_at, deals.c.owner_id, deals.c.deleted_at, sqlite_where=_live, postgresql_where=_live)
# the all-time funnel: live deals of a pipeline by (stages reached, current stage), so the GROUP BY reads
# this index alone, already in group order (no per-deal lookup, no sort); status and owner for the
# filters (0024). ``stages_reached`` (kith.analytics.moves keeps it) holds stage ids, not positions:
# reordering a pipeline's stages changes no deal, the report maps ids to the positions they have when
# it runs; a deleted stage's id stays, as it does in ``deal_stage_moves``.
sa.Index("ix_deals_analytics_reached", deals.c.org_id, deals.c.pipeline_id, deals.c.stages_reached,
         deals.c.stage_id, deals.c.status, deals.c.owner_id, deals.c.deleted_at,
         sqlite_where=_live, postgresql_where=_live)
sa.Index("ix_leads_analytics_converted", leads.c.org_id, leads.c.converted_at)
# activities per actor over all time: an index-only scan already grouped by actor (0021)
sa.Index("ix_activities_analytics_actor", activities.c.org_id, activities.c.actor_id, activities.c.occurred_at,
         activities.c.deleted_at, sqlite_where=_live, postgresql_where=_live)
sa.Index("ix_activities_analytics_occurred", activities.c.org_id, activities.c.occurred_at, activities.c.actor_id)
sa.Index("ix_events_analytics_type_time", events.c.org_id, events.c.type, events.c.occurred_at)

_moved = sa.text("from_stage_id IS NOT NULL")  # the report reads moves, not the creation rows

deal_stage_moves = sa.Table(
    "deal_stage_moves",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),  # the event's id (or ``dsm_<deal id>``, see moves.py)
    sa.Column("deal_id", sa.String(64), nullable=False),
    sa.Column("pipeline_id", sa.String(40), nullable=False),
    sa.Column("from_stage_id", sa.String(40)),  # NULL: the stage the deal was created in
    sa.Column("to_stage_id", sa.String(40), nullable=False),
    sa.Column("moved_at", UTCDateTime(), nullable=False),
    sa.Column("owner_id", sa.String(40)),  # the deal's owner when it moved
    sa.Column("deal_created_at", UTCDateTime(), nullable=False),
    # a deal erased by any path (verb, trash purge, import revert) takes its rows with it, so the
    # report never needs to join deals to know a row's deal still exists
    sa.ForeignKeyConstraint(["org_id", "deal_id"], ["deals.org_id", "deals.id"], ondelete="CASCADE"),
    # a deal's moves (the funnel's lookup on SQLite, from the index alone; the cascade from deals)
    sa.Index("ix_deal_stage_moves_deal", "org_id", "deal_id", "from_stage_id", "to_stage_id", "moved_at"),
    # transitions: the moves of one pipeline in a window, grouped by (from, to), from the index alone
    sa.Index("ix_deal_stage_moves_time", "org_id", "pipeline_id", "moved_at", "from_stage_id", "to_stage_id",
             "deal_id", sqlite_where=_moved, postgresql_where=_moved),
    # funnel: the moves of a cohort (deals created in a window), per deal, from the index alone
    sa.Index("ix_deal_stage_moves_cohort", "org_id", "pipeline_id", "deal_created_at", "deal_id", "moved_at",
             "from_stage_id", "to_stage_id", sqlite_where=_moved, postgresql_where=_moved),
    # all-time transitions: every move of a pipeline already in (from, to) order, so SQLite's GROUP BY
    # streams instead of sorting every move (0023)
    sa.Index("ix_deal_stage_moves_pair", "org_id", "pipeline_id", "from_stage_id", "to_stage_id", "deal_id",
             sqlite_where=_moved, postgresql_where=_moved),
)
