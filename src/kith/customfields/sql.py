"""SQL for custom field values: one field's value expression on each backend, the filter
conditions, and the per-field indexes.

Index strategy (built for 1M records in one org, and many orgs sharing a table on PostgreSQL):

- Every type but multi_select gets a partial B-tree expression index per (table, field name),
  ``(org_id, <value>, created_at, id) WHERE <value> IS NOT NULL``, shared by all orgs that define
  a field of that name. Like the built-in ``(org_id, stage, created_at, id)`` indexes it serves
  ``?<name>=<value>`` in the default ``-created_at`` order (an index range inside the org, read in
  order: no sort, however many records match), and ``sort=<name>`` with keyset pagination (ties
  in created_at order; the cursor's ``(value, created_at, id) > (…)`` is an index condition) on
  both backends. ``<value>`` is ``json_extract(custom_fields, '$.<name>')`` on
  SQLite and ``custom_fields -> '<name>'`` on PostgreSQL (jsonb: numbers order numerically, and
  strings by the database collation, as the built-in text columns do). Partial, so a record
  without the value costs the index nothing and a name few orgs use does not tax other orgs' writes.
- multi_select on PostgreSQL gets a GIN (``jsonb_path_ops``) expression index serving
  ``custom_fields -> '<name>' @> '["option"]'``. SQLite has no index that can answer "the array
  holds x", so there the filter reads the org's rows through ``json_each``: acceptable at the scale
  SQLite serves, and the reason multi_select fields are neither indexed nor sortable there.
- Not one GIN index over the whole column (``custom_fields @> '{"plan": "pro"}'``): it answers
  equality but can neither start from the org nor deliver a page in order, so every sorted page
  would sort all the org's records.

The key is written into the SQL as a literal, never a bound parameter, so the planner can match the
query's expression with the index expression; only names checked against ``NAME_PATTERN`` are
ever inlined (``_key`` asserts it).

Lifecycle: SQLite builds the index inside the definition's transaction (it has one writer at a
time anyway). PostgreSQL builds it ``CONCURRENTLY`` just after the commit, so defining a field
never blocks writes to the table all orgs share; a build that fails only costs speed (no query
depends on an index being there) and is logged. The index is dropped with the last definition
that needs it. Index names start with ``ix_cf_``; they are not in the declared metadata and are
left out of Alembic's comparison.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from kith.core.db import Database
from kith.customfields.model import NAME_PATTERN, Definition, FieldType

log = logging.getLogger("kith.customfields")

INDEX_PREFIX = "ix_cf_"
_NAME_RE = re.compile(NAME_PATTERN)


def _key(name: str) -> str:
    if not _NAME_RE.match(name):  # the only text ever inlined into SQL here
        raise AssertionError(f"not a custom field name: {name!r}")
    return name


def value(table: sa.Table, name: str, backend: str) -> sa.ColumnElement[Any]:
    """The field's value in a row: SQL NULL when the record has none."""
    col = table.c.custom_fields
    if backend == "postgresql":
        return col.op("->", return_type=JSONB)(sa.literal_column(f"'{_key(name)}'"))
    return sa.func.json_extract(col, sa.literal_column(f"'$.{_key(name)}'"))


def bind(v: Any, backend: str) -> sa.ColumnElement[Any]:
    """A value to compare ``value(...)`` with: jsonb on PostgreSQL; on SQLite the plain value
    (json_extract yields text, integers, reals, and 1/0 for booleans, as bound booleans are)."""
    if backend == "postgresql":
        return sa.bindparam(None, v, type_=JSONB)
    return sa.literal(v)


def equals(table: sa.Table, name: str, v: Any, backend: str) -> sa.ColumnElement[bool]:
    expr = value(table, name, backend)
    # The IS NOT NULL term is the partial index's predicate, stated so both planners match it.
    return sa.and_(expr.is_not(None), expr == bind(v, backend))


def contains(table: sa.Table, name: str, option: str, backend: str) -> sa.ColumnElement[bool]:
    """A multi_select value holds ``option``."""
    if backend == "postgresql":
        expr = value(table, name, backend)
        return sa.and_(expr.is_not(None), expr.op("@>", is_comparison=True)(bind([option], backend)))
    each = sa.func.json_each(table.c.custom_fields, sa.literal_column(f"'$.{_key(name)}'")).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == option))


