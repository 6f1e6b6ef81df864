"""contacts external_user_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:23:48.083188
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_user_id', sa.String(length=200), nullable=True))
        batch_op.create_index('ux_contacts_external_user_id', ['org_id', 'external_user_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND external_user_id IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND external_user_id IS NOT NULL'))



def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ux_contacts_external_user_id', sqlite_where=sa.text('deleted_at IS NULL AND external_user_id IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND external_user_id IS NOT NULL'))
        batch_op.drop_column('external_user_id')

