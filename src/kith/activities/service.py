"""Activity use cases: log, read, list, change, complete and delete activities; my open tasks.

Invariants kept here:
- Every link (contact, company, deal, lead) names a live record of the actor's org that the actor
  may read; otherwise 422 naming the field, and nothing is written.
- "Own" for activities (seed 004 ◑) is: the caller (or someone they manage) wrote it (``actor_id``)
  or must do it (``assignee_id``).
- Seed 002 communications: once an *outbound* call, email, meeting, demo, sms or chat is done, its
  contact's ``last_contacted_at`` moves forward to that moment and the ``new`` leads it concerns
  (its ``lead_id``; without one, every ``new`` lead of the contact) become ``contacted``, in the
  activity's own transaction.
- Events: ``activity.created|updated|completed`` are indexed under the activity only: the activity
  itself is what record timelines show, so indexing its events there too would list it twice.
  ``activity.deleted`` is indexed under the records it was linked to as well, so their timelines
  keep a trace of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kith.activities import model
from kith.activities.keyset import nullable_page
from kith.activities.schemas import NOT_NULL, ActivityCreate, ActivityPatch
from kith.activities.tables import activities
from kith.auth.access import can, check_record, require, visible_owner_ids
from kith.auth.model import Actor
from kith.companies.tables import companies
from kith.contacts.tables import contacts
from kith.core import clock, hooks, ids
from kith.core.errors import FieldError, NotFound, PreconditionFailed, ValidationFailed, invalid
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads.tables import leads
from kith.notifications.service import notify
from kith.orgs.tables import users
from kith.records import filters as f
from kith.records import service as rec

a = activities.c
COLUMNS = [col for col in activities.c if col.name not in {"org_id", "deleted_at"}]

# link field -> (table, permission resource)
LINKS: dict[str, tuple[sa.Table, str]] = {
    "contact_id": (contacts, "contact"),
    "company_id": (companies, "company"),
    "deal_id": (deals, "deal"),
    "lead_id": (leads, "lead"),
}
RECORD_LINK = {resource: link for link, (_t, resource) in LINKS.items()}  # "contact" -> "contact_id"

# What ``log_activity``'s ``extra`` may set beside the command (Kith's own callers only).
EXTRA_FIELDS = frozenset({"actor_id", "assignee_id", "metadata", "completed_at"})

SORTABLE = ("occurred_at", "created_at", "updated_at")
DEFAULT_SORT = "-occurred_at"


def out(row: Any, now: datetime | None = None) -> dict[str, Any]:
    """An activity as the API shows it (a Row or a dict); ``now`` decides ``overdue``."""
    d = row._asdict() if isinstance(row, sa.Row) else dict(row)
    d.pop("org_id", None)
    d.pop("deleted_at", None)
    d["status"] = model.status_of(d["completed_at"])
    d["overdue"] = model.is_overdue(d["due_at"], d["completed_at"], now or clock.now())
    return d


def _owner_for(actor: Actor, row: Any) -> str | None:
    """The user whose ownership decides ◑ grants: the assignee when that is the caller's team."""
    owner: str | None = row.assignee_id if row.assignee_id in actor.team_ids else row.actor_id
    return owner


def check_activity(actor: Actor, permission: str, row: Any) -> None:
    check_record(actor, permission, _owner_for(actor, row), kind="activity", record_id=row.id)


def visible_to(actor: Actor) -> sa.ColumnElement[bool] | None:
    team = visible_owner_ids(actor, "activity")
    if team is None:
        return None
    ids_ = sorted(team)
    return sa.or_(a.actor_id.in_(ids_), a.assignee_id.in_(ids_))


async def _load(uow: UnitOfWork, org_id: str, activity_id: str, *, for_update: bool = False) -> Any:
    q = sa.select(*COLUMNS).where(a.org_id == org_id, a.id == activity_id, a.deleted_at.is_(None))
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"activity {activity_id!r} does not exist", extra={"id": activity_id})
    return row


# --- links and people ----------------------------------------------------------------------------

