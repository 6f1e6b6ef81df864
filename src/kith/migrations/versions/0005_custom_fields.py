"""custom field definitions (owner: custom-fields work)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The definitions table only: the values already live in ``contacts.custom_fields`` and
``companies.custom_fields`` (JSON, ``{}`` until now), and each field's index is made when the field
is defined (``kith.customfields.sql``). Downgrading drops those indexes with the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('custom_field_definitions',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('object', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('required', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_custom_field_definitions_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_custom_field_definitions'))
    )
    with op.batch_alter_table('custom_field_definitions', schema=None) as batch_op:
        batch_op.create_index('ux_custom_field_definitions_name', ['org_id', 'object', 'name'], unique=True)


def _field_indexes() -> list[str]:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        q = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
             "AND tablename IN ('contacts', 'companies') AND indexname LIKE 'ix\\_cf\\_%'")
    else:
        q = ("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('contacts', 'companies') "
             "AND name LIKE 'ix\\_cf\\_%' ESCAPE '\\'")
    return [row[0] for row in bind.execute(sa.text(q))]


def downgrade() -> None:
    for name in _field_indexes():
        op.execute(f'DROP INDEX IF EXISTS "{name}"')
    with op.batch_alter_table('custom_field_definitions', schema=None) as batch_op:
        batch_op.drop_index('ux_custom_field_definitions_name')

    op.drop_table('custom_field_definitions')
