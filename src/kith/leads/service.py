"""Lead use cases: read, list, patch, delete, the state-machine verbs and reassign.

Every verb is one transaction: load (and on PostgreSQL lock) the lead, decide the actor's grant
through ``kith.auth.access`` (a rep's grants are own-only: another rep's lead is 404 to read and
to write, a visible one they do not own is 403), apply the machine of ``kith.leads.model`` (409),
then its rules (422 with ``rule``), and only then write the row and the verb's event. A refusal
leaves nothing written. The feed (create/upsert/batch) lives in ``kith.leads.feed``, conversion in
``kith.leads.convert``; ``open_lead``/``open_lead_for`` serve the contact ``capture`` verb.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import check_record, require, visible_owner_ids
from kith.auth.model import Actor
from kith.core import clock, hooks, ids
from kith.core.errors import Conflict, FieldError, NotFound, PreconditionFailed, ValidationFailed, invalid
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.leads import model
from kith.leads.schemas import NOT_NULL, LeadPatch
from kith.leads.tables import leads
from kith.notifications.service import notify
from kith.orgs.schemas import OrgSettings
from kith.orgs.tables import orgs, users
from kith.records import filters as f
from kith.records import service as rec

LEAD_OUT = [c for c in leads.c if c.name != "org_id"]
t = leads.c

# A lead in one of these statuses is still being worked: a new capture from the same source joins it.
OPEN = ("new", "contacted", "qualified")

SORTABLE = ("created_at", "updated_at", "score", "title", "id")
FILTERS: dict[str, f.FilterFn] = {
    "status": f.eq(t.status, choices=model.STATUSES),
    "owner_id": f.eq(t.owner_id, max_length=40),
    "contact_id": f.eq(t.contact_id, max_length=40),
    "source": f.eq(t.source, max_length=100),
    "channel": f.eq(t.channel, max_length=50),
    "external_key": f.eq(t.external_key, max_length=200),
    "created_after": f.after(t.created_at),
    "created_before": f.before(t.created_at),
    "updated_after": f.after(t.updated_at),
    "updated_before": f.before(t.updated_at),
}


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: rec.jsonable(v) for k, v in row.items()}


async def record(uow: UnitOfWork, actor: Actor, type_: str, lead: dict[str, Any], data: dict[str, Any],
                 refs: tuple[str, ...] = ()) -> None:
    """One lead event, indexed under the lead, its contact and ``refs``."""
    await uow.record(actor.org_id, type_, subject_type="lead", subject_id=lead["id"], actor_id=actor.id,
                     actor_type=actor.kind, refs=(lead["contact_id"], *refs), data=data)


async def lead_threshold(uow: UnitOfWork, org_id: str) -> int:
    raw = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one()
    return OrgSettings.model_validate(raw).lead_qualify_score_threshold


async def active_user(uow: UnitOfWork, org_id: str, user_id: str) -> None:
    q = sa.select(users.c.id).where(users.c.org_id == org_id, users.c.id == user_id, users.c.is_active.is_(True))
    if (await uow.execute(q)).first() is None:
        raise invalid("owner_id", f"no active user {user_id!r} in this org")


# --- access ------------------------------------------------------------------------------------------

async def load(uow: UnitOfWork, org_id: str, lead_id: str, *, for_update: bool = False) -> dict[str, Any]:
    q = sa.select(*LEAD_OUT).where(t.org_id == org_id, t.id == lead_id)
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"lead {lead_id!r} does not exist", extra={"id": lead_id})
    return dict(row._mapping)


async def access_lead(uow: UnitOfWork, actor: Actor, lead_id: str, permission: str, *, for_update: bool = False
                      ) -> dict[str, Any]:
    """The lead, once ``permission`` is granted on it: 404 when absent or invisible, 403 when visible
    but not the actor's to change."""
    require(actor, permission)
    lead = await load(uow, actor.org_id, lead_id, for_update=for_update)
    check_record(actor, permission, lead["owner_id"], kind="lead", record_id=lead_id)
    return lead


