"""web: browser sessions and saved list views

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('remember', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_web_sessions_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_web_sessions'))
    )
    op.create_index('ix_web_sessions_id', 'web_sessions', ['id'], unique=True)
    op.create_index('ix_web_sessions_user', 'web_sessions', ['org_id', 'user_id'], unique=False)
    op.create_table('saved_views',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('object', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('spec', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_saved_views_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_saved_views')),
    sa.UniqueConstraint('org_id', 'user_id', 'object', 'name', name=op.f('uq_saved_views_org_id_user_id_object_name'))
    )


def downgrade() -> None:
    op.drop_table('saved_views')
    op.drop_index('ix_web_sessions_user', table_name='web_sessions')
    op.drop_index('ix_web_sessions_id', table_name='web_sessions')
    op.drop_table('web_sessions')