async def _linked(uow: UnitOfWork, actor: Actor, field: str, record_id: str) -> Any:
    """The linked record (owner, contact, status), or 422 when absent, trashed, of another org or
    not visible to the actor (one answer for all, so existence is not revealed)."""
    table, resource = LINKS[field]
    t = table.c
    cols = [t.id, t.owner_id, *(t[n] for n in ("contact_id", "status") if n in t)]
    q = sa.select(*cols).where(t.org_id == actor.org_id, t.id == record_id)
    if "deleted_at" in t:
        q = q.where(t.deleted_at.is_(None))
    row = (await uow.execute(q)).first()
    if row is None or not can(actor, f"{resource}:read", row.owner_id):
        raise invalid(field, f"no {resource} {record_id!r} in this org")
    return row


async def _check_links(uow: UnitOfWork, actor: Actor, values: dict[str, Any], fields: Iterable[str]
                       ) -> dict[str, Any]:
    found = {}
    for field in fields:
        if values.get(field) is not None:
            found[field] = await _linked(uow, actor, field, values[field])
    lead = found.get("lead_id")
    if lead is not None and values.get("contact_id") not in (None, lead.contact_id):
        raise invalid("lead_id", "the lead belongs to another contact than contact_id")
    return found


async def _active_user(uow: UnitOfWork, org_id: str, user_id: str, field: str) -> None:
    q = sa.select(users.c.id).where(users.c.org_id == org_id, users.c.id == user_id, users.c.is_active.is_(True))
    if (await uow.execute(q)).first() is None:
        raise invalid(field, f"no active user {user_id!r} in this org")


async def _tell_assignee(uow: UnitOfWork, actor: Actor, row: dict[str, Any]) -> None:
    if row["assignee_id"] is None or row["assignee_id"] == actor.user_id or row["completed_at"] is not None:
        return
    await notify(uow, actor.org_id, row["assignee_id"], "task.assigned", f"Task: {row['subject']}",
                 subject_type="activity", subject_id=row["id"],
                 data={"activity_id": row["id"], "type": row["type"], "due_at": rec.jsonable(row["due_at"]),
                       "assigned_by": actor.user_id, "contact_id": row["contact_id"], "deal_id": row["deal_id"]})


# --- seed 002: an outbound communication contacts the person ---------------------------------------

async def _contact_made(uow: UnitOfWork, actor: Actor, row: dict[str, Any]) -> dict[str, Any]:
    """Apply a done outbound communication to its contact and leads; returns what changed (for the
    event). Idempotent: applying it twice changes nothing the second time."""
    now = clock.now()
    when = model.contact_made_at(row["type"], row["direction"], row["completed_at"], now)
    contact_id = row["contact_id"]
    if when is None or contact_id is None:
        return {}
    c = contacts.c
    res = await uow.execute(contacts.update().where(
        c.org_id == actor.org_id, c.id == contact_id, c.deleted_at.is_(None),
        sa.or_(c.last_contacted_at.is_(None), c.last_contacted_at < when))
        .values(last_contacted_at=when, updated_at=now, version=c.version + 1))
    t = leads.c
    q = sa.select(t.id).where(t.org_id == actor.org_id, t.contact_id == contact_id, t.status == "new")
    if row["lead_id"] is not None:
        q = q.where(t.id == row["lead_id"])
    lead_ids = list((await uow.execute(q.order_by(t.id))).scalars())
    from kith.leads.service import mark_contacted

    for lead_id in lead_ids:
        await mark_contacted(uow, actor, lead_id, activity_id=row["id"])
    return {"contact_id": contact_id, "last_contacted_at": when.isoformat() if res.rowcount else None,
            "leads_contacted": lead_ids}


# --- log -----------------------------------------------------------------------------------------

