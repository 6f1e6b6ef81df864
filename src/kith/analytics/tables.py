"""The org's currency rates, the nightly analytics snapshots, and the indexes analytics reads through.

- ``currency_rates``: one row per (org, currency): what one unit of ``currency`` is worth in the
  org's currency. ``rate`` is a decimal string (read only in Python, with ``Decimal``), so no
  backend rounds it.
- ``analytics_snapshots``: one row per (org, day), upserted by ``take_snapshot``; amounts are
  cents of the org currency the snapshot was taken in (``currency``).
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

# Covering indexes: the open-pipeline and forecast aggregates read only index entries.
sa.Index("ix_deals_analytics_open", deals.c.org_id, deals.c.status, deals.c.pipeline_id, deals.c.stage_id,
         deals.c.currency, deals.c.owner_id, deals.c.amount, deals.c.probability, deals.c.created_at,
         sqlite_where=_live, postgresql_where=_live)
sa.Index("ix_deals_analytics_close", deals.c.org_id, deals.c.status, deals.c.expected_close_date,
         deals.c.owner_id, deals.c.currency, deals.c.amount, deals.c.probability,
         sqlite_where=_live, postgresql_where=_live)
sa.Index("ix_deals_analytics_closed", deals.c.org_id, deals.c.closed_at, deals.c.status, deals.c.owner_id)
sa.Index("ix_leads_analytics_converted", leads.c.org_id, leads.c.converted_at)
sa.Index("ix_activities_analytics_occurred", activities.c.org_id, activities.c.occurred_at, activities.c.actor_id)
sa.Index("ix_events_analytics_type_time", events.c.org_id, events.c.type, events.c.occurred_at)
