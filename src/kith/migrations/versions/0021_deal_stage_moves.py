"""deal stage moves for conversion analytics

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

Creates ``deal_stage_moves`` (kith.analytics.moves) and fills it from the event log in three
set-based INSERT … SELECTs, the same statements on both backends (``->`` / ``->>`` read JSON on
PostgreSQL's JSONB and on SQLite 3.38+ alike):
1. one row per ``deal.stage-moved`` event (row id = event id, moved_at = occurred_at);
2. one creation row per ``deal.created`` event (from_stage_id NULL, the stage in ``data.after``);
3. a creation row ``dsm_<deal id>`` for each deal left without one (imported without events):
   the stage its first move left, else its current stage, at its creation time.
Events of deals erased for good are skipped (the join to ``deals``); from then on the foreign key
to ``deals`` (ON DELETE CASCADE) drops the rows of a deal erased by any path.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import kith.core.db

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

_moves = sa.table("deal_stage_moves", *(sa.column(c) for c in (
    "org_id", "id", "deal_id", "pipeline_id", "from_stage_id", "to_stage_id", "moved_at", "owner_id",
    "deal_created_at")))
_events = sa.table("events", *(sa.column(c) for c in ("org_id", "id", "type", "subject_type", "subject_id",
                                                      "occurred_at", "data")))
_deals = sa.table("deals", *(sa.column(c) for c in ("org_id", "id", "pipeline_id", "stage_id", "owner_id",
                                                    "created_at")))
_LIVE = sa.text("deleted_at IS NULL")
_TRASHED = sa.text("deleted_at IS NOT NULL")
_MOVED = sa.text("from_stage_id IS NOT NULL")
_COLUMNS = ["org_id", "id", "deal_id", "pipeline_id", "from_stage_id", "to_stage_id", "moved_at", "owner_id",
            "deal_created_at"]


def _key(name: str) -> sa.ColumnElement[str]:
    return sa.literal_column(f"'{name}'")  # a constant JSON key, never input


def _json(col: sa.ColumnElement[object], *path: str) -> sa.ColumnElement[str]:
    """``col -> 'a' ->> 'b'``: the text at ``path`` of a JSON column."""
    out: sa.ColumnElement[object] = col
    for key in path[:-1]:
        out = out.op("->")(_key(key))
    return out.op("->>", return_type=sa.String)(_key(path[-1]))


def _from_events(type_: str, from_stage: sa.ColumnElement[Any], to_stage: sa.ColumnElement[str]) -> sa.Insert:
    e, d = _events.c, _deals.c
    q = (sa.select(e.org_id, e.id, e.subject_id, d.pipeline_id, from_stage, to_stage, e.occurred_at, d.owner_id,
                   d.created_at)
         .select_from(_events.join(_deals, sa.and_(d.org_id == e.org_id, d.id == e.subject_id)))
         .where(e.type == type_, e.subject_type == "deal", to_stage.is_not(None)))
    return sa.insert(_moves).from_select(_COLUMNS, q)


def _backfill_events() -> None:
    e = _events.c
    op.execute(_from_events("deal.stage-moved", _json(e.data, "from_stage_id"), _json(e.data, "to_stage_id")))
    op.execute(_from_events("deal.created", sa.null(), _json(e.data, "after", "stage_id")))


def _backfill_creations() -> None:
    d, m = _deals.c, _moves.c
    first = (sa.select(m.from_stage_id).where(m.org_id == d.org_id, m.deal_id == d.id, m.from_stage_id.is_not(None))
             .order_by(m.moved_at, m.id).limit(1).scalar_subquery())
    has_creation = sa.exists().where(m.org_id == d.org_id, m.deal_id == d.id, m.from_stage_id.is_(None))
    q = sa.select(d.org_id, sa.literal("dsm_", sa.String).concat(d.id), d.id, d.pipeline_id, sa.null(),
                  sa.func.coalesce(first, d.stage_id), d.created_at, d.owner_id, d.created_at
                  ).where(~has_creation, d.stage_id.is_not(None), d.pipeline_id.is_not(None))
    op.execute(sa.insert(_moves).from_select(_COLUMNS, q))


def upgrade() -> None:
    op.create_table('deal_stage_moves',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('deal_id', sa.String(length=64), nullable=False),
    sa.Column('pipeline_id', sa.String(length=40), nullable=False),
    sa.Column('from_stage_id', sa.String(length=40), nullable=True),
    sa.Column('to_stage_id', sa.String(length=40), nullable=False),
    sa.Column('moved_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=True),
    sa.Column('deal_created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'deal_id'], ['deals.org_id', 'deals.id'],
                            name=op.f('fk_deal_stage_moves_org_id_deal_id_deals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_deal_stage_moves'))
    )
    # indexes after the bulk of the rows (cheaper than maintaining them row by row); the per-deal one
    # first, since the third step looks moves up by deal
    _backfill_events()
    with op.batch_alter_table('deal_stage_moves', schema=None) as batch_op:
        batch_op.create_index('ix_deal_stage_moves_deal', ['org_id', 'deal_id', 'from_stage_id', 'to_stage_id',
                              'moved_at'], unique=False)
    _backfill_creations()
    with op.batch_alter_table('deal_stage_moves', schema=None) as batch_op:
        batch_op.create_index('ix_deal_stage_moves_time', ['org_id', 'pipeline_id', 'moved_at', 'from_stage_id',
                              'to_stage_id', 'deal_id'], unique=False,
                              sqlite_where=_MOVED, postgresql_where=_MOVED)
        batch_op.create_index('ix_deal_stage_moves_cohort', ['org_id', 'pipeline_id', 'deal_created_at', 'deal_id',
                              'moved_at', 'from_stage_id', 'to_stage_id'], unique=False,
                              sqlite_where=_MOVED, postgresql_where=_MOVED)
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_analytics_trashed', ['org_id', 'id'], unique=False,
                              sqlite_where=_TRASHED, postgresql_where=_TRASHED)
        batch_op.create_index('ix_deals_analytics_cohort', ['org_id', 'pipeline_id', 'created_at', 'id', 'stage_id',
                              'status', 'owner_id', 'deleted_at'], unique=False,
                              sqlite_where=_LIVE, postgresql_where=_LIVE)
    _deal_indexes(_WIDE)
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_analytics_actor', ['org_id', 'actor_id', 'occurred_at', 'deleted_at'],
                              unique=False, sqlite_where=_LIVE, postgresql_where=_LIVE)


# 0017's covering indexes on deals, widened so SQLite reads them alone (kith.analytics.tables)
_NARROW = {
    'ix_deals_analytics_open': (['org_id', 'status', 'pipeline_id', 'stage_id', 'currency', 'owner_id', 'amount',
                                 'probability', 'created_at'], True),
    'ix_deals_analytics_close': (['org_id', 'status', 'expected_close_date', 'owner_id', 'currency', 'amount',
                                  'probability'], True),
    'ix_deals_analytics_closed': (['org_id', 'closed_at', 'status', 'owner_id'], False),
}
_WIDE = {
    'ix_deals_analytics_open': (_NARROW['ix_deals_analytics_open'][0] + ['deleted_at'], True),
    'ix_deals_analytics_close': (_NARROW['ix_deals_analytics_close'][0] + ['pipeline_id', 'deleted_at'], True),
    'ix_deals_analytics_closed': (_NARROW['ix_deals_analytics_closed'][0] + [
        'currency', 'amount', 'created_at', 'pipeline_id', 'lost_reason', 'deleted_at'], False),
}


def _deal_indexes(wanted: dict[str, tuple[list[str], bool]]) -> None:
    with op.batch_alter_table('deals', schema=None) as batch_op:
        for name, (columns, live) in wanted.items():
            batch_op.drop_index(name)
            where = {'sqlite_where': _LIVE, 'postgresql_where': _LIVE} if live else {}
            batch_op.create_index(name, columns, unique=False, **where)


def downgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_analytics_actor')
    _deal_indexes(_NARROW)
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_analytics_cohort')
        batch_op.drop_index('ix_deals_analytics_trashed')
    with op.batch_alter_table('deal_stage_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_deal_stage_moves_deal')
        batch_op.drop_index('ix_deal_stage_moves_cohort')
        batch_op.drop_index('ix_deal_stage_moves_time')
    op.drop_table('deal_stage_moves')
