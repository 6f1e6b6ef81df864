"""jobs and telephony: job_runs (idempotency per org, job and period), deal_rot_alerts (one
deal.rotting per rot episode), telephony_secrets and telephony_calls (one activity per call id)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('job', sa.String(length=80), nullable=False),
    sa.Column('period_key', sa.String(length=80), nullable=False),
    sa.Column('started_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('runs', sa.Integer(), server_default='1', nullable=False),
    sa.Column('forced', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('result', JSON, nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'job', 'period_key', name=op.f('pk_job_runs'))
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_started', ['org_id', 'job', 'started_at'], unique=False)

    op.create_table('deal_rot_alerts',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('deal_id', sa.String(length=40), nullable=False),
    sa.Column('progress_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('alerted_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'deal_id', name=op.f('pk_deal_rot_alerts'))
    )
    op.create_table('telephony_secrets',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_telephony_secrets_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_telephony_secrets'))
    )
    op.create_table('telephony_calls',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('call_id', sa.String(length=200), nullable=False),
    sa.Column('activity_id', sa.String(length=40), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=True),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('received_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_telephony_calls_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'call_id', name=op.f('pk_telephony_calls'))
    )


def downgrade() -> None:
    op.drop_table('telephony_calls')
    op.drop_table('telephony_secrets')
    op.drop_table('deal_rot_alerts')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_started')
    op.drop_table('job_runs')
