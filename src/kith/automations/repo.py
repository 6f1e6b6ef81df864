"""Queries over automation rules and their run log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kith.automations.tables import automation_runs, automations
from kith.core.errors import FieldError, ValidationFailed
from kith.core.listing import ListQuery, keyset, page, parse_sort
from kith.core.uow import UnitOfWork

t, r = automations.c, automation_runs.c

HIDDEN = frozenset({"org_id", "secret", "active_since"})
PUBLIC = [c for c in automations.c if c.name not in HIDDEN]
RUN_STATUSES = ("pending", "succeeded", "failed", "skipped")
SORTS = ("created_at",)  # ids are time-ordered: sorting by created_at is sorting by id


def out(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in HIDDEN}


async def get(uow: UnitOfWork, org_id: str, automation_id: str) -> Any:
    return (await uow.execute(sa.select(automations).where(t.org_id == org_id, t.id == automation_id))).first()


async def count_enabled(uow: UnitOfWork, org_id: str, *, besides: str | None = None) -> int:
    q = sa.select(sa.func.count()).select_from(automations).where(t.org_id == org_id, t.enabled.is_(True))
    if besides is not None:
        q = q.where(t.id != besides)
    return int((await uow.execute(q)).scalar_one())


def _filters(query: ListQuery, allowed: Sequence[str]) -> dict[str, str]:
    unknown = [k for k in query.filters if k not in allowed]
    if unknown:
        raise ValidationFailed(f"cannot filter by {unknown}",
                               errors=[FieldError(k, f"filter by one of {list(allowed)}") for k in unknown])
    return dict(query.filters)


async def list_automations(uow: UnitOfWork, org_id: str, query: ListQuery) -> dict[str, Any]:
    filters = _filters(query, ("enabled", "trigger"))
    _, desc = parse_sort(query.sort, SORTS)
    stmt = sa.select(*PUBLIC).where(t.org_id == org_id)
    if "enabled" in filters:
        if filters["enabled"] not in {"true", "false"}:
            raise ValidationFailed("enabled is true or false", errors=[FieldError("enabled", "true or false")])
        stmt = stmt.where(t.enabled.is_(filters["enabled"] == "true"))
    if "trigger" in filters:
        stmt = stmt.where(t.trigger == filters["trigger"])
    stmt = keyset(stmt, sort_col=t.id, id_col=t.id, query=query, sort_name="id", desc=desc)
    p = page([dict(x._mapping) for x in await uow.execute(stmt)], query, "id")
    return {"data": p.data, "next_cursor": p.next_cursor}


def run_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "automation_id": row["automation_id"], "event_id": row["event_id"],
            "event_type": row["event_type"], "status": row["status"], "depth": row["depth"],
            "reason": row["reason"], "actions": row["results"] or [], "attempts": row["attempts"],
            "created_at": row["created_at"], "started_at": row["started_at"], "finished_at": row["finished_at"]}


async def list_runs(uow: UnitOfWork, org_id: str, automation_id: str, query: ListQuery) -> dict[str, Any]:
    filters = _filters(query, ("status", "event_id"))
    _, desc = parse_sort(query.sort, SORTS)
    if "status" in filters and filters["status"] not in RUN_STATUSES:
        raise ValidationFailed("unknown run status", errors=[FieldError("status", f"one of {list(RUN_STATUSES)}")])
    stmt = sa.select(automation_runs).where(r.org_id == org_id, r.automation_id == automation_id)
    for name, value in filters.items():
        stmt = stmt.where(r[name] == value)
    stmt = keyset(stmt, sort_col=r.id, id_col=r.id, query=query, sort_name="id", desc=desc)
    p = page([dict(x._mapping) for x in await uow.execute(stmt)], query, "id")
    return {"data": [run_out(x) for x in p.data], "next_cursor": p.next_cursor}


async def delete_with_log(uow: UnitOfWork, org_id: str, automation_id: str) -> None:
    await uow.execute(automation_runs.delete().where(r.org_id == org_id, r.automation_id == automation_id))
    await uow.execute(automations.delete().where(t.org_id == org_id, t.id == automation_id))
