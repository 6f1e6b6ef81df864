"""Queries over webhook subscriptions and their delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kith.core.errors import FieldError, ValidationFailed
from kith.core.listing import ListQuery, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.webhooks.model import STATUSES
from kith.webhooks.tables import webhook_attempts, webhook_deliveries, webhooks

w, d, a = webhooks.c, webhook_deliveries.c, webhook_attempts.c

HIDDEN = frozenset({"org_id", "secret", "active_since"})
PUBLIC_COLUMNS = [c for c in webhooks.c if c.name not in HIDDEN]
# Sorting by created_at is sorting by id (ids are time-ordered); the id is the exact keyset.
SORTS = ("created_at",)


def out(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in HIDDEN}


async def get(uow: UnitOfWork, org_id: str, webhook_id: str) -> Any:
    return (await uow.execute(sa.select(webhooks).where(w.org_id == org_id, w.id == webhook_id))).first()


async def count_enabled(uow: UnitOfWork, org_id: str, *, besides: str | None = None) -> int:
    q = sa.select(sa.func.count()).select_from(webhooks).where(w.org_id == org_id, w.enabled.is_(True))
    if besides is not None:
        q = q.where(w.id != besides)
    return int((await uow.execute(q)).scalar_one())


def _no_filters(query: ListQuery, allowed: Sequence[str]) -> dict[str, str]:
    unknown = [k for k in query.filters if k not in allowed]
    if unknown:
        raise ValidationFailed(f"cannot filter by {unknown}",
                               errors=[FieldError(k, f"filter by one of {list(allowed)}") for k in unknown])
    return dict(query.filters)


async def list_webhooks(uow: UnitOfWork, org_id: str, query: ListQuery) -> dict[str, Any]:
    filters = _no_filters(query, ("enabled",))
    _, desc = parse_sort(query.sort, SORTS)
    stmt = sa.select(*PUBLIC_COLUMNS).where(w.org_id == org_id)
    if "enabled" in filters:
        if filters["enabled"] not in {"true", "false"}:
            raise ValidationFailed("enabled is true or false", errors=[FieldError("enabled", "true or false")])
        stmt = stmt.where(w.enabled.is_(filters["enabled"] == "true"))
    stmt = keyset(stmt, sort_col=w.id, id_col=w.id, query=query, sort_name="id", desc=desc)
    rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    p = page(rows, query, "id")
    return {"data": p.data, "next_cursor": p.next_cursor}


async def list_deliveries(uow: UnitOfWork, org_id: str, webhook_id: str, query: ListQuery) -> dict[str, Any]:
    filters = _no_filters(query, ("status", "event_type", "event_id"))
    _, desc = parse_sort(query.sort, SORTS)
    if "status" in filters and filters["status"] not in STATUSES:
        raise ValidationFailed("unknown delivery status", errors=[FieldError("status", f"one of {list(STATUSES)}")])
    stmt = sa.select(webhook_deliveries).where(d.org_id == org_id, d.webhook_id == webhook_id)
    for name, value in filters.items():
        stmt = stmt.where(d[name] == value)
    stmt = keyset(stmt, sort_col=d.id, id_col=d.id, query=query, sort_name="id", desc=desc)
    rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    p = page(rows, query, "id")
    attempts = await attempts_of(uow, org_id, [r["id"] for r in p.data])
    return {"data": [delivery_out(r, attempts.get(r["id"], [])) for r in p.data], "next_cursor": p.next_cursor}


async def get_delivery(uow: UnitOfWork, org_id: str, webhook_id: str, delivery_id: str) -> Any:
    return (await uow.execute(sa.select(webhook_deliveries).where(
        d.org_id == org_id, d.webhook_id == webhook_id, d.id == delivery_id))).first()


async def attempts_of(uow: UnitOfWork, org_id: str, delivery_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every attempt of the given deliveries, in one query (no N+1)."""
    if not delivery_ids:
        return {}
    rows = await uow.execute(sa.select(webhook_attempts).where(
        a.org_id == org_id, a.delivery_id.in_(delivery_ids)).order_by(a.id))
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        found.setdefault(r.delivery_id, []).append({
            "number": r.number, "started_at": r.started_at, "status_code": r.status_code,
            "latency_ms": r.latency_ms, "error": r.error})
    return found


def delivery_out(row: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"], "webhook_id": row["webhook_id"], "event_id": row["event_id"],
        "event_type": row["event_type"], "status": row["status"], "attempt_count": row["attempts"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "last_status_code": row["last_status_code"], "last_error": row["last_error"],
        "last_latency_ms": row["last_latency_ms"], "replay_of": row["replay_of"],
        "created_at": row["created_at"], "delivered_at": row["delivered_at"], "attempts": attempts,
    }


async def delete_with_log(uow: UnitOfWork, org_id: str, webhook_id: str) -> None:
    ids = sa.select(d.id).where(d.org_id == org_id, d.webhook_id == webhook_id).scalar_subquery()
    await uow.execute(webhook_attempts.delete().where(a.org_id == org_id, a.delivery_id.in_(ids)))
    await uow.execute(webhook_deliveries.delete().where(d.org_id == org_id, d.webhook_id == webhook_id))
    await uow.execute(webhooks.delete().where(w.org_id == org_id, w.id == webhook_id))
