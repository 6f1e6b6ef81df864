"""The search indexes' DDL: SQLite FTS5 tables kept in sync by triggers, PostgreSQL GIN indexes.

Migrations call these generators with an ``IndexSpec`` they keep as their own (frozen) data, so
a later change here must stay backward compatible or be copied into the migration that needs
the old behaviour. Nothing here is in ``kith.tables.metadata``: ``include_name`` keeps the index
objects out of Alembic's schema comparison.

SQLite
  ``<table>_fts`` is an FTS5 *external content* table whose content is the view
  ``<table>_search_src`` (the text to index, one row per record, ``rid`` = the record's rowid).
  The view is the one definition of the indexed text: the triggers and ``rebuild`` read it.
  Tags are decoded from their JSON text with a recursive CTE because FTS5 may not read a content
  query that uses ``json_each`` (a virtual table) and a trigger may not hold a WITH clause, but a
  view it reads may. Old values are removed by BEFORE UPDATE/DELETE triggers that read the
  view while the row still holds them (FTS5's ``delete`` needs exactly the indexed values); new
  values are added by AFTER INSERT/UPDATE triggers. Only changes to indexed columns re-index.
  Trashed rows stay indexed: queries filter on ``deleted_at``.

  After a bulk load without the triggers, or anything that renumbers the table's rowids
  (``VACUUM``, a table rebuilt by a migration), rebuild: ``INSERT INTO contacts_fts(contacts_fts)
  VALUES('rebuild')`` (``rebuild_sql``).

PostgreSQL
  Since migration 0012 each table has a stored generated column ``search_doc``: an IMMUTABLE SQL
  function ``kith_<type>_search_vec(columns…) -> tsvector`` of the row, GIN-indexed, so a query
  reads the document instead of recomputing it per candidate row. Words of the name and email
  (company: name and domain) have weight A, the rest the default weight D: ``'smi':*A`` asks for
  a name/email word (rank 2). The text is unaccented and ASCII punctuation becomes spaces before
  the 'simple' parser runs, so ``alice@acme.com`` yields ``alice``, ``acme``, ``com`` as in SQLite.
  ``kith_search_tsquery_w(text[], weights)`` turns the tokens the service extracted into an AND
  of prefix terms without ever parsing user text as tsquery syntax. Trigram GIN indexes (pg_trgm)
  on ``lower(name)`` / email / domain serve substring matches. (Migration 0004 indexed the
  expression ``kith_<type>_search_doc(columns…)`` instead; the function stays for its downgrade.)

Both
  Ordered B-tree indexes (``ix_<table>_<column>_search``, live rows only) serve the exact and
  prefix tiers (``kith.search.service``): ``(org_id, name COLLATE NOCASE, id)`` on SQLite (NOCASE
  folds ASCII exactly as SQLite's lower() does), ``(org_id, lower(name) COLLATE "C", id)`` on
  PostgreSQL (byte order, as Python compares), and the email/domain/external id likewise where
  no live-unique index on the stored value already serves (SQLite: ``ux_contacts_email``,
  ``ux_companies_domain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SHADOW_SUFFIXES = ("", "_data", "_idx", "_docsize", "_config", "_content")
PG_FUNCTIONS = ("kith_search_unaccent(text)", "kith_search_norm(text)", "kith_search_tsquery(text[])")
DOCUMENT_COLUMN = "search_doc"  # PostgreSQL: the stored tsvector column (migration 0012)


@dataclass(frozen=True)
class IndexSpec:
    table: str
    # FTS column -> SQLite expression over the row alias ``r``; the view selects these.
    sqlite_columns: tuple[tuple[str, str], ...]
    # Columns whose change re-indexes the row (the UPDATE OF list of the SQLite triggers).
    watched: tuple[str, ...]
    # PostgreSQL: the document function's (argument, type) list, in call order, and its body: a
    # text expression over the arguments (normalised and parsed by the function).
    pg_args: tuple[tuple[str, str], ...]
    pg_text: str
    # Expressions given a trigram GIN index each (name, expression).
    pg_trigram: tuple[tuple[str, str], ...]
    tokenizer: str = "unicode61 remove_diacritics 2"
    prefix: str = "2 3"

    @property
    def fts(self) -> str:
        return f"{self.table}_fts"

    @property
    def view(self) -> str:
        return f"{self.table}_search_src"

    @property
    def pg_function(self) -> str:
        return f"kith_{self.table}_search_doc"

    @property
    def pg_index(self) -> str:
        return f"ix_{self.table}_search_doc"

    def triggers(self) -> tuple[str, ...]:
        return tuple(f"{self.table}_search_{s}" for s in ("ai", "bd", "bu", "au"))


def sqlite_tags(column: str) -> str:
    """A JSON array of strings as space-separated text, without json_each (see the module doc)."""
    return (f"(WITH RECURSIVE _t(i, v) AS (SELECT 0, NULL UNION ALL SELECT i + 1, "
            f"json_extract(r.{column}, '$[' || i || ']') FROM _t WHERE i < json_array_length(r.{column})) "
            f"SELECT group_concat(v, ' ') FROM _t)")


def sqlite_digits(expr: str) -> str:
    """A phone number with its punctuation removed (``+1 (555) 010-2030`` -> ``15550102030``)."""
    for ch in " -()+./#*":
        expr = f"replace({expr}, '{ch}', '')"
    return expr


def sqlite_triggers(spec: IndexSpec) -> list[str]:
    cols = [c for c, _ in spec.sqlite_columns]
    names = ", ".join(cols)
    ai, bd, bu, au = spec.triggers()
    add = f"INSERT INTO {spec.fts}(rowid, {names}) SELECT rid, {names} FROM {spec.view} WHERE rid = new.rowid;"
    remove = (f"INSERT INTO {spec.fts}({spec.fts}, rowid, {names}) SELECT 'delete', rid, {names} "
              f"FROM {spec.view} WHERE rid = old.rowid;")
    watched = ", ".join(spec.watched)
    return [
        f"CREATE TRIGGER {ai} AFTER INSERT ON {spec.table} BEGIN {add} END",
        f"CREATE TRIGGER {bd} BEFORE DELETE ON {spec.table} BEGIN {remove} END",
        f"CREATE TRIGGER {bu} BEFORE UPDATE OF {watched} ON {spec.table} BEGIN {remove} END",
        f"CREATE TRIGGER {au} AFTER UPDATE OF {watched} ON {spec.table} BEGIN {add} END",
    ]


def sqlite_drop_triggers(spec: IndexSpec) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {name}" for name in spec.triggers()]


def sqlite_create(spec: IndexSpec) -> list[str]:
    select = ", ".join(f"{expr} AS {col}" for col, expr in spec.sqlite_columns)
    cols = ", ".join(c for c, _ in spec.sqlite_columns)
    return [
        f"CREATE VIEW {spec.view} AS SELECT r.rowid AS rid, {select} FROM {spec.table} AS r",
        f"CREATE VIRTUAL TABLE {spec.fts} USING fts5({cols}, content='{spec.view}', content_rowid='rid', "
        f"tokenize='{spec.tokenizer}', prefix='{spec.prefix}')",
        *sqlite_triggers(spec),
        rebuild_sql(spec),  # the backfill of existing rows
    ]


def sqlite_drop(spec: IndexSpec) -> list[str]:
    return [*sqlite_drop_triggers(spec), f"DROP TABLE IF EXISTS {spec.fts}", f"DROP VIEW IF EXISTS {spec.view}"]


def rebuild_sql(spec: IndexSpec) -> str:
    """SQLite: re-index every row from the view (after a bulk load or a rowid renumbering)."""
    return f"INSERT INTO {spec.fts}({spec.fts}) VALUES('rebuild')"


def integrity_check_sql(spec: IndexSpec) -> str:
    """SQLite: fails ("database disk image is malformed") when the index and the rows disagree."""
    return f"INSERT INTO {spec.fts}({spec.fts}, rank) VALUES('integrity-check', 1)"


# ASCII punctuation, each mapped to a space by translate() (the second string is as long).
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_PUNCT_SQL = _PUNCT.replace("'", "''")


def postgresql_common() -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        # unaccent() is STABLE (its dictionary could change): the usual IMMUTABLE wrapper naming
        # the dictionary explicitly, so indexes may use it.
        "CREATE OR REPLACE FUNCTION kith_search_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE "
        "PARALLEL SAFE STRICT AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$",
        "CREATE OR REPLACE FUNCTION kith_search_norm(t text) RETURNS text LANGUAGE sql IMMUTABLE "
        f"PARALLEL SAFE AS $$ SELECT translate(coalesce(kith_search_unaccent(t), ''), '{_PUNCT_SQL}', "
        f"'{' ' * len(_PUNCT)}') $$",
        # Each token becomes the prefix query of its lexemes; tokens are ANDed. plainto_tsquery
        # never fails on any text, and its output (lexemes quoted by PostgreSQL) is safe to
        # re-read with ':*' appended.
        """CREATE OR REPLACE FUNCTION kith_search_tsquery(tokens text[]) RETURNS tsquery LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  result tsquery := '';
  part tsquery;
  tok text;
