"""analytics: currency rates, daily snapshots, and the indexes the reports read through

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table('currency_rates',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rate', sa.String(length=40), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_currency_rates_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'currency', name=op.f('pk_currency_rates'))
    )
    op.create_table('analytics_snapshots',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('open_count', sa.Integer(), nullable=False),
    sa.Column('pipeline_value', kith.core.db.Cents(), nullable=False),
    sa.Column('weighted_value', kith.core.db.Cents(), nullable=False),
    sa.Column('won_count', sa.Integer(), nullable=False),
    sa.Column('won_value', kith.core.db.Cents(), nullable=False),
    sa.Column('lost_count', sa.Integer(), nullable=False),
    sa.Column('lost_value', kith.core.db.Cents(), nullable=False),
    sa.Column('leads_created', sa.Integer(), nullable=False),
    sa.Column('leads_converted', sa.Integer(), nullable=False),
    sa.Column('missing_rates', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
              nullable=False),
    sa.Column('taken_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_analytics_snapshots_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'day', name=op.f('pk_analytics_snapshots'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_analytics_open', ['org_id', 'status', 'pipeline_id', 'stage_id', 'currency',
                              'owner_id', 'amount', 'probability', 'created_at'], unique=False,
                              sqlite_where=_LIVE, postgresql_where=_LIVE)
        batch_op.create_index('ix_deals_analytics_close', ['org_id', 'status', 'expected_close_date', 'owner_id',
                              'currency', 'amount', 'probability'], unique=False,
                              sqlite_where=_LIVE, postgresql_where=_LIVE)
        batch_op.create_index('ix_deals_analytics_closed', ['org_id', 'closed_at', 'status', 'owner_id'],
                              unique=False)
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_analytics_converted', ['org_id', 'converted_at'], unique=False)
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_analytics_occurred', ['org_id', 'occurred_at', 'actor_id'],
                              unique=False)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_analytics_type_time', ['org_id', 'type', 'occurred_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_analytics_type_time')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_analytics_occurred')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_analytics_converted')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_analytics_closed')
        batch_op.drop_index('ix_deals_analytics_close')
        batch_op.drop_index('ix_deals_analytics_open')
    op.drop_table('analytics_snapshots')
    op.drop_table('currency_rates')
