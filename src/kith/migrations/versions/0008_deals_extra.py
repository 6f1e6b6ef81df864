"""deals slice: won/lost outcome stages, one default pipeline per kind, deals by lead

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_default = sa.text("is_default")


def upgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=10), nullable=True))
    # The default deal pipeline's closing stages become its won/lost outcomes.
    op.execute(
        "UPDATE stages SET outcome = CASE name WHEN 'closed won' THEN 'won' ELSE 'lost' END "
        "WHERE name IN ('closed won', 'closed lost') AND EXISTS (SELECT 1 FROM pipelines p "
        "WHERE p.org_id = stages.org_id AND p.id = stages.pipeline_id AND p.kind = 'deal')"
    )
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.create_index('ux_pipelines_default', ['org_id', 'kind'], unique=True,
                              sqlite_where=_default, postgresql_where=_default)
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_lead', ['org_id', 'lead_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_lead')
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.drop_index('ux_pipelines_default', sqlite_where=_default, postgresql_where=_default)
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('outcome')
