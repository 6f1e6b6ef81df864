"""automations: rules and their run log

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('automations',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('trigger', sa.String(length=80), nullable=False),
    sa.Column('conditions', JSON, nullable=False),
    sa.Column('actions', JSON, nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('active_since', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_automations_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_automations'))
    )
    with op.batch_alter_table('automations', schema=None) as batch_op:
        batch_op.create_index('ix_automations_enabled', ['enabled', 'org_id'], unique=False)
        batch_op.create_index('ix_automations_trigger', ['org_id', 'trigger'], unique=False)

    op.create_table('automation_runs',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('automation_id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('results', JSON, nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_automation_runs_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_automation_runs')),
    sa.UniqueConstraint('org_id', 'automation_id', 'event_id', name='uq_automation_runs_event')
    )
    with op.batch_alter_table('automation_runs', schema=None) as batch_op:
        batch_op.create_index('ix_automation_runs_log', ['org_id', 'automation_id', 'id'], unique=False)
        batch_op.create_index('ix_automation_runs_status', ['org_id', 'automation_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_automation_runs_due', ['next_attempt_at'], unique=False,
                              sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table('automation_runs')
    op.drop_table('automations')
