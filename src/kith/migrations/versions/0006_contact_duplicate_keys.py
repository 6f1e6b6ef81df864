"""contact duplicate keys (owner: duplicates work)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Adds the keys ``GET /api/v1/contacts/duplicates`` groups by, keys the existing rows, then builds
the partial indexes. The keys come from ``kith.contacts.dedupe`` (accent folding has no SQL
equivalent on SQLite), computed in Python over keyset-ordered batches, so memory stays flat at
any table size; a later change to those rules needs its own re-keying migration. The indexes are
built after the backfill: one sorted build instead of an index update per row. Plain
``add_column`` (no batch mode): SQLite adds columns in place, so rowids, and with them the FTS5
index of migration 0004, stay valid.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from kith.contacts import dedupe

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KEYS = (("email_key", 320), ("phone_key", 64), ("mobile_key", 64), ("name_key", 200))
BATCH = 5000  # rows keyed per round trip: amortises the round trips, keeps memory small

_contacts = sa.table("contacts", *(sa.column(n) for n in ("org_id", "id", "name", "email", "phone", "mobile")),
                     *(sa.column(k) for k, _ in KEYS))


def _where(key: str) -> Any:
    return sa.text(f"deleted_at IS NULL AND {key} IS NOT NULL")


def upgrade() -> None:
    for key, length in KEYS:
        op.add_column('contacts', sa.Column(key, sa.String(length=length), nullable=True))
    backfill(op.get_bind())
    for key, _ in KEYS:
        op.create_index(f'ix_contacts_{key}', 'contacts', ['org_id', key, 'deleted_at', 'id'], unique=False,
                        sqlite_where=_where(key), postgresql_where=_where(key))


def backfill(conn: sa.Connection) -> int:
    """Key every contact; returns how many rows got at least one key."""
    t = _contacts.c
    write = (_contacts.update().where(t.org_id == sa.bindparam("o"), t.id == sa.bindparam("i"))
             .values({k: sa.bindparam(f"new_{k}") for k, _ in KEYS}))
    after, keyed = ("", ""), 0
    while True:
        rows = conn.execute(sa.select(t.org_id, t.id, t.name, t.email, t.phone, t.mobile)
                            .where(sa.tuple_(t.org_id, t.id) > after).order_by(t.org_id, t.id).limit(BATCH)).all()
        if not rows:
            return keyed
        params = []
        for r in rows:
            keys = dedupe.keys(dict(r._mapping))
            if any(keys.values()):
                params.append({"o": r.org_id, "i": r.id, **{f"new_{k}": v for k, v in keys.items()}})
        if params:
            conn.execute(write, params)
            keyed += len(params)
        after = (rows[-1].org_id, rows[-1].id)


def downgrade() -> None:
    for key, _ in KEYS:
        op.drop_index(f'ix_contacts_{key}', table_name='contacts',
                      sqlite_where=_where(key), postgresql_where=_where(key))
    for key, _ in KEYS:
        op.drop_column('contacts', key)