async def write(uow: UnitOfWork, actor: Actor, lead: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Write ``values`` to a lead read in this transaction; bumps its version."""
    values = {**values, "updated_at": clock.now(), "version": lead["version"] + 1}
    res = await uow.execute(leads.update().where(t.org_id == actor.org_id, t.id == lead["id"],
                                                 t.version == lead["version"]).values(**values))
    if res.rowcount != 1:  # a concurrent writer won the race between our read and write
        raise PreconditionFailed("the lead changed while this verb ran; try again")
    return {**lead, **values}


# --- read --------------------------------------------------------------------------------------------

async def get_lead(uow: UnitOfWork, actor: Actor, lead_id: str) -> dict[str, Any]:
    async with uow.transaction():
        return await access_lead(uow, actor, lead_id, "lead:read")


async def list_leads(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    """Keyset pages of the leads the actor may read; ``q`` matches title, external key or listing ref."""
    owners = visible_owner_ids(actor, "lead")
    stmt = sa.select(*LEAD_OUT).where(t.org_id == actor.org_id)
    if owners is not None:
        stmt = stmt.where(t.owner_id.in_(sorted(owners)))
    errors: list[FieldError] = []
    for name, raw in query.filters.items():
        fn = FILTERS.get(name)
        if fn is None:
            errors.append(FieldError(name, f"unknown filter; filter by one of {sorted(FILTERS)}"))
            continue
        try:
            stmt = stmt.where(fn(actor.org_id, raw))
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    if query.q is not None:
        like = "%" + query.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(sa.func.lower(t.title).like(like, escape="\\"), t.external_key == query.q,
                                 t.listing_ref == query.q))
    # With ``q`` the default sort is "relevance": for leads, newest first.
    sort_name, desc = ("created_at", True) if query.sort == "relevance" else parse_sort(query.sort, SORTABLE)
    stmt = keyset(stmt, sort_col=t[sort_name], id_col=t.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    return page(rows, query, sort_name)


# --- patch / delete ----------------------------------------------------------------------------------

async def update_lead(uow: UnitOfWork, actor: Actor, lead_id: str, patch: LeadPatch,
                      expected_version: int | None = None) -> dict[str, Any]:
    fields = patch.model_dump(exclude_unset=True)
    nulls = [k for k in NOT_NULL if k in fields and fields[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null", errors=[FieldError(k, "cannot be null") for k in nulls])
    if "payload" in fields:
        rec.check_metadata(fields["payload"], "payload")
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:update", for_update=True)
        if expected_version is not None and expected_version != lead["version"]:
            raise PreconditionFailed(f"the lead changed since you read it (version {lead['version']}, If-Match "
                                     f"had {expected_version})", extra={"current_version": lead["version"]})
        before, after = rec.diff(lead, fields)
        if not after:
            return lead
        if "external_key" in after and after["external_key"] is not None:
            await _key_free(uow, actor.org_id, after["external_key"], lead_id)
        lead = await write(uow, actor, lead, {k: fields[k] for k in after})
        await record(uow, actor, "lead.updated", lead, {"before": before, "after": after})
    return lead


async def _key_free(uow: UnitOfWork, org_id: str, key: str, lead_id: str) -> None:
    q = sa.select(t.id).where(t.org_id == org_id, t.external_key == key, t.id != lead_id)
    other = (await uow.execute(q)).first()
    if other is not None:
        raise Conflict(f"another lead has external_key {key!r}", extra={"field": "external_key"})


async def delete_lead(uow: UnitOfWork, actor: Actor, lead_id: str, expected_version: int | None = None) -> None:
    """Erase a lead (lead:delete). Its deal, if converted, stays."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:delete", for_update=True)
        if expected_version is not None and expected_version != lead["version"]:
            raise PreconditionFailed("the lead changed since you read it", extra={"current_version": lead["version"]})
        await uow.execute(leads.delete().where(t.org_id == actor.org_id, t.id == lead_id))
        await record(uow, actor, "lead.deleted", lead, {"before": jsonable(lead)})


# --- the machine's verbs -----------------------------------------------------------------------------

async def move(uow: UnitOfWork, actor: Actor, lead: dict[str, Any], verb: str,
                extra: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                refs: tuple[str, ...] = ()) -> dict[str, Any]:
    target, event = model.VERBS[verb]
    values = {"status": target, **(extra or {})}
    before = {k: rec.jsonable(lead[k]) for k in values}
    lead = await write(uow, actor, lead, values)
    await record(uow, actor, event, lead,
                 {"before": before, "after": {k: rec.jsonable(v) for k, v in values.items()}, **(data or {})},
                 refs)
    return lead


async def mark_contacted_lead(uow: UnitOfWork, actor: Actor, lead_id: str) -> dict[str, Any]:
    """new → contacted (lead:update)."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:update", for_update=True)
        model.assert_status_change_allowed(lead["status"], "contacted")
        return await move(uow, actor, lead, "contacted", data={"activity_id": None})


async def qualify_lead(uow: UnitOfWork, actor: Actor, lead_id: str) -> dict[str, Any]:
    """contacted → qualified (lead:qualify) when the score meets the org's
    ``lead_qualify_score_threshold`` (rule ``lead-qualify-score-threshold``)."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:qualify", for_update=True)
        model.assert_status_change_allowed(lead["status"], "qualified")
        threshold = await lead_threshold(uow, actor.org_id)
        model.assert_can_qualify(lead["score"], threshold)
        return await move(uow, actor, lead, "qualify", data={"score": lead["score"], "threshold": threshold})


