"""Custom fields in record lists: ``?<name>=<value>`` filters and ``sort=<name>`` / ``sort=-<name>``.

Filters: equality for every type (numbers compare as numbers, ``true``/``false`` for booleans,
``YYYY-MM-DD`` for dates, emails lower-cased); for multi_select, "holds this option". A select or
multi_select filter value must be one of the options (422 otherwise, as a built-in enum filter).

Sort: records with a value come first, in value order, and the records without one after them,
whichever the direction ("missing last"); ties, and the records without a value, go by
``created_at`` then ``id`` in the same direction, as the default list order does. A page is read
in two index-ordered queries: the records with a value after the cursor (the field's partial
index ``(org_id, value, created_at, id)``), then, when the page is not full, the records without
one (``(org_id, created_at, id)``). The cursor holds the last row's ``[value, created_at]`` and id
(``value`` null once it stands among the records without a value), so it stays exact however
many records share a value or have none.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kith.core.errors import BadRequest, FieldError
from kith.core.listing import ListQuery, Page, decode_cursor, encode_cursor
from kith.core.uow import UnitOfWork
from kith.customfields import model, repo, sql
from kith.customfields.model import Definition, FieldType

FilterFn = Callable[[str, str], sa.ColumnElement[bool]]


def filter_fn(table: sa.Table, defn: Definition, backend: str) -> FilterFn:
    """A list filter on ``defn``, shaped like the built-in ones: ``(org_id, raw) -> condition``."""
    def build(_org: str, raw: str) -> sa.ColumnElement[bool]:
        v = model.filter_value(defn, raw)
        if defn.type is FieldType.MULTI_SELECT:
            return sql.contains(table, defn.name, v, backend)
        return sql.equals(table, defn.name, v, backend)
    return build


def sortable(defs: Mapping[str, Definition]) -> tuple[str, ...]:
    return tuple(n for n, d in defs.items() if d.sortable)


def _bad_cursor() -> BadRequest:
    return BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])


def _position(defn: Definition, query: ListQuery) -> tuple[Any, datetime, str] | None:
    """The cursor's (value, created_at, id), checked against the field's type; ``None`` on page 1."""
    if not query.cursor:
        return None
    key, last_id = decode_cursor(query.cursor, query.sort)
    if not (isinstance(key, list) and len(key) == 2 and isinstance(key[1], str)) or not model.fits_cursor(defn, key[0]):
        raise _bad_cursor()
    try:
        created = datetime.fromisoformat(key[1])
    except ValueError:
        raise _bad_cursor() from None
    if created.tzinfo is None:
        raise _bad_cursor()
    return key[0], created, last_id


async def sorted_page(uow: UnitOfWork, table: sa.Table, stmt: sa.Select[Any], defn: Definition,
                      query: ListQuery, *, desc: bool) -> Page:
    """One page of ``stmt`` (the org-scoped, filtered select) ordered by ``defn``'s value."""
    v, created, id_col = sql.value(table, defn.name, uow.backend), table.c.created_at, table.c.id
    at = _position(defn, query)

    def after(*cols: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        assert at is not None
        bounds = [sql.bind(at[0], uow.backend), sa.literal(at[1], created.type), sa.literal(at[2])][-len(cols):]
        key, last = sa.tuple_(*cols), sa.tuple_(*bounds)
        return key < last if desc else key > last

    def order(*cols: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
        return [c.desc() if desc else c.asc() for c in cols]

    rows: list[dict[str, Any]] = []
    async with uow.transaction():
        if at is None or at[0] is not None:  # still among the records with a value
            valued = stmt.where(v.is_not(None))
            if at is not None:
                valued = valued.where(after(v, created, id_col))
            valued = valued.order_by(*order(v, created, id_col)).limit(query.limit + 1)
            rows = [dict(r._mapping) for r in await uow.execute(valued)]
        if len(rows) <= query.limit:
            missing = stmt.where(v.is_(None))
            if at is not None and at[0] is None:
                missing = missing.where(after(created, id_col))
            missing = missing.order_by(*order(created, id_col)).limit(query.limit + 1 - len(rows))
            rows += [dict(r._mapping) for r in await uow.execute(missing)]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if not more or not rows:
        return Page(rows, None)
    last = rows[-1]
    key = [last["custom_fields"].get(defn.name), last["created_at"].isoformat()]
    return Page(rows, encode_cursor(query.sort, key, last["id"]))


async def definitions_named(uow: UnitOfWork, org_id: str, object_: str, query: ListQuery, *,
                            filters: Collection[str], sorts: Collection[str]) -> dict[str, Definition]:
    """The org's custom fields of ``object_`` when the list names a filter or sort that is not
    built in (``filters``, ``sorts``); else nothing is read and ``{}`` is returned, so lists that
    use no custom field pay nothing for them."""
    sort = query.sort.lstrip("-+")
    if all(n in filters for n in query.filters) and (sort in sorts or sort == "relevance"):
        return {}
    async with uow.transaction():
        return await repo.definitions(uow, org_id, object_)
