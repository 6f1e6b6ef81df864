"""analytics: index live deals by expected-close month, so the forecast streams its groups

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04

The forecast groups open and won deals by (expected-close month, owner, currency, status). 0021's
``ix_deals_analytics_close`` held the close *date*, so both databases read every open/won deal from
it and then sorted them all by the computed month (~240,000 rows at 300,000 deals: ~530 ms on
SQLite, ~620 ms on PostgreSQL, loaded machine). This index keys on the month expression itself,
after (org, status) and before (owner, currency): the GROUP BY reads it in group order and streams.
It replaces ``ix_deals_analytics_close`` (whose only reader was the forecast), so a deal write
maintains as many indexes as before.

The month expression differs per backend and the report names it exactly (kith.analytics.repo):
SQLite stores dates as ``YYYY-MM-DD`` text, ``substr(expected_close_date, 1, 7)``; PostgreSQL
needs an immutable expression, ``date_trunc('month', expected_close_date::timestamp)``. Both
indexes also hold every column the report reads (SQLite 3.40 uses an index on an expression as
covering only when the expression's own column is in it too). On a SQLite database analysed
before, the new index is analysed too (without statistics SQLite's planner overrates it).
Not in ``kith.tables.metadata`` (SQLAlchemy cannot declare a per-dialect expression): see
``kith.analytics.tables.FORECAST_INDEX``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_NAME = "ix_deals_analytics_month"
_OLD = ("ix_deals_analytics_close", ['org_id', 'status', 'expected_close_date', 'owner_id', 'currency', 'amount',
                                     'probability', 'pipeline_id', 'deleted_at'])
_LIVE = sa.text("deleted_at IS NULL")
_DDL = {
    "sqlite": (f"CREATE INDEX {_NAME} ON deals (org_id, status, substr(expected_close_date, 1, 7), owner_id, "
               "currency, amount, probability, expected_close_date, pipeline_id, deleted_at) "
               "WHERE deleted_at IS NULL"),
    "postgresql": (f"CREATE INDEX {_NAME} ON deals (org_id, status, "
                   "(date_trunc('month', expected_close_date::timestamp)), owner_id, currency) "
                   "INCLUDE (amount, probability, expected_close_date, pipeline_id, deleted_at) "
                   "WHERE deleted_at IS NULL"),
}


def upgrade() -> None:
    bind = op.get_bind()
    op.execute(_DDL[bind.dialect.name])
    op.drop_index(_OLD[0], table_name="deals")
    if bind.dialect.name == "sqlite" and sa.inspect(bind).has_table("sqlite_stat1"):
        # A database analysed before has statistics for every index but this one, and SQLite's
        # defaults for an index without any make it look selective: rep-performance's closed-deal
        # scan took this index (not covering, a table lookup per deal: 85 → ~800 ms at 300k deals)
        # instead of ix_deals_analytics_closed. Analysing the one new index puts it right.
        op.execute(f"ANALYZE {_NAME}")


def downgrade() -> None:
    op.create_index(_OLD[0], "deals", _OLD[1], unique=False, sqlite_where=_LIVE, postgresql_where=_LIVE)
    op.drop_index(_NAME, table_name="deals")
