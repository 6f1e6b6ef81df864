"""Keyset pagination over a *nullable* sort column: "by due date, undated last" (my tasks) or
"never contacted first, then longest ago" (automation targets).

``kith.core.listing`` sorts only NOT NULL columns, because ``(value, id) > (last, id)`` is not exact
across NULLs. Here the rows are read as two groups, each by its own index-ordered query: the NULL
group by ``id`` and the valued group by ``(value, id)``. The cursor names the group and the last
row's key, so a page may end in the first group and the next one carry on into the second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kith.core.errors import BadRequest, FieldError
from kith.core.listing import Page, decode_cursor, encode_cursor
from kith.core.uow import UnitOfWork

Row = Callable[[Any], dict[str, Any]]


async def nullable_page(uow: UnitOfWork, stmt: sa.Select[Any], *, col: sa.Column[Any],
                        id_col: sa.ColumnElement[Any], nulls_first: bool, sort: str, limit: int,
                        cursor: str | None, out: Row,
                        value_cond: sa.ColumnElement[bool] | None = None) -> Page:
    """``sort`` names the order (cursors made for another are refused); ``value_cond`` further
    restricts the valued group (e.g. ``last_contacted_at < since``)."""
    groups = ["null", "value"] if nulls_first else ["value", "null"]
    start, after = 0, None
    if cursor is not None:
        value, last_id = decode_cursor(cursor, sort)
        if value is not None and not isinstance(value, datetime):
            raise BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])
        group = "null" if value is None else "value"
        start, after = groups.index(group), (value, last_id)
    rows: list[tuple[str, dict[str, Any]]] = []
    async with uow.transaction():
        for i, group in enumerate(groups[start:], start):
            q = stmt.where(col.is_(None)) if group == "null" else stmt.where(col.is_not(None))
            if group == "value" and value_cond is not None:
                q = q.where(value_cond)
            if after is not None and i == start:
                value, last_id = after
                q = q.where(id_col > last_id if group == "null" else
                            sa.tuple_(col, id_col) > sa.tuple_(sa.literal(value, col.type), last_id))
            order = [id_col] if group == "null" else [col, id_col]
            got = await uow.execute(q.order_by(*order).limit(limit + 1 - len(rows)))
            rows += [(group, out(r)) for r in got]
            if len(rows) > limit:
                break
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = None
    if more and rows:
        group, last = rows[-1]
        nxt = encode_cursor(sort, None if group == "null" else last[col.key], last["id"])
    return Page([r for _, r in rows], nxt)