async def disqualify_lead(uow: UnitOfWork, actor: Actor, lead_id: str, reason: str | None) -> dict[str, Any]:
    """new|contacted|qualified → disqualified (lead:disqualify); a reason is required."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:disqualify", for_update=True)
        model.assert_status_change_allowed(lead["status"], "disqualified")
        text = model.disqualification_reason(reason)
        return await move(uow, actor, lead, "disqualify", {"disqualification_reason": text}, {"reason": text})


async def reopen_lead(uow: UnitOfWork, actor: Actor, lead_id: str) -> dict[str, Any]:
    """disqualified → new (lead:update); the reason is cleared."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:update", for_update=True)
        model.assert_status_change_allowed(lead["status"], "new")
        return await move(uow, actor, lead, "reopen", {"disqualification_reason": None})


async def reassign_lead(uow: UnitOfWork, actor: Actor, lead_id: str, owner_id: str) -> dict[str, Any]:
    """Give the lead to another active user (lead:reassign) and tell them. Same owner: no change."""
    async with uow.transaction(write=True):
        lead = await access_lead(uow, actor, lead_id, "lead:reassign", for_update=True)
        await active_user(uow, actor.org_id, owner_id)
        if owner_id == lead["owner_id"]:
            return lead
        before = lead["owner_id"]
        lead = await write(uow, actor, lead, {"owner_id": owner_id})
        await record(uow, actor, "lead.updated", lead,
                     {"verb": "reassign", "before": {"owner_id": before}, "after": {"owner_id": owner_id}})
        if owner_id != actor.user_id:
            await notify(uow, actor.org_id, owner_id, "lead.assigned", f"Lead assigned to you: {lead['title']}",
                         subject_type="lead", subject_id=lead_id, data={"lead_id": lead_id, "by": actor.id})
    return lead


async def mark_contacted(uow: UnitOfWork, actor: Actor, lead_id: str, *, activity_id: str | None = None) -> None:
    """A ``new`` lead becomes ``contacted`` because an outbound activity was logged on it (seed 002).
    Joins the caller's transaction; the caller has already decided the actor may log that activity,
    so no lead permission is asked here. Any other status (or an unknown id): nothing happens."""
    async with uow.transaction(write=True):
        now = clock.now()
        res = await uow.execute(
            leads.update().where(t.org_id == actor.org_id, t.id == lead_id, t.status == "new")
            .values(status="contacted", updated_at=now, version=t.version + 1)
            .returning(t.contact_id))
        contact_id = res.scalar_one_or_none()
        if contact_id is None:
            return
        await uow.record(actor.org_id, "lead.contacted", subject_type="lead", subject_id=lead_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(contact_id,),
                         data={"before": {"status": "new"}, "after": {"status": "contacted"},
                               "activity_id": activity_id})


# --- for the contact capture verb ---------------------------------------------------------------------

async def open_lead_for(uow: UnitOfWork, org_id: str, contact_id: str, source: str | None) -> dict[str, Any] | None:
    """The contact's oldest open lead from ``source``, if any. The caller holds the contact's lock."""
    q = (sa.select(*LEAD_OUT).where(t.org_id == org_id, t.contact_id == contact_id, t.status.in_(OPEN),
                                    t.source.is_(None) if source is None else t.source == source)
         .order_by(t.created_at, t.id).limit(1))
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


async def open_lead(uow: UnitOfWork, actor: Actor, contact_id: str, title: str, source: str | None, *,
                    owner_id: str | None = None, score: int = 0) -> dict[str, Any]:
    """A new lead (status ``new``) for ``contact_id``, owned by ``owner_id`` (default: the actor).
    The caller has checked the contact exists in the actor's org; this checks ``lead:create`` and
    runs the ``lead.create`` before-hooks and ``lead.created`` after-hooks."""
    require(actor, "lead:create")
    now = clock.now()
    row: dict[str, Any] = {c.name: None for c in LEAD_OUT}
    row.update(id=ids.new("lead"), contact_id=contact_id, title=title[:200], source=source,
               owner_id=owner_id or actor.user_id, status="new", score=score, payload={},
               created_at=now, updated_at=now, version=1)
    cmd = hooks.Command("lead.create", actor, None, {"contact_id": contact_id, "title": row["title"],
                                                     "source": source})
    async with uow.transaction(write=True):
        await hooks.run_before(cmd.verb, row, cmd)
        await uow.execute(leads.insert(), {"org_id": actor.org_id, **row})
        await record(uow, actor, "lead.created", row, {"after": jsonable(row)})
        hooks.run_after(uow, "lead.created", row, cmd)
    return row
