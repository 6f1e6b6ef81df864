"""analytics: the stages each deal reached, on the deal itself (deals.stages_reached)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

Moves the per-deal set of stages reached from 0023's ``deal_stages_reached`` table into a nullable
``deals.stages_reached`` column (NULL: the deal never moved), and indexes live deals by (org,
pipeline, stages reached, current stage, status, owner): the all-time stage funnel becomes one GROUP
BY read from that index alone, in group order, instead of a primary-key lookup per deal
(kith.analytics.moves keeps the column from now on).

The same statements on both backends: ``ALTER TABLE … ADD COLUMN`` (no table rebuild on SQLite), one
set-based ``UPDATE … SET = (SELECT …)`` from the old table, then the old table is dropped. Downgrade
recreates and refills the table from the column, then drops the index and the column
(``ALTER TABLE … DROP COLUMN``, SQLite ≥ 3.35, after its index is gone).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")
_deals = sa.table("deals", *(sa.column(c) for c in ("org_id", "id", "stages_reached")))
_reached = sa.table("deal_stages_reached", *(sa.column(c) for c in ("org_id", "deal_id", "stage_ids")))
_INDEX = ("ix_deals_analytics_reached",
          ["org_id", "pipeline_id", "stages_reached", "stage_id", "status", "owner_id", "deleted_at"])


def upgrade() -> None:
    op.add_column("deals", sa.Column("stages_reached", sa.Text(), nullable=True))
    d, r = _deals.c, _reached.c
    of_deal = sa.and_(r.org_id == d.org_id, r.deal_id == d.id)
    op.execute(_deals.update().where(sa.exists().where(of_deal))
               .values(stages_reached=sa.select(r.stage_ids).where(of_deal).scalar_subquery()))
    op.drop_table("deal_stages_reached")
    op.create_index(_INDEX[0], "deals", _INDEX[1], unique=False, sqlite_where=_LIVE, postgresql_where=_LIVE)


def downgrade() -> None:
    op.create_table('deal_stages_reached',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('deal_id', sa.String(length=64), nullable=False),
    sa.Column('stage_ids', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'deal_id'], ['deals.org_id', 'deals.id'],
                            name=op.f('fk_deal_stages_reached_org_id_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'deal_id', name=op.f('pk_deal_stages_reached')),
    sqlite_with_rowid=False,
    )
    d = _deals.c
    op.execute(sa.insert(_reached).from_select(
        ["org_id", "deal_id", "stage_ids"],
        sa.select(d.org_id, d.id, d.stages_reached).where(d.stages_reached.is_not(None))))
    op.drop_index(_INDEX[0], table_name="deals")
    op.execute("ALTER TABLE deals DROP COLUMN stages_reached")
