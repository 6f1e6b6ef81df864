"""search indexes: SQLite FTS5 kept by triggers; PostgreSQL full text + trigram GIN

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:30:00

The index definitions are this migration's own data (a later change to what is indexed is a new
migration); ``kith.search.ddl`` turns them into statements and documents the design. Creating the
SQLite FTS tables ends with a 'rebuild' and the PostgreSQL indexes are built from the rows
present: both backfill existing records.
"""

from __future__ import annotations

from alembic import op

from kith.search.ddl import (
    IndexSpec,
    postgresql_common,
    postgresql_create,
    postgresql_drop,
    postgresql_drop_common,
    sqlite_create,
    sqlite_digits,
    sqlite_drop,
    sqlite_tags,
)

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _text(*exprs: str) -> str:
    """SQLite: non-null expressions joined by spaces (no concat_ws before SQLite 3.44)."""
    return " || ' ' || ".join(f"coalesce({e}, '')" for e in exprs)


_PHONE_DIGITS_PG = "translate(phone, ' -()+./#*', ''), translate(mobile, ' -()+./#*', '')"

SPECS = (
    IndexSpec(
        table="contacts",
        sqlite_columns=(
            ("name", _text("r.name", "r.first_name", "r.last_name")),
            ("email", "r.email"),
            ("phone", _text("r.phone", "r.mobile", sqlite_digits("r.phone"), sqlite_digits("r.mobile"))),
            ("title", "r.title"),
            ("tags", sqlite_tags("tags")),
            ("notes", "r.notes"),
        ),
        watched=("name", "first_name", "last_name", "email", "phone", "mobile", "title", "tags", "notes"),
        pg_args=(("name", "text"), ("first_name", "text"), ("last_name", "text"), ("email", "text"),
                 ("phone", "text"), ("mobile", "text"), ("title", "text"), ("tags", "jsonb"), ("notes", "text")),
        pg_text=f"concat_ws(' ', name, first_name, last_name, email, phone, mobile, {_PHONE_DIGITS_PG}, title, "
                "tags::text, notes)",
        pg_trigram=(("ix_contacts_name_trgm", "lower(name)"), ("ix_contacts_email_trgm", "lower(email)")),
    ),
    IndexSpec(
        table="companies",
        sqlite_columns=(
            ("name", "r.name"),
            ("domain", "r.domain"),
            ("external_id", "r.external_id"),
            ("tags", sqlite_tags("tags")),
            ("notes", "r.notes"),
        ),
        watched=("name", "domain", "external_id", "tags", "notes"),
        pg_args=(("name", "text"), ("domain", "text"), ("external_id", "text"), ("tags", "jsonb"),
                 ("notes", "text")),
        pg_text="concat_ws(' ', name, domain, external_id, tags::text, notes)",
        pg_trigram=(("ix_companies_name_trgm", "lower(name)"), ("ix_companies_domain_trgm", "lower(domain)")),
    ),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for spec in SPECS:
            for stmt in sqlite_create(spec):
                op.execute(stmt)
    elif dialect == "postgresql":
        for stmt in postgresql_common():
            op.execute(stmt)
        for spec in SPECS:
            for stmt in postgresql_create(spec):
                op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for spec in SPECS:
            for stmt in sqlite_drop(spec):
                op.execute(stmt)
    elif dialect == "postgresql":
        for spec in SPECS:
            for stmt in postgresql_drop(spec):
                op.execute(stmt)
        for stmt in postgresql_drop_common():
            op.execute(stmt)
