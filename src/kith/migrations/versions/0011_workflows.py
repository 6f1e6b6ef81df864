"""sales-process workflows (seed 004 §7)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table('workflows',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('deal_id', sa.String(length=40), nullable=False),
    sa.Column('template_id', sa.String(length=60), nullable=False),
    sa.Column('template', _JSON, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('current_stage', sa.String(length=60), nullable=False),
    sa.Column('history', _JSON, nullable=False),
    sa.Column('confirmed', _JSON, nullable=False),
    sa.Column('started_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'deal_id'], ['deals.org_id', 'deals.id'],
                            name=op.f('fk_workflows_org_id_deal_id_deals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_workflows_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_workflows'))
    )
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.create_index('ix_workflows_deal', ['org_id', 'deal_id', 'created_at'], unique=False)
        batch_op.create_index('ux_workflows_active_deal', ['org_id', 'deal_id'], unique=True,
                              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)

    op.create_table('workflow_tasks',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('activity_id', sa.String(length=40), nullable=False),
    sa.Column('workflow_id', sa.String(length=40), nullable=False),
    sa.Column('stage', sa.String(length=60), nullable=False),
    sa.Column('task_key', sa.String(length=60), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'workflow_id'], ['workflows.org_id', 'workflows.id'],
                            name=op.f('fk_workflow_tasks_org_id_workflow_id_workflows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'activity_id', name=op.f('pk_workflow_tasks'))
    )
    with op.batch_alter_table('workflow_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_tasks_workflow', ['org_id', 'workflow_id', 'position'], unique=False)

    op.create_table('workflow_templates',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('definition', _JSON, nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_workflow_templates_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_workflow_templates'))
    )


def downgrade() -> None:
    op.drop_table('workflow_templates')
    with op.batch_alter_table('workflow_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_tasks_workflow')
    op.drop_table('workflow_tasks')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index('ux_workflows_active_deal', sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
        batch_op.drop_index('ix_workflows_deal')
    op.drop_table('workflows')
