"""A record's timeline: the events indexed under it and the activities linked to it, merged, newest
first, paginated by one cursor.

Both sources are read by index with ``LIMIT limit + 1`` (events through ``event_refs``' primary key
in event-id order, which is time order; activities through ``ix_activities_<record>`` by
``(occurred_at, id)``) and merged in Python, so a page costs the same at 10 events or 10,000.
The cursor holds where each source stopped (the last event id and the last activity's
``(occurred_at, id)`` taken), so the merge only ever takes from the head of each source and a
page never skips or repeats an item, whatever the two sources' relative order.

Activities appear only to a caller who may read activities, and under an own-only grant only the
caller's team's (their author or assignee).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from kith.activities import service as activities_service
from kith.activities.tables import activities
from kith.auth.access import check_record, visible_owner_ids
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.core import clock
from kith.core.errors import BadRequest, FieldError, NotFound
from kith.core.events import event_refs, events
from kith.core.listing import Page
from kith.core.uow import UnitOfWork
from kith.records import crud

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID = r"[0-9a-hjkmnp-tv-z]{26}"
# t1.<event id suffix>.<activity occurred_at, µs since epoch>.<activity id suffix>; parts empty until taken
_CURSOR = re.compile(rf"^t1\.({_ID})?\.(?:(-?\d{{1,18}})\.({_ID}))?$")

_EVENT_COLS = (events.c.id, events.c.type, events.c.subject_type, events.c.subject_id, events.c.actor_type,
               events.c.actor_id, events.c.occurred_at, events.c.data)

ActivityKey = tuple[datetime, str]


def _bad_cursor() -> BadRequest:
    return BadRequest("the cursor is not valid for this list", errors=[FieldError("cursor", "malformed cursor")])


def decode(cursor: str) -> tuple[str | None, ActivityKey | None]:
    m = _CURSOR.match(cursor)
    if m is None:
        raise _bad_cursor()
    ev, us, act = m.groups()
    try:
        when = _EPOCH + timedelta(microseconds=int(us)) if us is not None else None
    except OverflowError:
        raise _bad_cursor() from None
    return (f"evt_{ev}" if ev else None), ((when, f"activity_{act}") if when is not None else None)


def position(cursor: str | None) -> tuple[str | None, ActivityKey | None]:
    """Where a page starts: ``decode(cursor)``, or ``(None, None)`` for the first page."""
    return decode(cursor) if cursor is not None else (None, None)


def encode(event_id: str | None, activity: ActivityKey | None) -> str:
    ev = event_id.split("_", 1)[1] if event_id else ""
    if activity is None:
        return f"t1.{ev}."
    when, act = activity
    us = (when - _EPOCH) // timedelta(microseconds=1)
    return f"t1.{ev}.{us}.{act.split('_', 1)[1]}"


@functools.cache
def _owner_stmt(t: sa.Table) -> sa.Select[Any]:
    q = sa.select(t.c.owner_id).where(t.c.org_id == sa.bindparam("org_id"), t.c.id == sa.bindparam("record_id"))
    return q.where(t.c.deleted_at.is_(None)) if "deleted_at" in t.c else q


@functools.cache
def _events_stmt(paged: bool) -> sa.Select[Any]:
    """Built once (bind parameters, not literals): a timeline page is a hot read path. The page's
    event ids are taken from ``event_refs`` first (a LIMITed subquery), then each is looked up in
    ``events`` by primary key: joined directly, PostgreSQL may merge-join against the org's whole
    event history, reading every newer event of the org to find a page. The page is put in order
    in Python (at most ``limit`` rows), sparing the database a sort."""
    er = event_refs.c
    ref_ids = sa.select(er.event_id).where(er.org_id == sa.bindparam("org_id"),
                                           er.record_id == sa.bindparam("record_id"))
    if paged:
        ref_ids = ref_ids.where(er.event_id < sa.bindparam("before"))
    page = ref_ids.order_by(er.event_id.desc()).limit(sa.bindparam("limit")).subquery("page")
    return sa.select(*_EVENT_COLS).select_from(page.join(events, sa.and_(
        events.c.org_id == sa.bindparam("org_id"), events.c.id == page.c.event_id)))


@functools.cache
def _activities_stmt(link: str, paged: bool, team_only: bool) -> sa.Select[Any]:
    a = activities.c
    q = sa.select(*activities_service.COLUMNS).where(
        a.org_id == sa.bindparam("org_id"), a[link] == sa.bindparam("record_id"), a.deleted_at.is_(None))
    if team_only:  # activity:read own-only: the caller's team wrote it or must do it
        team: sa.BindParameter[list[str]] = sa.bindparam("team", expanding=True)
        q = q.where(sa.or_(a.actor_id.in_(team), a.assignee_id.in_(team)))
    if paged:
        q = q.where(sa.tuple_(a.occurred_at, a.id) < sa.tuple_(sa.bindparam("when", type_=a.occurred_at.type),
                                                               sa.bindparam("last_id")))
    return q.order_by(a.occurred_at.desc(), a.id.desc()).limit(sa.bindparam("limit"))


async def _events(uow: UnitOfWork, org_id: str, record_id: str, before: str | None, limit: int) -> list[Any]:
    params = {"org_id": org_id, "record_id": record_id, "before": before, "limit": limit}
    rows = (await uow.execute(_events_stmt(before is not None), params)).all()
    return sorted(rows, key=lambda r: r.id, reverse=True)


async def _activities(uow: UnitOfWork, actor: Actor, link: str, record_id: str, before: ActivityKey | None,
                      limit: int) -> list[Any]:
    team = visible_owner_ids(actor, "activity")
    params: dict[str, Any] = {"org_id": actor.org_id, "record_id": record_id, "limit": limit}
    if team is not None:
        params["team"] = sorted(team)
    if before is not None:
        params["when"], params["last_id"] = before
    stmt = _activities_stmt(link, before is not None, team is not None)
    return list((await uow.execute(stmt, params)).all())


def _merge(evs: list[Any], acts: list[Any], limit: int) -> tuple[list[dict[str, Any]], int, int]:
    """Take up to ``limit`` items newest first from the heads of both lists (rows as read); returns
    the items taken, shaped for the response, and how many of each list were taken."""
    i = j = 0
    taken: list[dict[str, Any]] = []
    now = clock.now()
    while len(taken) < limit and (i < len(evs) or j < len(acts)):
        if j >= len(acts) or (i < len(evs) and (evs[i].occurred_at, evs[i].id) >= (acts[j].occurred_at, acts[j].id)):
            taken.append({"kind": "event", **evs[i]._asdict()})
            i += 1
        else:
            taken.append({"kind": "activity", **activities_service.out(acts[j], now)})
            j += 1
    return taken, i, j


async def for_record(uow: UnitOfWork, actor: Actor, kind: crud.Kind, record_id: str, *, limit: int,
                     cursor: str | None) -> Page:
    t = kind.table
    link = activities_service.RECORD_LINK.get(kind.name)
    before = position(cursor)  # a bad cursor is a 400 before any lookup
    async with uow.transaction():
        row = (await uow.execute(_owner_stmt(t), {"org_id": actor.org_id, "record_id": record_id})).first()
        if row is None:
            raise NotFound(f"{kind.name} {record_id!r} does not exist", extra={"id": record_id})
        check_record(actor, f"{kind.resource}:read", row.owner_id, kind=kind.name, record_id=record_id)
        return await page(uow, actor, record_id, link=link, limit=limit, before=before)


async def page(uow: UnitOfWork, actor: Actor, record_id: str, *, link: str | None, limit: int,
               before: tuple[str | None, ActivityKey | None]) -> Page:
    """One page of a record's timeline, once the caller's read access to the record is checked:
    its events merged with the activities linked through ``link`` (``None``: events only), older
    than ``before`` (a :func:`decode`d cursor; ``(None, None)`` for the first page)."""
    ev_before, act_before = before
    with_activities = link is not None and grant(actor.roles, "activity:read") is not Grant.NONE
    async with uow.transaction():
        evs = await _events(uow, actor.org_id, record_id, ev_before, limit + 1)
        acts = (await _activities(uow, actor, link, record_id, act_before, limit + 1)
                if with_activities and link is not None else [])
    taken, i, j = _merge(evs, acts, limit)
    if i == len(evs) and j == len(acts):
        return Page(taken, None)
    last_ev = evs[i - 1].id if i else ev_before
    last_act = (acts[j - 1].occurred_at, acts[j - 1].id) if j else act_before
    return Page(taken, encode(last_ev, last_act))