async def log_activity(uow: UnitOfWork, actor: Actor, cmd: ActivityCreate, *, extra: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
    """Log an activity (joins an outer transaction). ``extra`` sets what the create schema does not
    offer, for Kith's own callers: ``actor_id`` (log on someone's behalf), ``assignee_id``,
    ``completed_at`` and ``metadata`` (merged over ``cmd.metadata``)."""
    require(actor, "activity:create")
    values: dict[str, Any] = cmd.model_dump()
    extra = dict(extra or {})
    unknown = set(extra) - EXTRA_FIELDS
    if unknown:
        raise AssertionError(f"log_activity cannot set {sorted(unknown)}")
    values["metadata"] = rec.check_metadata({**values["metadata"], **extra.pop("metadata", {})})
    now = clock.now()
    occurred = values["occurred_at"] or now
    is_open = model.starts_open(values["type"], values["due_at"], occurred, now)
    row: dict[str, Any] = {col.name: None for col in COLUMNS}
    row.update({k: v for k, v in values.items() if k in row})
    row.update(id=ids.new("activity"), occurred_at=occurred, actor_id=actor.user_id,
               completed_at=None if is_open else occurred, created_at=now, updated_at=now, version=1)
    if is_open and row["assignee_id"] is None:
        row["assignee_id"] = actor.user_id
    row.update(extra)
    async with uow.transaction(write=True):
        found = await _check_links(uow, actor, row, LINKS)
        for source in ("lead_id", "deal_id"):  # an activity on a lead or deal is also about its contact
            if row["contact_id"] is None and source in found:
                row["contact_id"] = found[source].contact_id
        if row["assignee_id"] is not None:
            await _active_user(uow, actor.org_id, row["assignee_id"], "assignee_id")
        command = hooks.Command("activity.create", actor, None, cmd.model_dump(exclude_unset=True))
        await hooks.run_before(command.verb, row, command)
        await uow.execute(activities.insert(), {**row, "org_id": actor.org_id})
        effects = await _contact_made(uow, actor, row)
        await uow.record(actor.org_id, "activity.created", subject_type="activity", subject_id=row["id"],
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"after": {k: rec.jsonable(v) for k, v in row.items()}, "effects": effects})
        await _tell_assignee(uow, actor, row)
        hooks.run_after(uow, "activity.created", row, command)
    return out(row)


# --- read ----------------------------------------------------------------------------------------

async def get_activity(uow: UnitOfWork, actor: Actor, activity_id: str) -> dict[str, Any]:
    async with uow.transaction():
        row = await _load(uow, actor.org_id, activity_id)
        check_activity(actor, "activity:read", row)
    return out(row)


def _me(actor: Actor, raw: str) -> str:
    return actor.user_id or "" if raw == "me" else raw


def _open(_org: str, raw: str) -> sa.ColumnElement[bool]:
    if raw.lower() not in {"true", "false"}:
        raise ValueError("must be true or false")
    return a.completed_at.is_(None) if raw.lower() == "true" else a.completed_at.is_not(None)


FILTERS: dict[str, f.FilterFn] = {
    "type": f.eq(a.type, choices=model.TYPES),
    "direction": f.eq(a.direction, choices=model.DIRECTIONS),
    "channel": f.eq(a.channel, max_length=50),
    "contact_id": f.eq(a.contact_id, max_length=40),
    "company_id": f.eq(a.company_id, max_length=40),
    "deal_id": f.eq(a.deal_id, max_length=40),
    "lead_id": f.eq(a.lead_id, max_length=40),
    "actor_id": f.eq(a.actor_id, max_length=40),
    "assignee_id": f.eq(a.assignee_id, max_length=40),
    "open": _open,
    "due_after": f.after(a.due_at),
    "due_before": f.before(a.due_at),
    "occurred_after": f.after(a.occurred_at),
    "occurred_before": f.before(a.occurred_at),
}


