"""Queries of the realtime slice: the event log read by id (the tailer and replays) and the owners
of the records events concern. Every query is scoped by org and served by a primary key."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kith.activities.tables import activities
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads.tables import leads
from kith.orgs.tables import users
from kith.realtime.model import owners_from_data, resource_of

_e = events.c
_OWNER_COLUMNS: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "deal": (deals, ("owner_id",)),
    "lead": (leads, ("owner_id",)),
    "activity": (activities, ("actor_id", "assignee_id")),
}


async def events_after(uow: UnitOfWork, org_id: str, after_id: str, limit: int) -> list[Any]:
    """Up to ``limit`` events of the org with an id above ``after_id``, in id order."""
    q = sa.select(events).where(_e.org_id == org_id, _e.id > after_id).order_by(_e.id).limit(limit)
    return list(await uow.execute(q))


async def event_ids_between(uow: UnitOfWork, org_id: str, low_id: str, high_id: str | None) -> list[str]:
    """The ids in ``(low_id, high_id]`` (no upper bound when ``None``): a range read of the key."""
    q = sa.select(_e.id).where(_e.org_id == org_id, _e.id > low_id).order_by(_e.id)
    if high_id is not None:
        q = q.where(_e.id <= high_id)
    return list((await uow.execute(q)).scalars())


async def events_by_ids(uow: UnitOfWork, org_id: str, ids: Sequence[str]) -> list[Any]:
    if not ids:
        return []
    q = sa.select(events).where(_e.org_id == org_id, _e.id.in_(list(ids))).order_by(_e.id)
    return list(await uow.execute(q))


async def owners_of(uow: UnitOfWork, org_id: str, rows: Sequence[Any]) -> dict[str, frozenset[str]]:
    """event id -> the users owning the record it concerns, read now: one query per record kind
    in the batch (never one per event). A record erased since falls back to the event's payload."""
    wanted: defaultdict[str, set[str]] = defaultdict(set)
    for r in rows:
        resource = resource_of(r.type)
        if resource in _OWNER_COLUMNS and r.subject_type == resource:
            wanted[resource].add(r.subject_id)
    found: dict[tuple[str, str], frozenset[str]] = {}
    for resource, record_ids in wanted.items():
        table, columns = _OWNER_COLUMNS[resource]
        q = sa.select(table.c.id, *(table.c[c] for c in columns)).where(
            table.c.org_id == org_id, table.c.id.in_(sorted(record_ids)))
        for rec in await uow.execute(q):
            values: tuple[str | None, ...] = tuple(rec[1:])
            found[(resource, rec[0])] = frozenset(v for v in values if v is not None)
    owners: dict[str, frozenset[str]] = {}
    for r in rows:
        key = (resource_of(r.type), r.subject_id)
        owners[r.id] = found[key] if key in found else owners_from_data(r.data)
    return owners


async def user(uow: UnitOfWork, org_id: str, user_id: str) -> Any:
    """The user's id and manager, or ``None`` when the org has no such user."""
    q = sa.select(users.c.id, users.c.manager_id).where(users.c.org_id == org_id, users.c.id == user_id)
    return (await uow.execute(q)).first()
