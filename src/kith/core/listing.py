"""Keyset pagination, sorting and equality filters: the list convention of DESIGN §6.

A cursor is an opaque, url-safe token holding the sort spec and the last row's (sort value, id);
a cursor made for another sort is refused. Sorting is only offered on NOT NULL columns, so the
keyset comparison ``(value, id) > (last value, last id)`` is exact on both backends.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kith.core.errors import BadRequest, FieldError, ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    sort: str = "-created_at"
    filters: Mapping[str, str] = field(default_factory=dict)
    q: str | None = None


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    next_cursor: str | None


def parse_sort(sort: str, allowed: Sequence[str]) -> tuple[str, bool]:
    """``-created_at`` → ("created_at", descending=True); 422 on an unknown field."""
    desc = sort.startswith("-")
    name = sort.lstrip("-+")
    if name not in allowed:
        raise ValidationFailed(
            f"cannot sort by {name!r}",
            errors=[FieldError("sort", f"sort by one of {sorted(allowed)}, prefixed by - for descending")],
        )
    return name, desc


def _encode_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"t": v.isoformat()}
    if isinstance(v, Decimal):
        return {"d": str(v)}
    return v


def _decode_value(v: Any) -> Any:
    if isinstance(v, dict) and "t" in v:
        return datetime.fromisoformat(v["t"])
    if isinstance(v, dict) and "d" in v:
        return Decimal(v["d"])
    return v


def encode_cursor(sort: str, value: Any, last_id: str) -> str:
    raw = json.dumps([sort, _encode_value(value), last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    bad = BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])
    if len(cursor) > 2000:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, last_id = json.loads(raw)
        value = _decode_value(value)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, ArithmeticError):  # Decimal('x')
        raise bad from None
    if made_for != sort or not isinstance(last_id, str):
        raise BadRequest("the cursor was made for another sort order",
                         errors=[FieldError("cursor", "cursor does not match sort")])
    if isinstance(value, datetime) and value.tzinfo is None:
        raise bad
    return value, last_id


def _fits(value: Any, col: sa.ColumnElement[Any]) -> bool:
    """Whether a decoded cursor value is of the sort column's kind: a tampered one (a string for a
    number, null, a number for a date) would otherwise fail in the driver (500) or page wrongly."""
    t = col.type
    impl = t.impl_instance if isinstance(t, sa.TypeDecorator) else t
    try:
        expected = impl.python_type
    except NotImplementedError:
        return value is not None
    if value is None or isinstance(value, bool):
        return False
    if issubclass(expected, int) and isinstance(t, sa.TypeDecorator):  # money stored as minor units
        return isinstance(value, Decimal | int)
    if issubclass(expected, int):  # in the column's range: PostgreSQL refuses the cast otherwise
        bits = 63 if isinstance(impl, sa.BigInteger) else 15 if isinstance(impl, sa.SmallInteger) else 31
        return isinstance(value, int) and -(2**bits) <= value < 2**bits
    if issubclass(expected, float | Decimal):
        return isinstance(value, int | float | Decimal)
    return isinstance(value, expected)


def keyset(
    stmt: sa.Select[Any],
    *,
    sort_col: sa.ColumnElement[Any],
    id_col: sa.ColumnElement[Any],
    query: ListQuery,
    sort_name: str,
    desc: bool,
) -> sa.Select[Any]:
    """Apply the cursor, order and ``limit + 1`` (one extra row tells whether a next page exists)."""
    if query.cursor:
        value, last_id = decode_cursor(query.cursor, query.sort)
        if not _fits(value, sort_col):
            raise BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])
        if sort_col is id_col:
            cond = id_col < last_id if desc else id_col > last_id
        else:
            key, last = sa.tuple_(sort_col, id_col), sa.tuple_(sa.literal(value, sort_col.type), last_id)
            cond = key < last if desc else key > last
        stmt = stmt.where(cond)
    if sort_col is id_col:
        order = [id_col.desc() if desc else id_col.asc()]
    else:
        order = [sort_col.desc(), id_col.desc()] if desc else [sort_col.asc(), id_col.asc()]
    return stmt.order_by(*order).limit(query.limit + 1)


def page(rows: list[dict[str, Any]], query: ListQuery, sort_name: str) -> Page:
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    nxt = encode_cursor(query.sort, rows[-1][sort_name], rows[-1]["id"]) if more and rows else None
    return Page(rows, nxt)