def holds_any(table: sa.Table, defn: Definition, options: Sequence[str], backend: str) -> sa.ColumnElement[bool]:
    """The record's value is (select) or holds (multi_select) one of ``options``."""
    if defn.type is FieldType.MULTI_SELECT:
        return sa.or_(*(contains(table, defn.name, o, backend) for o in options))
    return sa.or_(*(equals(table, defn.name, o, backend) for o in options))


def without_key(table: sa.Table, name: str, backend: str) -> sa.ColumnElement[Any]:
    """``custom_fields`` with the field's key removed (for an UPDATE's SET)."""
    col = table.c.custom_fields
    if backend == "postgresql":
        return col.op("-", return_type=JSONB)(sa.literal_column(f"'{_key(name)}'"))
    return sa.func.json_remove(col, sa.literal_column(f"'$.{_key(name)}'"))


# --- indexes ---------------------------------------------------------------------------------------

def index_kind(type_: FieldType) -> str:
    return "gin" if type_ is FieldType.MULTI_SELECT else "btree"


def index_name(table: str, name: str, type_: FieldType) -> str:
    """Readable and within PostgreSQL's 63-byte identifier limit; the digest keeps it unique."""
    kind = index_kind(type_)
    digest = hashlib.sha1(f"{table}.{name}.{kind}".encode()).hexdigest()[:8]
    return f"{INDEX_PREFIX}{table}_{name}"[:46] + f"_{kind}_{digest}"


def is_custom_field_index(name: str | None) -> bool:
    return bool(name) and name is not None and name.startswith(INDEX_PREFIX)


def create_index(table: str, defn: Definition, backend: str) -> str | None:
    """The DDL of the index serving ``defn`` (``None``: no index serves it on this backend)."""
    n, ix = _key(defn.name), index_name(table, defn.name, defn.type)
    if backend == "postgresql":
        expr = f"(custom_fields -> '{n}')"
        how = (f"USING gin ({expr} jsonb_path_ops)" if defn.type is FieldType.MULTI_SELECT
               else f"(org_id, {expr}, created_at, id)")
        return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ix} ON {table} {how} WHERE {expr} IS NOT NULL"
    if defn.type is FieldType.MULTI_SELECT:
        return None
    expr = f"json_extract(custom_fields, '$.{n}')"
    return f"CREATE INDEX IF NOT EXISTS {ix} ON {table} (org_id, {expr}, created_at, id) WHERE {expr} IS NOT NULL"


def drop_index(table: str, defn: Definition, backend: str) -> str | None:
    if backend != "postgresql" and defn.type is FieldType.MULTI_SELECT:
        return None
    concurrently = "CONCURRENTLY " if backend == "postgresql" else ""
    return f"DROP INDEX {concurrently}IF EXISTS {index_name(table, defn.name, defn.type)}"


async def _autocommit(db: Database, statement: str, params: dict[str, Any] | None = None) -> Any:
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        result = await conn.exec_driver_sql(statement, params)
        return result.all() if result.returns_rows else None


async def run_outside_transaction(db: Database, ddl: str, *, index: str | None = None) -> None:
    """Run a PostgreSQL ``… CONCURRENTLY`` statement, which may not run inside a transaction. A
    failure is logged, not raised: the definition is committed and every query is correct without
    the index. A failed concurrent build leaves an invalid index behind: given its name (``index``),
    it is dropped, but only if invalid (a valid one is another org's build that won a race)."""
    try:
        await _autocommit(db, ddl)
        return
    except Exception:  # an index is an optimisation: never fail the committed verb for it
        log.exception("custom field index statement failed: %s", ddl)
    if index is None:
        return
    try:
        invalid = await _autocommit(db, "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                        "WHERE c.relname = %(name)s AND NOT i.indisvalid", {"name": index})
        if invalid:
            await _autocommit(db, f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
    except Exception:
        log.exception("could not drop the invalid custom field index %s", index)