async def list_activities(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    """Keyset page of the activities the actor may read; ``actor_id=me`` / ``assignee_id=me`` name the
    caller."""
    stmt = sa.select(*COLUMNS).where(a.org_id == actor.org_id, a.deleted_at.is_(None))
    visible = visible_to(actor)
    if visible is not None:
        stmt = stmt.where(visible)
    errors: list[FieldError] = []
    if query.q is not None:
        errors.append(FieldError("q", "activities have no text search; filter by field instead"))
    for name, raw in query.filters.items():
        fn = FILTERS.get(name)
        if fn is None:
            errors.append(FieldError(name, f"unknown filter; filter by one of {sorted(FILTERS)}"))
            continue
        try:
            stmt = stmt.where(fn(actor.org_id, _me(actor, raw) if name in {"actor_id", "assignee_id"} else raw))
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    sort_name, desc = parse_sort(query.sort, SORTABLE)
    stmt = keyset(stmt, sort_col=a[sort_name], id_col=a.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [out(r) for r in await uow.execute(stmt)]
    return page(rows, query, sort_name)


RECORD_TABLES: dict[str, sa.Table] = {resource: table for table, resource in LINKS.values()}


async def check_record_readable(uow: UnitOfWork, actor: Actor, resource: str, record_id: str) -> None:
    """404 unless ``record_id`` is a live ``resource`` record the actor may read."""
    t = RECORD_TABLES[resource].c
    q = sa.select(t.owner_id).where(t.org_id == actor.org_id, t.id == record_id)
    if "deleted_at" in t:
        q = q.where(t.deleted_at.is_(None))
    async with uow.transaction():
        row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"{resource} {record_id!r} does not exist", extra={"id": record_id})
    check_record(actor, f"{resource}:read", row.owner_id, kind=resource, record_id=record_id)


async def activities_of(uow: UnitOfWork, actor: Actor, resource: str, record_id: str, query: ListQuery) -> Page:
    """``GET /<records>/{id}/activities``: the record must be readable; then the list, filtered to it."""
    require(actor, "activity:read")
    await check_record_readable(uow, actor, resource, record_id)
    link = RECORD_LINK[resource]
    if link in query.filters:
        raise ValidationFailed("invalid list parameters", errors=[FieldError(link, "given by the path")])
    return await list_activities(uow, actor, replace(query, filters={**query.filters, link: record_id}))


async def my_tasks(uow: UnitOfWork, actor: Actor, *, limit: int, cursor: str | None) -> Page:
    """The caller's open to-dos, soonest due first, undated last (index ``ix_activities_open_tasks``)."""
    require(actor, "activity:read")
    stmt = sa.select(*COLUMNS).where(a.org_id == actor.org_id, a.assignee_id == (actor.user_id or ""),
                                     a.completed_at.is_(None), a.deleted_at.is_(None))
    return await nullable_page(uow, stmt, col=a.due_at, id_col=a.id, nulls_first=False, sort="due_at",
                               limit=limit, cursor=cursor, out=out)


# --- change --------------------------------------------------------------------------------------

async def update_activity(uow: UnitOfWork, actor: Actor, activity_id: str, patch: ActivityPatch,
                          expected_version: int | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = patch.model_dump(exclude_unset=True)
    nulls = [k for k in NOT_NULL if k in fields and fields[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null", errors=[FieldError(k, "cannot be null") for k in nulls])
    require(actor, "activity:update")
    async with uow.transaction(write=True):
        row = await _load(uow, actor.org_id, activity_id, for_update=True)
        check_activity(actor, "activity:update", row)
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed(f"the activity changed since you read it (version {row.version}, If-Match had "
                                     f"{expected_version})", extra={"current_version": row.version})
        current = dict(row._mapping)
        if "metadata" in fields:
            fields["metadata"] = rec.check_metadata(rec.merge_patch(current["metadata"], fields["metadata"]))
        if "occurred_at" in fields and current["completed_at"] == current["occurred_at"]:
            fields["completed_at"] = fields["occurred_at"]  # a logged fact happened when it occurred
        before, after = rec.diff(current, fields)
        if not after:
            return out(current)
        merged = {**current, **fields}
        changed = [k for k in LINKS if k in after]
        if "contact_id" in after and merged["lead_id"] is not None and "lead_id" not in changed:
            changed.append("lead_id")  # the kept lead must still belong to the new contact
        await _check_links(uow, actor, merged, changed)
        if "assignee_id" in after and merged["assignee_id"] is not None:
            await _active_user(uow, actor.org_id, merged["assignee_id"], "assignee_id")
        command = hooks.Command("activity.update", actor, activity_id, patch.model_dump(exclude_unset=True))
        await hooks.run_before(command.verb, current, command)
        values = {k: fields[k] for k in after}
        values.update(updated_at=clock.now(), version=row.version + 1)
        res = await uow.execute(activities.update().where(a.org_id == actor.org_id, a.id == activity_id,
                                                          a.version == row.version).values(**values))
        if res.rowcount != 1:
            raise PreconditionFailed("the activity changed while you were updating it")
        current.update(values)
        effects = {}
        if {"type", "direction", "contact_id", "lead_id", "occurred_at"} & set(after):
            effects = await _contact_made(uow, actor, current)
        await uow.record(actor.org_id, "activity.updated", subject_type="activity", subject_id=activity_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"before": before, "after": after, "effects": effects})
        if "assignee_id" in after:
            await _tell_assignee(uow, actor, current)
        hooks.run_after(uow, "activity.updated", current, command)
    return out(current)


async def complete_activity(uow: UnitOfWork, actor: Actor, activity_id: str, outcome: str | None = None
                            ) -> dict[str, Any]:
    """open → completed (409 when already complete). A workflow task (``metadata.workflow_id``) tells
    its workflow in the same transaction."""
    require(actor, "activity:update")
    async with uow.transaction(write=True):
        row = await _load(uow, actor.org_id, activity_id, for_update=True)
        check_activity(actor, "activity:update", row)
        model.assert_status_change_allowed(model.status_of(row.completed_at), "completed")
        current = dict(row._mapping)
        command = hooks.Command("activity.complete", actor, activity_id, {"outcome": outcome})
        await hooks.run_before(command.verb, current, command)
        now = clock.now()
        values: dict[str, Any] = {"completed_at": now, "updated_at": now, "version": row.version + 1}
        if outcome is not None:
            values["outcome"] = outcome
        res = await uow.execute(activities.update().where(a.org_id == actor.org_id, a.id == activity_id,
                                                          a.version == row.version).values(**values))
        if res.rowcount != 1:
            raise PreconditionFailed("the activity changed while you were completing it")
        before = {"completed_at": None, "outcome": current["outcome"]}
        current.update(values)
        effects = await _contact_made(uow, actor, current)
        await uow.record(actor.org_id, "activity.completed", subject_type="activity", subject_id=activity_id,
                         actor_id=actor.id, actor_type=actor.kind, data={
                             "before": before, "effects": effects,
                             "after": {"completed_at": now.isoformat(), "outcome": current["outcome"]}})
        result = out(current)
        if isinstance(current["metadata"], dict) and current["metadata"].get("workflow_id"):
            await _tell_workflow(uow, actor, result)
        hooks.run_after(uow, "activity.completed", current, command)
    return result


async def _tell_workflow(uow: UnitOfWork, actor: Actor, activity: dict[str, Any]) -> None:
    """A workflow task was completed: its workflow decides (same transaction) whether a stage ends."""
    try:
        from kith.workflows import service as workflows
    except ModuleNotFoundError as exc:  # TODO(workflows): drop once kith.workflows.service has landed
        if exc.name != "kith.workflows.service":
            raise
        return
    task_completed = getattr(workflows, "task_completed", None)
    if task_completed is not None:  # TODO(workflows): likewise, until task_completed exists
        await task_completed(uow, actor, activity)


async def delete_activity(uow: UnitOfWork, actor: Actor, activity_id: str, expected_version: int | None = None
                          ) -> None:
    """Hide the activity from every read (kept as history; there is no restore)."""
    require(actor, "activity:delete")
    async with uow.transaction(write=True):
        row = await _load(uow, actor.org_id, activity_id, for_update=True)
        check_activity(actor, "activity:delete", row)
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed("the activity changed since you read it", extra={"current_version": row.version})
        current = dict(row._mapping)
        command = hooks.Command("activity.delete", actor, activity_id, {})
        await hooks.run_before(command.verb, current, command)
        await uow.execute(activities.update().where(a.org_id == actor.org_id, a.id == activity_id)
                          .values(deleted_at=clock.now(), version=row.version + 1))
        refs = tuple(current[k] for k in LINKS if current[k] is not None)
        await uow.record(actor.org_id, "activity.deleted", subject_type="activity", subject_id=activity_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=refs, data={
                             "before": {k: rec.jsonable(current[k]) for k in (
                                 "type", "subject", "occurred_at", "actor_id", "assignee_id", *LINKS)}})
        hooks.run_after(uow, "activity.deleted", current, command)
