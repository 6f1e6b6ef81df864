"""webhooks: subscriptions, deliveries, attempts; the outbox relay's cursors and marks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_cursors',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('consumer', sa.String(length=40), nullable=False),
    sa.Column('high_id', sa.String(length=40), nullable=False),
    sa.Column('low_id', sa.String(length=40), nullable=False),
    sa.Column('swept_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'consumer', name=op.f('pk_outbox_cursors'))
    )
    op.create_table('outbox_marks',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('consumer', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'consumer', 'event_id', name=op.f('pk_outbox_marks'))
    )
    op.create_table('webhooks',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('active_since', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('disabled_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disabled_reason', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_webhooks_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_webhooks'))
    )
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.create_index('ix_webhooks_enabled', ['enabled', 'org_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('webhook_id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=40), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('last_latency_ms', sa.Integer(), nullable=True),
    sa.Column('replay_of', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_webhook_deliveries_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_webhook', ['org_id', 'webhook_id', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_status', ['org_id', 'webhook_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_event', ['org_id', 'webhook_id', 'event_type', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_due', ['next_attempt_at'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('webhook_attempts',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('delivery_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_webhook_attempts_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_webhook_attempts'))
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_attempts_delivery', ['org_id', 'delivery_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
    op.drop_table('outbox_marks')
    op.drop_table('outbox_cursors')
