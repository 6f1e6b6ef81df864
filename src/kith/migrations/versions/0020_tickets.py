"""tickets (support desk)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_INDEXES = {
    'ix_tickets_created': ['org_id', 'created_at', 'id'],
    'ix_tickets_updated': ['org_id', 'updated_at', 'id'],
    'ix_tickets_due': ['org_id', 'due_at', 'id'],
    'ix_tickets_subject': ['org_id', 'subject', 'id'],
    'ix_tickets_status': ['org_id', 'status', 'created_at', 'id'],
    'ix_tickets_status_due': ['org_id', 'status', 'due_at', 'id'],
    'ix_tickets_priority': ['org_id', 'priority', 'created_at', 'id'],
    'ix_tickets_channel': ['org_id', 'channel', 'created_at', 'id'],
    'ix_tickets_assignee': ['org_id', 'assignee_id', 'status', 'created_at', 'id'],
    'ix_tickets_contact': ['org_id', 'contact_id', 'created_at', 'id'],
    'ix_tickets_company': ['org_id', 'company_id', 'created_at', 'id'],
}


def upgrade() -> None:
    op.create_table('tickets',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=False),
    sa.Column('company_id', sa.String(length=40), nullable=True),
    sa.Column('assignee_id', sa.String(length=40), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('first_response_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'contact_id'], ['contacts.org_id', 'contacts.id'], name=op.f('fk_tickets_org_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_tickets_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_tickets'))
    )
    op.create_index('ux_tickets_number', 'tickets', ['org_id', 'number'], unique=True)
    for name, columns in _INDEXES.items():
        op.create_index(name, 'tickets', columns, unique=False)


def downgrade() -> None:
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name='tickets')
    op.drop_index('ux_tickets_number', table_name='tickets')
    op.drop_table('tickets')
