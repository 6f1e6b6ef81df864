"""leads slice: an index for every list filter and sort of GET /api/v1/leads

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_NEW = {
    'ix_leads_source': ['org_id', 'source', 'created_at', 'id'],
    'ix_leads_channel': ['org_id', 'channel', 'created_at', 'id'],
    'ix_leads_updated': ['org_id', 'updated_at', 'id'],
    'ix_leads_score': ['org_id', 'score', 'id'],
    'ix_leads_title': ['org_id', 'title', 'id'],
}


def upgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        for name, columns in _NEW.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        for name in reversed(_NEW):
            batch_op.drop_index(name)