BEGIN
  FOREACH tok IN ARRAY coalesce(tokens, '{}') LOOP
    part := plainto_tsquery('simple', kith_search_norm(tok));
    IF numnode(part) > 0 THEN
      result := result && (part::text || ':*')::tsquery;
    END IF;
  END LOOP;
  RETURN result;
END $$""",
    ]


def postgresql_create(spec: IndexSpec) -> list[str]:
    args = ", ".join(f"{name} {type_}" for name, type_ in spec.pg_args)
    call = ", ".join(name for name, _ in spec.pg_args)
    stmts = [
        f"CREATE OR REPLACE FUNCTION {spec.pg_function}({args}) RETURNS tsvector LANGUAGE sql IMMUTABLE "
        f"PARALLEL SAFE AS $$ SELECT to_tsvector('simple'::regconfig, kith_search_norm({spec.pg_text})) $$",
        # Building the index is the backfill of existing rows.
        f"CREATE INDEX IF NOT EXISTS {spec.pg_index} ON {spec.table} USING gin ({spec.pg_function}({call}))",
    ]
    stmts += [f"CREATE INDEX IF NOT EXISTS {name} ON {spec.table} USING gin (({expr}) gin_trgm_ops)"
              for name, expr in spec.pg_trigram]
    return stmts


def postgresql_drop(spec: IndexSpec) -> list[str]:
    types = ", ".join(t for _, t in spec.pg_args)
    return [*(f"DROP INDEX IF EXISTS {name}" for name, _ in spec.pg_trigram),
            f"DROP INDEX IF EXISTS {spec.pg_index}",
            f"DROP FUNCTION IF EXISTS {spec.pg_function}({types})"]


def postgresql_drop_common() -> list[str]:
    return [f"DROP FUNCTION IF EXISTS {f}" for f in reversed(PG_FUNCTIONS)]


# --- migration 0012: stored documents and ordered indexes -------------------------------------

@dataclass(frozen=True)
class DocumentSpec:
    """PostgreSQL: the stored, weighted search document of ``table``."""

    table: str
    args: tuple[tuple[str, str], ...]  # the function's (argument, type) list = the columns, in order
    weighted: str  # text expression over the arguments: words of weight A (name, email)
    other: str  # the rest of the indexed text (weight D)

    @property
    def function(self) -> str:
        return f"kith_{self.table}_search_vec"

    @property
    def index(self) -> str:
        return f"ix_{self.table}_search_doc"


TSQUERY_W = """CREATE OR REPLACE FUNCTION kith_search_tsquery_w(tokens text[], weights text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  result tsquery := '';
  part tsquery;
  tok text;
BEGIN
  IF weights !~ '^[A-D]*$' THEN
    RAISE EXCEPTION 'weights must be letters A-D';
  END IF;
  FOREACH tok IN ARRAY coalesce(tokens, '{}') LOOP
    part := plainto_tsquery('simple', kith_search_norm(tok));
    IF numnode(part) > 0 THEN
      result := result && (part::text || ':*' || weights)::tsquery;
    END IF;
  END LOOP;
  RETURN result;
END $$"""


def postgresql_document_create(spec: DocumentSpec) -> list[str]:
    """Replace the expression index with a stored document column; adding the column rewrites the
    table, which is the backfill of existing rows."""
    args = ", ".join(f"{name} {type_}" for name, type_ in spec.args)
    call = ", ".join(name for name, _ in spec.args)
    return [
        TSQUERY_W,
        f"CREATE OR REPLACE FUNCTION {spec.function}({args}) RETURNS tsvector LANGUAGE sql IMMUTABLE "
        f"PARALLEL SAFE AS $$ SELECT setweight(to_tsvector('simple'::regconfig, kith_search_norm({spec.weighted})), "
        f"'A') || to_tsvector('simple'::regconfig, kith_search_norm({spec.other})) $$",
        f"DROP INDEX IF EXISTS {spec.index}",
        f"ALTER TABLE {spec.table} ADD COLUMN {DOCUMENT_COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({spec.function}({call})) STORED",
        f"CREATE INDEX {spec.index} ON {spec.table} USING gin ({DOCUMENT_COLUMN})",
    ]


def postgresql_document_drop(spec: DocumentSpec) -> list[str]:
    types = ", ".join(t for _, t in spec.args)
    return [f"DROP INDEX IF EXISTS {spec.index}",
            f"ALTER TABLE {spec.table} DROP COLUMN IF EXISTS {DOCUMENT_COLUMN}",
            f"DROP FUNCTION IF EXISTS {spec.function}({types})",
            "DROP FUNCTION IF EXISTS kith_search_tsquery_w(text[], text)"]


@dataclass(frozen=True)
class OrderedIndex:
    """A B-tree index over live rows for the exact/prefix tiers: ``(org_id, <value>[, id])``."""

    table: str
    column: str
    lower: bool  # index lower(column) (else the value as stored: stored lower-case)
    with_id: bool  # False for values unique among live rows
    sqlite: bool = True  # False where a live-unique index on (org_id, column) already serves

    @property
    def name(self) -> str:
        return f"ix_{self.table}_{self.column}_search"

    def create(self, dialect: str) -> str | None:
        if dialect == "sqlite" and not self.sqlite:
            return None
        # SQLite: NOCASE folds ASCII as SQLite's lower() does, and keeps the index a plain column
        # index (reflection skips expression indexes with a warning).
        if dialect == "postgresql":
            value = f'(lower({self.column}) COLLATE "C")' if self.lower else f'({self.column} COLLATE "C")'
        else:
            value = f"{self.column} COLLATE NOCASE" if self.lower else self.column
        cols = f"org_id, {value}" + (", id" if self.with_id else "")
        return f"CREATE INDEX IF NOT EXISTS {self.name} ON {self.table} ({cols}) WHERE deleted_at IS NULL"

    def drop(self) -> str:
        return f"DROP INDEX IF EXISTS {self.name}"


# --- Alembic ---------------------------------------------------------------------------------

def is_search_object(name: str | None) -> bool:
    """Whether a table/index name belongs to a search index (FTS5 tables and their shadow
    tables, the document and trigram indexes): not part of the declared metadata."""
    if not name:
        return False
    if name.endswith(("_search_doc", "_trgm", "_search")):
        return True
    return any(name.endswith("_fts" + s) for s in SHADOW_SUFFIXES)


_FORECAST_INDEX = "ix_deals_analytics_month"  # kith.analytics.tables.FORECAST_INDEX (migration 0025)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: leave the search index objects out of autogenerate (and
    PostgreSQL's stored ``search_doc`` column, which SQLite has no type for)."""
    if type_ in {"table", "index"}:
        # Custom field indexes (``ix_cf_…``) are made and dropped with the fields: data, not schema;
        # the forecast's per-backend expression index is made by its migration (0025).
        return not is_search_object(name) and not (name or "").startswith("ix_cf_") and name != _FORECAST_INDEX
    if type_ == "column":
        return name != DOCUMENT_COLUMN
    return True
