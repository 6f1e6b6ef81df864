"""board and dashboard: open deals in stage-move order

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

The pipeline board reads the open deals of one pipeline, least recently moved first, with a LIMIT;
without this index both backends read every open deal of the pipeline and sort them (~44 ms at
21k open deals on SQLite). The dashboard reads the org's open deals in the same order (rotting deals
first) across pipelines: ``ix_deals_open_moved``.
"""

from __future__ import annotations

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_deals_board', 'deals', ['org_id', 'pipeline_id', 'status', 'stage_changed_at', 'id'])
    op.create_index('ix_deals_open_moved', 'deals', ['org_id', 'status', 'stage_changed_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_deals_open_moved', table_name='deals')
    op.drop_index('ix_deals_board', table_name='deals')
