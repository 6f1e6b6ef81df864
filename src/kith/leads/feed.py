"""The seed 002 leads feed: ``POST /api/v1/leads`` and ``POST /api/v1/leads/batch``.

Invariants:
- ``external_key`` is the feed's key, unique per org. A lead sent with a key that is already
  stored (or earlier in the same batch) updates that lead's feed fields instead of creating a
  second one; a resend that changes nothing writes nothing. A resend never changes the lead's
  contact, status or owner.
- A new lead names its person either by ``contact_id`` (a live contact of the org) or by contact
  details matched by email (case-insensitive) or created as a new contact, owned by the lead's owner.
- One request is one transaction. An item that is refused (invalid, unknown contact, forbidden
  owner, vetoed by a hook) writes nothing of its own; the other items are written.
- Set-based: whatever the batch size, a batch costs a fixed number of statements (bulk lookups of
  the keys, contacts and owners it names; one executemany per table written), never one per lead.
- Two concurrent requests with the same new key or email (PostgreSQL: both saw nothing, one loses
  on the unique index) are settled by running the loser again: it then finds the winner's rows
  and updates. SQLite writers are serialised, so they never race.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError

from kith.auth.access import can, require
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.contacts import dedupe
from kith.contacts.schemas import ContactCreate
from kith.contacts.service import KIND as CONTACT
from kith.contacts.tables import contacts
from kith.core import clock, hooks, ids
from kith.core.errors import Conflict, FieldError, Forbidden, KithError, ValidationFailed, invalid
from kith.core.uow import UnitOfWork
from kith.leads.schemas import FeedContact, LeadCreate
from kith.leads.service import LEAD_OUT
from kith.leads.tables import leads
from kith.notifications.service import notify
from kith.orgs.tables import users
from kith.records import service as rec

# A request that loses a race on a unique index is run again; the second run sees the winner's rows.
MAX_ATTEMPTS = 4
# Ids per ``IN (…)`` list: far below SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
CHUNK = 1000

FEED_FIELDS = ("title", "source", "score", "source_url", "channel", "listing_ref", "payload")
NOT_NULL = frozenset({"title", "score", "payload"})  # a feed's null here means "not sent"
t = leads.c


@dataclass
class Item:
    """One lead of a request and what became of it."""

    index: int
    cmd: LeadCreate | None
    error: KithError | None = None
    status: str = "error"  # created | updated | error
    lead: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        if self.error is not None:
            problem = self.error.problem()
            out: dict[str, Any] = {"index": self.index, "status": "error", "code": self.error.code,
                                   "detail": self.error.detail}
            if problem.get("errors"):
                out["errors"] = problem["errors"]
            elif "field" in self.error.extra:
                out["errors"] = [{"field": self.error.extra["field"], "message": self.error.detail}]
            return out
        assert self.lead is not None
        return {"index": self.index, "status": self.status, "id": self.lead["id"]}


# --- parsing -----------------------------------------------------------------------------------------

def _field(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc) or "lead"  # the item itself (not an object)


_LEADS = TypeAdapter(list[LeadCreate])


def _item(i: int, body: Any) -> Item:
    try:
        cmd = LeadCreate.model_validate(body)
        if cmd.payload:
            rec.check_metadata(cmd.payload, "payload")
        return Item(i, cmd)
    except ValidationError as exc:
        errors = [FieldError(_field(e["loc"]), e["msg"]) for e in exc.errors()]
        return Item(i, None, ValidationFailed("invalid lead", errors=errors))
    except KithError as exc:
        return Item(i, None, exc)


def parse(raw: list[Any]) -> list[Item]:
    """Validate each lead on its own, so a bad one is reported instead of refusing the batch. The
    whole batch goes through one validator call (a feed's batches are usually all good); only when
    that finds a bad lead is each lead validated alone, for its own errors."""
    try:
        cmds = _LEADS.validate_python(raw)
    except ValidationError:
        return [_item(i, body) for i, body in enumerate(raw)]
    items = []
    for i, cmd in enumerate(cmds):
        try:
            if cmd.payload:
                rec.check_metadata(cmd.payload, "payload")
            items.append(Item(i, cmd))
        except KithError as exc:
            items.append(Item(i, None, exc))
    return items


# --- entry points ------------------------------------------------------------------------------------

async def create_lead(uow: UnitOfWork, actor: Actor, cmd: LeadCreate) -> tuple[dict[str, Any], bool]:
    """Create a lead, or update the one ``external_key`` names. Returns ``(lead, created)``."""
    if cmd.payload:
        rec.check_metadata(cmd.payload, "payload")
    (item,) = await upsert(uow, actor, [Item(0, cmd)])
    if item.error is not None:
        raise item.error
    assert item.lead is not None
    return item.lead, item.status == "created"


async def upsert_batch(uow: UnitOfWork, actor: Actor, raw: list[Any]) -> dict[str, Any]:
    """Up to 1,000 leads in one transaction, with a result per lead (its index, created / updated /
    error and the error's fields)."""
    items = await upsert(uow, actor, parse(raw))
    counts = {"created": 0, "updated": 0, "error": 0}
    for it in items:
        counts[it.status] += 1
    return {"created": counts["created"], "updated": counts["updated"], "failed": counts["error"],
            "results": [it.result() for it in items]}


async def upsert(uow: UnitOfWork, actor: Actor, items: list[Item]) -> list[Item]:
    require(actor, "lead:create")
    for attempt in range(MAX_ATTEMPTS):
        run = [Item(it.index, it.cmd, it.error) for it in items]
        try:
            async with uow.transaction(write=True):
                await _Upsert(uow, actor).run(run)
            return run
        except Conflict as exc:
            if not isinstance(exc.__cause__, IntegrityError) or attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# --- the set-based upsert ----------------------------------------------------------------------------

# The verbs and events whose hooks see a feed's writes (kith.core.hooks).
_HOOK_NAMES = ("lead.create", "lead.created", "lead.updated", "contact.create", "contact.created")
FEED_CONTACT_FIELDS = tuple(FeedContact.model_fields)
# A new contact's row before its own values: every column empty, then ContactCreate's defaults.
_CONTACT_TEMPLATE: dict[str, Any] = {c.name: None for c in CONTACT.columns}
_CONTACT_TEMPLATE.update({k: f.get_default(call_default_factory=True) for k, f in ContactCreate.model_fields.items()
                          if k in _CONTACT_TEMPLATE and not f.is_required()})
_CONTACT_TEMPLATE["custom_fields"] = {}
_MUTABLE_DEFAULTS = tuple(k for k, v in _CONTACT_TEMPLATE.items() if isinstance(v, dict | list))


def new_contact_row(person: FeedContact, source: str | None, owner: str | None) -> dict[str, Any]:
    """The columns of the contact a feed lead creates for ``person`` (no id, times or version yet):
    what ``ContactCreate`` makes of the person's fields, the lead's source and owner, without
    validating again what ``FeedContact`` has validated with the same field types (a test keeps
    the two in step)."""
    row = _CONTACT_TEMPLATE.copy()
    for k in _MUTABLE_DEFAULTS:
        row[k] = copy.copy(row[k])
    for k in FEED_CONTACT_FIELDS:
        v = getattr(person, k)
        if v is not None:
            row[k] = v
    if row["name"] is None:
        row["name"] = person.email.split("@")[0][:200]
    row["source"], row["owner_id"] = source, owner
    return row


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    vals = sorted(set(values))
    for i in range(0, len(vals), CHUNK):
        yield vals[i:i + CHUNK]


@dataclass
class _Writes:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # lead id -> final row
    events: list[dict[str, Any]] = field(default_factory=list)
    assigned: list[dict[str, Any]] = field(default_factory=list)
    after: list[tuple[str, dict[str, Any], hooks.Command]] = field(default_factory=list)


class _Upsert:
    def __init__(self, uow: UnitOfWork, actor: Actor) -> None:
        self.uow, self.actor, self.org = uow, actor, actor.org_id
        self.now = clock.now()
        self.w = _Writes()
        self.by_key: dict[str, dict[str, Any]] = {}
        self.stored: set[str] = set()  # ids of leads read from the database (not created here)
        self.contact_ids: dict[str, dict[str, Any]] = {}
        self.contact_emails: dict[str, dict[str, Any]] = {}
        self.owners: set[str] = set()
        self.may_reassign = grant(actor.roles, "lead:reassign") is Grant.ALL
        self.may_create_contacts = grant(actor.roles, "contact:create") is not Grant.NONE
        # A hook's Command carries a dump of the request: made only when some hook will see it.
        self.hooked = {name: bool(hooks.registered(name)) for name in _HOOK_NAMES}

    async def run(self, items: list[Item]) -> None:
        todo = [it for it in items if it.cmd is not None and it.error is None]
        await self._look_up([it.cmd for it in todo if it.cmd is not None])
        for it in todo:
            assert it.cmd is not None
            try:
                key = it.cmd.external_key
                if key is not None and key in self.by_key:
                    it.lead, it.status = self._update(self.by_key[key], it.cmd), "updated"
                else:
                    it.lead, it.status = await self._create(it.cmd), "created"
                    if key is not None:
                        self.by_key[key] = it.lead
            except KithError as exc:
                it.error = exc
        await self._flush()

    # lookups: one query per kind of thing the batch names, whatever its size
    async def _look_up(self, cmds: list[LeadCreate]) -> None:
        uow, org = self.uow, self.org
        for chunk in _chunks(c.external_key for c in cmds if c.external_key):
            q = sa.select(*LEAD_OUT).where(t.org_id == org, t.external_key.in_(chunk))
            if uow.backend == "postgresql":
                q = q.with_for_update()
            for r in await uow.execute(q):
                self.by_key[r.external_key] = dict(r._mapping)
                self.stored.add(r.id)
        new = [c for c in cmds if c.external_key is None or c.external_key not in self.by_key]
        cc = contacts.c
        live = (cc.org_id == org, cc.deleted_at.is_(None))
        for chunk in _chunks(c.contact_id for c in new if c.contact_id):
            for r in await uow.execute(sa.select(cc.id, cc.name, cc.email).where(*live, cc.id.in_(chunk))):
                self.contact_ids[r.id] = dict(r._mapping)
        for chunk in _chunks(c.contact.email for c in new if c.contact):
            for r in await uow.execute(sa.select(cc.id, cc.name, cc.email).where(*live, cc.email.in_(chunk))):
                self.contact_emails[r.email] = dict(r._mapping)
        u = users.c
        for chunk in _chunks(c.owner_id for c in new if c.owner_id and c.owner_id != self.actor.user_id):
            q = sa.select(u.id).where(u.org_id == org, u.is_active.is_(True), u.id.in_(chunk))
            self.owners.update((await uow.execute(q)).scalars())

    def _event(self, type_: str, subject_type: str, subject_id: str, data: dict[str, Any],
               refs: tuple[str, ...] = ()) -> None:
        self.w.events.append({"type": type_, "subject_type": subject_type, "subject_id": subject_id,
                              "data": data, "refs": refs})

    def _update(self, lead: dict[str, Any], cmd: LeadCreate) -> dict[str, Any]:
        if lead["id"] in self.stored and not can(self.actor, "lead:read", lead["owner_id"]):
            raise Conflict("external_key names a lead you may not change", extra={"field": "external_key"})
        sent = {k: getattr(cmd, k) for k in FEED_FIELDS if k in cmd.model_fields_set}
        values = {k: v for k, v in sent.items() if not (v is None and k in NOT_NULL)}
        before, after = rec.diff(lead, values)
        if not after:
            return lead
        lead.update({k: values[k] for k in after}, updated_at=self.now)
        if lead["id"] in self.stored:
            if lead["id"] not in self.w.updates:
                lead["version"] += 1  # once per request, however often the batch repeats the key
            self.w.updates[lead["id"]] = lead
        self._event("lead.updated", "lead", lead["id"], {"before": before, "after": after, "via": "feed"},
                    (lead["contact_id"],))
        if self.hooked["lead.updated"]:
            self.w.after.append(("lead.updated", lead, hooks.Command("lead.create", self.actor, lead["id"], sent)))
        return lead

    def _owner(self, cmd: LeadCreate) -> str | None:
        owner = cmd.owner_id or self.actor.user_id
        if owner == self.actor.user_id:
            return owner
        if not self.may_reassign:
            raise Forbidden("only a manager may give a new lead to another user",
                            extra={"permission": "lead:reassign", "field": "owner_id"})
        if owner not in self.owners:
            raise invalid("owner_id", f"no active user {owner!r} in this org")
        return owner

    def _contact(self, cmd: LeadCreate, owner: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The lead's contact, and the new contact row when one has to be created."""
        if cmd.contact_id is not None:
            found = self.contact_ids.get(cmd.contact_id)
            if found is None:
                raise invalid("contact_id", f"no contact {cmd.contact_id!r} in this org")
            return found, None
        assert cmd.contact is not None
        found = self.contact_emails.get(cmd.contact.email)
        if found is not None:
            return found, None
        if not self.may_create_contacts:
            raise Forbidden("your role does not allow contact:create (the lead's contact is new)",
                            extra={"permission": "contact:create", "field": "contact"})
        row = new_contact_row(cmd.contact, cmd.source, owner)
        row.update(id=ids.new("contact"), created_at=self.now, updated_at=self.now, version=1)
        return {"id": row["id"], "name": row["name"], "email": row["email"]}, row

    async def _create(self, cmd: LeadCreate) -> dict[str, Any]:
        owner = self._owner(cmd)
        contact, new_contact = self._contact(cmd, owner)
        title = cmd.title or (f"{contact['name']} ({cmd.source})" if cmd.source else contact["name"])
        lead: dict[str, Any] = {c.name: None for c in LEAD_OUT}
        lead.update({k: v for k in FEED_FIELDS if (v := getattr(cmd, k)) is not None})
        lead.update(id=ids.new("lead"), contact_id=contact["id"], title=title[:200], owner_id=owner, status="new",
                    score=cmd.score or 0, payload=cmd.payload or {}, external_key=cmd.external_key,
                    created_at=self.now, updated_at=self.now, version=1)
        # Before-hooks may veto this lead (and its new contact) only; nothing of it is queued yet.
        hooked = self.hooked
        command = None
        if hooked["lead.create"] or hooked["lead.created"]:
            command = hooks.Command("lead.create", self.actor, None, cmd.model_dump(exclude_unset=True))
            await hooks.run_before(command.verb, lead, command)
        if new_contact is not None:
            if hooked["contact.create"] or hooked["contact.created"]:
                contact_cmd = hooks.Command("contact.create", self.actor, None, dict(contact))
                await hooks.run_before(contact_cmd.verb, new_contact, contact_cmd)
                self.w.after.append(("contact.created", new_contact, contact_cmd))
            self.contact_emails[new_contact["email"]] = contact
            self.w.contacts.append({"org_id": self.org, **new_contact, **dedupe.keys(new_contact)})
            self._event("contact.created", "contact", new_contact["id"], {"after": dict(new_contact),
                                                                          "via": "lead.create"})
        self.w.inserts.append(lead)
        self._event("lead.created", "lead", lead["id"], {"after": dict(lead), "via": "feed"}, (lead["contact_id"],))
        if owner is not None and owner != self.actor.user_id:
            self.w.assigned.append(lead)
        if command is not None:
            self.w.after.append(("lead.created", lead, command))
        return lead

    async def _flush(self) -> None:
        w, uow = self.w, self.uow
        await uow.insert(contacts, w.contacts)
        await uow.insert(leads, [{"org_id": self.org, **r} for r in w.inserts])
        if w.updates:
            cols = (*FEED_FIELDS, "updated_at", "version")
            stmt = (leads.update().where(t.org_id == sa.bindparam("b_org"), t.id == sa.bindparam("b_id"))
                    .values({c: sa.bindparam(f"b_{c}") for c in cols}))
            await uow.execute(stmt, [{"b_org": self.org, "b_id": r["id"], **{f"b_{c}": r[c] for c in cols}}
                                     for r in w.updates.values()])
        for e in w.events:  # buffered by the unit of work, written as one multi-row insert
            await uow.record(self.org, e["type"], subject_type=e["subject_type"], subject_id=e["subject_id"],
                             actor_id=self.actor.id, actor_type=self.actor.kind, data=e["data"], refs=e["refs"])
        for lead in w.assigned:
            await notify(uow, self.org, lead["owner_id"], "lead.assigned", f"Lead assigned to you: {lead['title']}",
                         subject_type="lead", subject_id=lead["id"], data={"lead_id": lead["id"], "by": self.actor.id})
        for event, row, cmd in w.after:
            hooks.run_after(uow, event, row, cmd)
