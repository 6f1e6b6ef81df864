"""imports: import jobs, their stored files, per-row errors and the change log used by revert

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_TS = kith.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('imports',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('object', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('match', sa.String(length=64), nullable=False),
    sa.Column('mapping', _JSON, nullable=False),
    sa.Column('dry_run', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('actor', _JSON, nullable=False),
    sa.Column('record_events', sa.Boolean(), nullable=True),
    sa.Column('rows_done', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('unchanged', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('errors', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('lease_until', _TS, nullable=True),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('started_at', _TS, nullable=True),
    sa.Column('finished_at', _TS, nullable=True),
    sa.Column('reverted_at', _TS, nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_imports_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_imports'))
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index('ix_imports_created', ['org_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_imports_status', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_imports_sha', ['org_id', 'sha256'], unique=False)

    op.create_table('import_chunks',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('import_id', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'import_id'], ['imports.org_id', 'imports.id'],
                            name=op.f('fk_import_chunks_org_id_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'import_id', 'seq', name=op.f('pk_import_chunks'))
    )
    op.create_table('import_errors',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('import_id', sa.String(length=40), nullable=False),
    sa.Column('row', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=120), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'import_id'], ['imports.org_id', 'imports.id'],
                            name=op.f('fk_import_errors_org_id_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'import_id', 'row', 'seq', name=op.f('pk_import_errors'))
    )
    op.create_table('import_changes',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('import_id', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.Column('row', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('before', _JSON, nullable=True),
    sa.ForeignKeyConstraint(['org_id', 'import_id'], ['imports.org_id', 'imports.id'],
                            name=op.f('fk_import_changes_org_id_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'import_id', 'record_id', name=op.f('pk_import_changes'))
    )


def downgrade() -> None:
    op.drop_table('import_changes')
    op.drop_table('import_errors')
    op.drop_table('import_chunks')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index('ix_imports_sha')
        batch_op.drop_index('ix_imports_status')
        batch_op.drop_index('ix_imports_created')
    op.drop_table('imports')
