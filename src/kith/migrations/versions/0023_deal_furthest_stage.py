"""analytics: the stages each deal reached through its moves (deal_stages_reached)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04

Creates ``deal_stages_reached`` (kith.analytics.moves keeps it; the all-time stage funnel reads it)
and fills it from ``deal_stage_moves`` in one set-based INSERT … SELECT: per deal with at least one
move (a row with a ``from_stage_id``), the distinct stage ids its moves left or entered,
space-separated. The one difference between the backends is the string aggregate's name
(SQLite ``group_concat``, PostgreSQL ``string_agg``); the order of the ids does not matter to the
report, and the commit hook rewrites a deal's row sorted the next time it moves. Rows of deals
erased for good are already gone from ``deal_stage_moves`` (its foreign key cascades), and this
table's own foreign key cascades from then on.

Also two indexes for the rest of all-time conversion-rates, read in GROUP BY order (no sort):
``deal_stage_moves`` by (pipeline, from stage, to stage) for the transitions, live deals by
(status, pipeline, lost reason) for won/lost.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

_moves = sa.table("deal_stage_moves", *(sa.column(c) for c in ("org_id", "deal_id", "from_stage_id", "to_stage_id")))
_MOVED = sa.text("from_stage_id IS NOT NULL")
_LIVE = sa.text("deleted_at IS NULL")
_reached = sa.table("deal_stages_reached", *(sa.column(c) for c in ("org_id", "deal_id", "stage_ids")))


def _backfill() -> None:
    m = _moves.c
    moved = m.from_stage_id.is_not(None)
    ends = sa.union(  # UNION (not ALL): each stage once per deal
        sa.select(m.org_id, m.deal_id, m.from_stage_id.label("stage_id")).where(moved),
        sa.select(m.org_id, m.deal_id, m.to_stage_id.label("stage_id")).where(moved),
    ).subquery("ends")
    e = ends.c
    joined = (sa.func.string_agg(e.stage_id, sa.literal_column("' '"))
              if op.get_bind().dialect.name == "postgresql" else sa.func.group_concat(e.stage_id, " "))
    q = sa.select(e.org_id, e.deal_id, joined).group_by(e.org_id, e.deal_id)
    op.execute(sa.insert(_reached).from_select(["org_id", "deal_id", "stage_ids"], q))


def upgrade() -> None:
    op.create_table('deal_stages_reached',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('deal_id', sa.String(length=64), nullable=False),
    sa.Column('stage_ids', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'deal_id'], ['deals.org_id', 'deals.id'],
                            name=op.f('fk_deal_stages_reached_org_id_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'deal_id', name=op.f('pk_deal_stages_reached')),
    sqlite_with_rowid=False,
    )
    _backfill()
    with op.batch_alter_table('deal_stage_moves', schema=None) as batch_op:
        batch_op.create_index('ix_deal_stage_moves_pair', ['org_id', 'pipeline_id', 'from_stage_id', 'to_stage_id',
                              'deal_id'], unique=False, sqlite_where=_MOVED, postgresql_where=_MOVED)
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_analytics_outcome', ['org_id', 'status', 'pipeline_id', 'lost_reason',
                              'closed_at', 'owner_id', 'deleted_at'], unique=False,
                              sqlite_where=_LIVE, postgresql_where=_LIVE)


def downgrade() -> None:
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_analytics_outcome')
    with op.batch_alter_table('deal_stage_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_deal_stage_moves_pair')
    op.drop_table('deal_stages_reached')
