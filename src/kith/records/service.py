"""Helpers every CRM object uses: tags, metadata merge (RFC 7386), field diffs, the trash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from kith.core import clock
from kith.core.errors import NotFound, invalid
from kith.core.uow import UnitOfWork
from kith.records.tables import record_tags, trash

MAX_METADATA_BYTES = 64 * 1024


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): objects merge recursively, ``null`` removes a key."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        elif isinstance(value, dict):
            out[key] = merge_patch({}, value)
        else:
            out[key] = value
    return out


def check_metadata(value: dict[str, Any], field: str = "metadata") -> dict[str, Any]:
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:  # integers beyond 64 bits, nesting deeper than 255 levels
        raise invalid(field, f"{field} cannot be stored: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise invalid(field, f"{field} is larger than {MAX_METADATA_BYTES} bytes")
    return value


def jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]]
    return ({k: jsonable(before.get(k)) for k in keys}, {k: jsonable(after[k]) for k in keys})


async def set_tags(uow: UnitOfWork, org_id: str, record_type: str, record_id: str,
                   tags: Iterable[str], *, replace: bool = True) -> None:
    if replace:
        await uow.execute(record_tags.delete().where(
            record_tags.c.org_id == org_id, record_tags.c.record_id == record_id))
    rows = [{"org_id": org_id, "record_type": record_type, "tag": t, "record_id": record_id}
            for t in dict.fromkeys(tags)]
    await uow.insert(record_tags, rows)  # prepared, on the driver: the create path runs this every time


def tag_filter(org_id: str, record_type: str, id_col: sa.ColumnElement[Any], tag: str) -> sa.ColumnElement[bool]:
    sub = sa.select(record_tags.c.record_id).where(
        record_tags.c.org_id == org_id, record_tags.c.record_type == record_type, record_tags.c.tag == tag)
    return id_col.in_(sub)


async def put_in_trash(uow: UnitOfWork, org_id: str, record_type: str, record_id: str, name: str,
                       actor_id: str | None, links: dict[str, Any]) -> datetime:
    now = clock.now()
    await uow.execute(trash.insert(), {
        "org_id": org_id, "record_id": record_id, "record_type": record_type, "name": name[:200],
        "deleted_at": now, "deleted_by": actor_id, "links": links})
    return now


async def take_from_trash(uow: UnitOfWork, org_id: str, record_type: str, record_id: str,
                          retention_days: int) -> dict[str, Any]:
    """Remove the trash entry and return it; 404 when absent or past the retention window."""
    q = sa.select(trash).where(trash.c.org_id == org_id, trash.c.record_id == record_id,
                               trash.c.record_type == record_type)
    row = (await uow.execute(q)).first()
    if row is None or row.deleted_at < clock.now() - timedelta(days=retention_days):
        raise NotFound(f"{record_type} {record_id!r} is not in the trash", extra={"id": record_id})
    await uow.execute(trash.delete().where(trash.c.org_id == org_id, trash.c.record_id == record_id))
    return dict(row._mapping)


async def drop_trash_entry(uow: UnitOfWork, org_id: str, record_id: str) -> None:
    await uow.execute(trash.delete().where(trash.c.org_id == org_id, trash.c.record_id == record_id))
