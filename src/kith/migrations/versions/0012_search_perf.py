"""search performance: ordered indexes for the exact/prefix tiers; PostgreSQL stored search document

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Both backends get B-tree indexes over live rows that serve the exact and prefix tiers of
``kith.search.service`` with LIMIT (``(org_id, lower(name), id)`` and the like). PostgreSQL
replaces the GIN index on the expression ``kith_<type>_search_doc(columns…)`` (recomputed for
every candidate row a query reads) with a stored generated ``search_doc`` tsvector column, GIN
indexed, whose name/email words carry weight A; adding the column rewrites the table, which
backfills every existing row. SQLite's FTS5 tables, view and triggers (migration 0004) are left
as they are. The definitions are this migration's own data; ``kith.search.ddl`` renders them.
"""

from __future__ import annotations

from alembic import op

from kith.search.ddl import DocumentSpec, OrderedIndex, postgresql_document_create, postgresql_document_drop

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_DIGITS = "translate(phone, ' -()+./#*', ''), translate(mobile, ' -()+./#*', '')"

DOCUMENTS = (
    DocumentSpec(
        table="contacts",
        args=(("name", "text"), ("first_name", "text"), ("last_name", "text"), ("email", "text"),
              ("phone", "text"), ("mobile", "text"), ("title", "text"), ("tags", "jsonb"), ("notes", "text")),
        weighted="concat_ws(' ', name, first_name, last_name, email)",
        other=f"concat_ws(' ', phone, mobile, {_DIGITS}, title, tags::text, notes)",
    ),
    DocumentSpec(
        table="companies",
        args=(("name", "text"), ("domain", "text"), ("external_id", "text"), ("tags", "jsonb"), ("notes", "text")),
        weighted="concat_ws(' ', name, domain)",
        other="concat_ws(' ', external_id, tags::text, notes)",
    ),
)

# 0004's expression indexes, recreated by the downgrade.
_OLD_DOCUMENT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_contacts_search_doc ON contacts USING gin (kith_contacts_search_doc(name, "
    "first_name, last_name, email, phone, mobile, title, tags, notes))",
    "CREATE INDEX IF NOT EXISTS ix_companies_search_doc ON companies USING gin (kith_companies_search_doc(name, "
    "domain, external_id, tags, notes))",
)

ORDERED = (
    OrderedIndex("contacts", "name", lower=True, with_id=True),
    # Emails and domains are stored lower-case and unique among live rows: SQLite's
    # ux_contacts_email / ux_companies_domain serve; PostgreSQL needs byte order (COLLATE "C").
    OrderedIndex("contacts", "email", lower=False, with_id=False, sqlite=False),
    OrderedIndex("companies", "name", lower=True, with_id=True),
    OrderedIndex("companies", "domain", lower=False, with_id=False, sqlite=False),
    OrderedIndex("companies", "external_id", lower=True, with_id=True),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in {"sqlite", "postgresql"}:
        return
    for index in ORDERED:
        sql = index.create(dialect)
        if sql:
            op.execute(sql)
    if dialect == "postgresql":
        for spec in DOCUMENTS:
            for stmt in postgresql_document_create(spec):
                op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in {"sqlite", "postgresql"}:
        return
    for index in ORDERED:
        op.execute(index.drop())
    if dialect == "postgresql":
        for spec in DOCUMENTS:
            for stmt in postgresql_document_drop(spec):
                op.execute(stmt)
        for stmt in _OLD_DOCUMENT_INDEXES:
            op.execute(stmt)
