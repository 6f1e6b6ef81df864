"""leads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:53:52.293683
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leads',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('owner_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Integer(), server_default='0', nullable=False),
    sa.Column('disqualification_reason', sa.Text(), nullable=True),
    sa.Column('converted_to_deal_id', sa.String(length=40), nullable=True),
    sa.Column('converted_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('external_key', sa.String(length=200), nullable=True),
    sa.Column('source_url', sa.String(length=2000), nullable=True),
    sa.Column('channel', sa.String(length=50), nullable=True),
    sa.Column('listing_ref', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'contact_id'], ['contacts.org_id', 'contacts.id'], name=op.f('fk_leads_org_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_leads_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_leads'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_contact', ['org_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_leads_created', ['org_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_leads_owner', ['org_id', 'owner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_leads_status', ['org_id', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ux_leads_external_key', ['org_id', 'external_key'], unique=True, sqlite_where=sa.text('external_key IS NOT NULL'), postgresql_where=sa.text('external_key IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ux_leads_external_key', sqlite_where=sa.text('external_key IS NOT NULL'), postgresql_where=sa.text('external_key IS NOT NULL'))
        batch_op.drop_index('ix_leads_status')
        batch_op.drop_index('ix_leads_owner')
        batch_op.drop_index('ix_leads_created')
        batch_op.drop_index('ix_leads_contact')

    op.drop_table('leads')
