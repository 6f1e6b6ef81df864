"""Builders for list filters (``?field=value``): equality on a column, enum checks, date ranges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kith.records.service import tag_filter

FilterFn = Callable[[str, str], sa.ColumnElement[bool]]


def eq(col: sa.ColumnElement[Any], *, choices: Sequence[str] | None = None,
       normalise: Callable[[str], str] | None = None, max_length: int = 320) -> FilterFn:
    def build(_org: str, raw: str) -> sa.ColumnElement[bool]:
        if len(raw) > max_length:
            raise ValueError(f"longer than {max_length} characters")
        value = normalise(raw) if normalise else raw
        if choices is not None and value not in choices:
            raise ValueError(f"must be one of {list(choices)}")
        return col == value
    return build


def boolean(col: sa.ColumnElement[Any]) -> FilterFn:
    def build(_org: str, raw: str) -> sa.ColumnElement[bool]:
        if raw.lower() not in {"true", "false"}:
            raise ValueError("must be true or false")
        return col.is_(raw.lower() == "true")
    return build


def _when(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time with a timezone") from None
    if value.tzinfo is None:
        raise ValueError("must be an ISO 8601 date-time with a timezone")
    return value


def after(col: sa.ColumnElement[Any]) -> FilterFn:
    return lambda _org, raw: col >= _when(raw)


def before(col: sa.ColumnElement[Any]) -> FilterFn:
    return lambda _org, raw: col < _when(raw)


def tag(record_type: str, id_col: sa.ColumnElement[Any]) -> FilterFn:
    def build(org_id: str, raw: str) -> sa.ColumnElement[bool]:
        if not raw or len(raw) > 64:
            raise ValueError("a tag is 1 to 64 characters")
        return tag_filter(org_id, record_type, id_col, raw)
    return build


def linked(id_col: sa.ColumnElement[Any], link_table: sa.Table, own: str, other: str) -> FilterFn:
    """Records linked through ``link_table`` to the record id given as the value."""
    def build(org_id: str, raw: str) -> sa.ColumnElement[bool]:
        if len(raw) > 40:
            raise ValueError("not a record id")
        sub = sa.select(link_table.c[own]).where(link_table.c.org_id == org_id, link_table.c[other] == raw)
        return id_col.in_(sub)
    return build
