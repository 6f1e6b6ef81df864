"""Widget sync (seed 000): identify a visitor, link contact and companies, set deal value and stage.

Invariants:
- One contact per email per org, even under concurrent identify calls: on SQLite writers are
  serialised; on PostgreSQL the partial unique index refuses the second insert and the whole
  identify transaction is retried, then finds the contact the winner created.
- A contact always has at least one company once identified: a placeholder when nothing real is
  known; linking a real company unlinks the placeholder and deletes it when no contact uses it.
- Widget stage writes never move a company backward unless ``mode="exact"``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kith.auth.model import Actor
from kith.companies.schemas import normalise_domain
from kith.companies.service import canonical_stage
from kith.companies.tables import companies
from kith.contacts import dedupe
from kith.contacts.service import KIND as CONTACT
from kith.contacts.service import companies_of
from kith.contacts.tables import contact_companies, contacts
from kith.core import clock, ids
from kith.core.db import Database, Prepared
from kith.core.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid
from kith.core.uow import UnitOfWork
from kith.pipelines.repo import company_stage_names
from kith.records import service as rec
from kith.records.tables import record_tags
from kith.visitors.schemas import CompanyIn, IdentifyIn, SetDealIn, SetStageIn
from kith.visitors.tables import visitors

# A lost race on a unique key (PostgreSQL, several processes) is retried this many times; each
# retry sees the winner's committed row, so two attempts settle every race we know of.
MAX_ATTEMPTS = 4

COMPANY_OUT = [c for c in companies.c if c.name not in {"org_id", "deleted_at"}]
CONTACT_OUT = CONTACT.columns
VISITOR_OUT = [c for c in visitors.c if c.name != "org_id"]


def widget_actor(org_id: str) -> Actor:
    return Actor(org_id=org_id, user_id=None, roles=frozenset(), kind="widget")


async def _retrying(db: Database, fn: Any, *args: Any) -> Any:
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await fn(UnitOfWork(db), *args)
        except Conflict as exc:
            if not isinstance(exc.__cause__, IntegrityError) or attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def identify(db: Database, org_id: str, cmd: IdentifyIn) -> dict[str, Any]:
    unchanged = await _unchanged_returning(db, org_id, cmd)
    if unchanged is not None:
        return unchanged
    result: dict[str, Any] = await _retrying(db, _identify, org_id, cmd)
    return result


async def set_deal(db: Database, org_id: str, cmd: SetDealIn) -> dict[str, Any]:
    result: dict[str, Any] = await _retrying(db, _set_company_fields, org_id, cmd)
    return result


async def set_stage(db: Database, org_id: str, cmd: SetStageIn) -> dict[str, Any]:
    result: dict[str, Any] = await _retrying(db, _set_company_fields, org_id, cmd)
    return result


# --- identify ----------------------------------------------------------------------------------
# Identify runs on every page load of an identified visitor, so it is built from prepared
# statements (kith.core.db.Prepared) and does as little as the call needs:
# - a returning visitor that brings nothing new is a pure read (no write lock, no event): the
#   visitor, its contact and its company links, three indexed reads;
# - ``last_seen_at`` is written at most once per ``LAST_SEEN_GRANULARITY`` (or with a real change);
# - ``visitor.identified`` is recorded only when the call changed something;
# - a new visitor is inserted once, already linked (no insert-then-update), and what was just
#   written is answered from memory instead of read back.

LAST_SEEN_GRANULARITY = timedelta(minutes=5)

_v, _c, _cc, _co = visitors.c, contacts.c, contact_companies.c, companies.c
_VISITOR = Prepared(sa.select(*VISITOR_OUT).where(_v.org_id == sa.bindparam("org_id"),
                                                  _v.visitor_id == sa.bindparam("visitor_id")))
_CONTACT = Prepared(sa.select(*CONTACT_OUT).where(_c.org_id == sa.bindparam("org_id"), _c.id == sa.bindparam("id"),
                                                  _c.deleted_at.is_(None)))


def _contact_by_col(col: sa.Column[Any]) -> Prepared:
    return Prepared(sa.select(*CONTACT_OUT).where(_c.org_id == sa.bindparam("org_id"), col == sa.bindparam("value"),
                                                  _c.deleted_at.is_(None)).order_by(_c.id).limit(1))


_CONTACT_BY = {"email": _contact_by_col(_c.email), "external_user_id": _contact_by_col(_c.external_user_id)}
# A contact's company links, deleted companies included (they still count as links), in the order
# ``contacts.service.companies_of`` answers them.
_LINKS = Prepared(
    sa.select(_co.id, _co.name, _co.domain, _co.stage, _co.is_placeholder, _cc.is_primary, _cc.role, _cc.title,
              _co.deleted_at)
    .select_from(contact_companies.join(companies, sa.and_(_co.org_id == _cc.org_id, _co.id == _cc.company_id)))
    .where(_cc.org_id == sa.bindparam("org_id"), _cc.contact_id == sa.bindparam("contact_id"))
    .order_by(_cc.is_primary.desc(), _co.name))
_UPDATE_VISITOR: dict[tuple[str, ...], Prepared] = {}  # columns set -> its UPDATE


def _visitor_update(cols: tuple[str, ...]) -> Prepared:
    p = _UPDATE_VISITOR.get(cols)
    if p is None:
        p = _UPDATE_VISITOR[cols] = Prepared(
            visitors.update().where(_v.org_id == sa.bindparam("w_org_id"), _v.id == sa.bindparam("w_id"))
            .values({c: sa.bindparam(f"v_{c}") for c in cols}))
    return p


def _companies_out(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "deleted_at"} for r in links if r["deleted_at"] is None]


def _due(last_seen: datetime, now: datetime) -> bool:
    return now - last_seen >= LAST_SEEN_GRANULARITY


async def _unchanged_returning(db: Database, org_id: str, cmd: IdentifyIn) -> dict[str, Any] | None:
    """The answer for a returning visitor when the call would change nothing, read without the
    write lock; ``None`` when the call has something to write (the write path decides what)."""
    if cmd.company is not None or cmd.company_ids:
        return None
    uow = UnitOfWork(db)
    async with uow.transaction(autocommit=True):
        visitor = await uow.row(_VISITOR, {"org_id": org_id, "visitor_id": cmd.visitor_id})
        if visitor is None or _due(visitor["last_seen_at"], clock.now()):
            return None
        if cmd.properties and rec.merge_patch(visitor["properties"], cmd.properties) != visitor["properties"]:
            return None
        if visitor["contact_id"] is None:
            if cmd.email or cmd.user_id:
                return None
            return {"visitor": visitor, "contact": None, "companies": [],
                    "active_company_id": visitor["active_company_id"]}
        contact = await uow.row(_CONTACT, {"org_id": org_id, "id": visitor["contact_id"]})
        if contact is None or _contact_changes_pending(contact, cmd):
            return None
        links = await uow.rows(_LINKS, {"org_id": org_id, "contact_id": contact["id"]})
    if not links or not any(r["is_primary"] for r in links):
        return None  # the write path gives it a placeholder or a primary company
    return {"visitor": visitor, "contact": contact, "companies": _companies_out(links),
            "active_company_id": visitor["active_company_id"]}


def _contact_changes_pending(contact: dict[str, Any], cmd: IdentifyIn) -> bool:
    """Whether ``_update_contact`` could change the visitor's contact (see there)."""
    if cmd.name and cmd.name != contact["name"]:
        return True
    if cmd.metadata and rec.merge_patch(contact["metadata"], cmd.metadata) != contact["metadata"]:
        return True
    if cmd.user_id and contact["external_user_id"] is None:
        return True
    return bool(cmd.email and contact["email"] is None)


async def _identify(uow: UnitOfWork, org_id: str, cmd: IdentifyIn) -> dict[str, Any]:
    actor = widget_actor(org_id)
    async with uow.transaction(write=True):
        now = clock.now()
        found = await uow.row(_VISITOR, {"org_id": org_id, "visitor_id": cmd.visitor_id})
        changes: dict[str, Any] = {}
        if found is None:
            visitor: dict[str, Any] = {
                "id": ids.new("visitor"), "visitor_id": cmd.visitor_id,
                "properties": rec.check_metadata(rec.merge_patch({}, cmd.properties or {}), "properties"),
                "contact_id": None, "active_company_id": None, "first_seen_at": now, "last_seen_at": now}
        else:
            visitor = found
            if cmd.properties:
                merged = rec.check_metadata(rec.merge_patch(visitor["properties"], cmd.properties), "properties")
                if merged != visitor["properties"]:
                    changes["properties"] = merged
        linked_contact = None
        if visitor["contact_id"] is not None:
            linked_contact = await uow.row(_CONTACT, {"org_id": org_id, "id": visitor["contact_id"]})
            if linked_contact is None:
                visitor["contact_id"] = None  # linked contact was deleted meanwhile
        contact, contact_created = await _match_or_create_contact(uow, actor, linked_contact, cmd)
        active = visitor["active_company_id"]
        if cmd.company is not None:
            company = await _resolve_or_create_company(uow, actor, cmd.company)
            await _apply_company_input(uow, actor, company, cmd.company)
            active = company["id"]
        linked_targets: list[str] = []
        links: list[dict[str, Any]] | None = None
        if contact is not None:
            if cmd.company is not None:
                linked_targets.append(active)
            for i, ref in enumerate(cmd.company_ids):
                match = await find_company(uow, org_id, ref)
                if match is None:
                    raise invalid(f"company_ids.{i}", f"no company {ref!r} in this org")
                linked_targets.append(match["id"])
            links = await _link_all(uow, actor, contact, linked_targets, primary=active if cmd.company else None,
                                    new_contact=contact_created)
        if contact is not None and visitor["contact_id"] != contact["id"]:
            changes["contact_id"] = contact["id"]
        if active != visitor["active_company_id"]:
            changes["active_company_id"] = active
        if found is None:
            visitor.update(changes)
            await uow.insert(visitors, [{"org_id": org_id, **visitor}])
        else:
            touch = bool(changes) or _due(visitor["last_seen_at"], now)
            values = {**changes, "last_seen_at": now} if touch else changes
            if values:
                cols = tuple(values)
                await uow.run(_visitor_update(cols), {"w_org_id": org_id, "w_id": visitor["id"],
                                                      **{f"v_{k}": v for k, v in values.items()}})
                visitor.update(values)
        if found is None or changes or uow.recorded:
            refs = tuple(x for x in [contact["id"] if contact else None, *linked_targets] if x)
            await uow.record(org_id, "visitor.identified", subject_type="visitor", subject_id=visitor["id"],
                             actor_id=None, actor_type="widget", refs=refs,
                             data={"visitor_id": cmd.visitor_id, "contact_id": contact["id"] if contact else None,
                                   "active_company_id": visitor["active_company_id"],
                                   "changes": {k: v for k, v in changes.items() if k != "properties"}})
        if contact is None:
            linked = []
        elif links is not None:
            linked = links
        else:
            linked = _companies_out(await uow.rows(_LINKS, {"org_id": org_id, "contact_id": contact["id"]}))
    return {"visitor": visitor, "contact": contact, "companies": linked,
            "active_company_id": visitor["active_company_id"]}


async def _contact_by(uow: UnitOfWork, org_id: str, col: str, value: str) -> dict[str, Any] | None:
    return await uow.row(_CONTACT_BY[col], {"org_id": org_id, "value": value})


async def _match_or_create_contact(uow: UnitOfWork, actor: Actor, contact: dict[str, Any] | None, cmd: IdentifyIn
                                   ) -> tuple[dict[str, Any] | None, bool]:
    """The visitor's contact (``contact``: its live linked one), else one matched by email or
    user_id, else a new one; and whether it was created."""
    org_id = actor.org_id
    if contact is None and cmd.email:
        contact = await _contact_by(uow, org_id, "email", cmd.email)
    if contact is None and cmd.user_id:
        contact = await _contact_by(uow, org_id, "external_user_id", cmd.user_id)
    if contact is None:
        if not (cmd.email or cmd.user_id):
            return None, False
        return await _create_contact(uow, actor, cmd), True
    await _update_contact(uow, actor, contact, cmd)
    return contact, False


async def _create_contact(uow: UnitOfWork, actor: Actor, cmd: IdentifyIn) -> dict[str, Any]:
    now = clock.now()
    name = cmd.name or (cmd.email.split("@")[0] if cmd.email else f"User {cmd.user_id}")
    row: dict[str, Any] = {c.name: None for c in CONTACT_OUT}
    row.update(id=ids.new("contact"), name=name[:200], email=cmd.email, external_user_id=cmd.user_id,
               stage="lead", status="active", source="widget", lead_score=0, tags=[],
               metadata=rec.check_metadata(rec.merge_patch({}, cmd.metadata or {})), custom_fields={},
               automation_enabled=True, created_at=now, updated_at=now, version=1)
    await uow.insert(contacts, [{"org_id": actor.org_id, **row, **dedupe.keys(row)}])
    await uow.record(actor.org_id, "contact.created", subject_type="contact", subject_id=row["id"],
                     actor_id=None, actor_type="widget",
                     data={"after": {k: rec.jsonable(v) for k, v in row.items()}, "via": "widget.identify"})
    return row


async def _update_contact(uow: UnitOfWork, actor: Actor, contact: dict[str, Any], cmd: IdentifyIn) -> None:
    org_id = actor.org_id
    values: dict[str, Any] = {}
    if cmd.name and cmd.name != contact["name"]:
        values["name"] = cmd.name
    if cmd.metadata:
        merged = rec.check_metadata(rec.merge_patch(contact["metadata"], cmd.metadata))
        if merged != contact["metadata"]:
            values["metadata"] = merged
    if cmd.user_id and contact["external_user_id"] is None:
        other = await _contact_by(uow, org_id, "external_user_id", cmd.user_id)
        if other is None:
            values["external_user_id"] = cmd.user_id
    if cmd.email and contact["email"] is None and await _contact_by(uow, org_id, "email", cmd.email) is None:
        values["email"] = cmd.email
    if not values:
        return
    before, after = rec.diff(contact, values)
    keys = dedupe.changed_keys(contact, values)
    values.update(updated_at=clock.now(), version=contact["version"] + 1)
    await uow.execute(contacts.update().where(contacts.c.org_id == org_id, contacts.c.id == contact["id"])
                      .values(**values, **keys))
    contact.update(values)
    await uow.record(org_id, "contact.updated", subject_type="contact", subject_id=contact["id"],
                     actor_id=None, actor_type="widget",
                     data={"before": before, "after": after, "via": "widget.identify"})


# --- companies ---------------------------------------------------------------------------------

async def find_company(uow: UnitOfWork, org_id: str, ref: str) -> dict[str, Any] | None:
    """A live company by its id, or else by its external_id."""
    base = sa.select(*COMPANY_OUT).where(companies.c.org_id == org_id, companies.c.deleted_at.is_(None))
    if ref.startswith("company_"):
        row = (await uow.execute(base.where(companies.c.id == ref))).first()
        if row is not None:
            return dict(row._mapping)
    row = (await uow.execute(base.where(companies.c.external_id == ref))).first()
    return None if row is None else dict(row._mapping)


async def _resolve_or_create_company(uow: UnitOfWork, actor: Actor, ref: CompanyIn) -> dict[str, Any]:
    org_id = actor.org_id
    domain = None
    if ref.domain is not None:
        try:
            domain = normalise_domain(ref.domain)
        except ValueError:
            raise invalid("company.domain", "not a valid domain name") from None
    if ref.id is not None:
        found = await find_company(uow, org_id, ref.id)
        if found is not None:
            return found
        return await _create_company(uow, actor, name=ref.name or ref.id, external_id=ref.id, domain=domain)
    if domain is not None:
        by_domain = (await uow.execute(sa.select(*COMPANY_OUT).where(
            companies.c.org_id == org_id, companies.c.domain == domain, companies.c.deleted_at.is_(None)))).first()
        if by_domain is not None:
            return dict(by_domain._mapping)
    if ref.name is None:
        raise ValidationFailed("a company needs an id, a domain or a name",
                               errors=[FieldError("company", "give id, domain or name")])
    by_name = (await uow.execute(sa.select(*COMPANY_OUT).where(
        companies.c.org_id == org_id, sa.func.lower(companies.c.name) == ref.name.lower(),
        companies.c.is_placeholder.is_(False), companies.c.deleted_at.is_(None)).order_by(companies.c.id).limit(1)
    )).first()
    if by_name is not None:
        return dict(by_name._mapping)
    return await _create_company(uow, actor, name=ref.name, external_id=None, domain=domain)


async def _create_company(uow: UnitOfWork, actor: Actor, *, name: str, external_id: str | None,
                          domain: str | None, placeholder: bool = False) -> dict[str, Any]:
    now = clock.now()
    row: dict[str, Any] = {c.name: None for c in COMPANY_OUT}
    row.update(id=ids.new("company"), name=name[:200], external_id=external_id, domain=domain, metadata={},
               custom_fields={}, tags=[], is_placeholder=placeholder, created_at=now, updated_at=now, version=1)
    await uow.insert(companies, [{"org_id": actor.org_id, **row}])
    await uow.record(actor.org_id, "company.created", subject_type="company", subject_id=row["id"],
                     actor_id=None, actor_type="widget",
                     data={"after": {k: rec.jsonable(v) for k, v in row.items()}, "via": "widget"})
    return row


async def _apply_company_input(uow: UnitOfWork, actor: Actor, company: dict[str, Any], ref: CompanyIn) -> None:
    values: dict[str, Any] = {}
    if ref.metadata:
        merged = rec.check_metadata(rec.merge_patch(company["metadata"], ref.metadata), "company.metadata")
        if merged != company["metadata"]:
            values["metadata"] = merged
    if ref.name and ref.id is not None and ref.name != company["name"]:
        values["name"] = ref.name  # the company's own key came with it: the name is authoritative
    await _write_company(uow, actor, company, values, stage=ref.stage, mode=ref.stage_mode, field="company.stage")


async def _write_company(uow: UnitOfWork, actor: Actor, company: dict[str, Any], values: dict[str, Any], *,
                         stage: str | None, mode: str, field: str) -> None:
    org_id = actor.org_id
    stage_change = None
    if stage is not None:
        try:
            target = await canonical_stage(uow, org_id, stage)
        except ValidationFailed as exc:
            raise invalid(field, exc.detail) from None
        if _stage_moves(await company_stage_names(uow, org_id), company["stage"], target, mode):
            values["stage"] = target
            stage_change = (company["stage"], target)
    if not values:
        return
    before, after = rec.diff(company, values)
    values.update(updated_at=clock.now(), version=company["version"] + 1)
    await uow.execute(companies.update().where(companies.c.org_id == org_id, companies.c.id == company["id"])
                      .values(**values))
    company.update(values)
    await uow.record(org_id, "company.updated", subject_type="company", subject_id=company["id"],
                     actor_id=None, actor_type="widget", data={"before": before, "after": after, "via": "widget"})
    if stage_change is not None:
        await uow.record(org_id, "company.stage-changed", subject_type="company", subject_id=company["id"],
                         actor_id=None, actor_type="widget",
                         data={"before": {"stage": stage_change[0]}, "after": {"stage": stage_change[1]},
                               "mode": mode})


def _stage_moves(order: list[str], current: str | None, target: str, mode: str) -> bool:
    """``advance_only`` never moves a company backward in the org's stage order (seed 000)."""
    if current == target:
        return False
    if mode == "exact" or current is None or current not in order:
        return True
    return order.index(target) > order.index(current)


async def _link_all(uow: UnitOfWork, actor: Actor, contact: dict[str, Any], targets: list[str],
                    primary: str | None, *, new_contact: bool = False) -> list[dict[str, Any]] | None:
    """Link ``targets`` (``primary`` becomes the primary company); once a real company is linked the
    placeholder goes; a contact left with no company gets a placeholder. Answers the contact's
    companies when it knows them without reading (a placeholder just made), else ``None``."""
    org_id = actor.org_id
    cc = contact_companies.c
    current: dict[str, bool] = {}
    if not new_contact:
        rows = await uow.rows(_LINKS, {"org_id": org_id, "contact_id": contact["id"]})
        current = {r["id"]: r["is_placeholder"] for r in rows}
        if not targets and current and any(r["is_primary"] for r in rows):
            return _companies_out(rows)  # nothing to link, a primary exists: nothing changes
    for company_id in dict.fromkeys(targets):
        if company_id not in current:
            await uow.insert(contact_companies, [{
                "org_id": org_id, "contact_id": contact["id"], "company_id": company_id, "is_primary": False,
                "created_at": clock.now()}])
            await uow.record(org_id, "contact.company-linked", subject_type="contact", subject_id=contact["id"],
                             actor_id=None, actor_type="widget", refs=(company_id,),
                             data={"company_id": company_id, "before": None, "after": {"is_primary": False}})
    if targets:
        for company_id, is_placeholder in current.items():
            if is_placeholder and company_id not in targets:
                await _drop_placeholder(uow, org_id, contact["id"], company_id)
    elif not current:
        placeholder = await _create_company(uow, actor, name=f"{contact['name']} (company unknown)",
                                            external_id=None, domain=None, placeholder=True)
        await uow.insert(contact_companies, [{
            "org_id": org_id, "contact_id": contact["id"], "company_id": placeholder["id"], "is_primary": True,
            "created_at": clock.now()}])
        await uow.record(org_id, "contact.company-linked", subject_type="contact", subject_id=contact["id"],
                         actor_id=None, actor_type="widget", refs=(placeholder["id"],),
                         data={"company_id": placeholder["id"], "placeholder": True, "before": None,
                               "after": {"is_primary": True}})
        return [{"id": placeholder["id"], "name": placeholder["name"], "domain": placeholder["domain"],
                 "stage": placeholder["stage"], "is_placeholder": True, "is_primary": True, "role": None,
                 "title": None}]
    mine = (cc.org_id == org_id, cc.contact_id == contact["id"])  # built here: a new visitor never needs it
    if primary is not None:
        await uow.execute(contact_companies.update().where(*mine).values(
            is_primary=sa.case((cc.company_id == primary, True), else_=False)))
        return None
    has_primary = (await uow.execute(sa.select(cc.company_id).where(*mine, cc.is_primary.is_(True)))).first()
    if has_primary is None:
        first = (await uow.execute(sa.select(cc.company_id).where(*mine).order_by(cc.created_at).limit(1))).first()
        if first is not None:
            await uow.execute(contact_companies.update().where(*mine, cc.company_id == first.company_id)
                              .values(is_primary=True))
    return None


async def _drop_placeholder(uow: UnitOfWork, org_id: str, contact_id: str, company_id: str) -> None:
    cc = contact_companies.c
    await uow.execute(contact_companies.delete().where(
        cc.org_id == org_id, cc.contact_id == contact_id, cc.company_id == company_id))
    await uow.record(org_id, "contact.company-unlinked", subject_type="contact", subject_id=contact_id,
                     actor_id=None, actor_type="widget", refs=(company_id,),
                     data={"company_id": company_id, "placeholder": True})
    others = (await uow.execute(sa.select(cc.contact_id).where(cc.org_id == org_id, cc.company_id == company_id)
                                .limit(1))).first()
    if others is None:
        await uow.execute(visitors.update().where(visitors.c.org_id == org_id,
                                                  visitors.c.active_company_id == company_id)
                          .values(active_company_id=None))
        await uow.execute(companies.delete().where(companies.c.org_id == org_id, companies.c.id == company_id))
        await uow.execute(record_tags.delete().where(record_tags.c.org_id == org_id,
                                                     record_tags.c.record_id == company_id))
        await uow.record(org_id, "company.deleted", subject_type="company", subject_id=company_id,
                         actor_id=None, actor_type="widget",
                         data={"permanent": True, "reason": "placeholder replaced by a real company"})


# --- setDeal / setStage ------------------------------------------------------------------------

async def _visitor(uow: UnitOfWork, org_id: str, visitor_id: str) -> dict[str, Any]:
    q = sa.select(*VISITOR_OUT).where(visitors.c.org_id == org_id, visitors.c.visitor_id == visitor_id)
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"visitor {visitor_id!r} has not been identified", extra={"field": "visitor_id"})
    return dict(row._mapping)


async def _target_company(uow: UnitOfWork, org_id: str, visitor: dict[str, Any], company_id: str | None
                          ) -> dict[str, Any]:
    """Explicit company_id, else the visitor's active company, else the single linked company (seed 000)."""
    if company_id is not None:
        found = await find_company(uow, org_id, company_id)
        if found is None:
            raise NotFound(f"company {company_id!r} does not exist", extra={"field": "company_id"})
        return found
    if visitor["active_company_id"] is not None:
        found = await find_company(uow, org_id, visitor["active_company_id"])
        if found is not None:
            return found
    if visitor["contact_id"] is not None:
        linked = await companies_of(uow, org_id, visitor["contact_id"])
        if len(linked) == 1:
            found = await find_company(uow, org_id, linked[0]["id"])
            if found is not None:
                return found
        if len(linked) > 1:
            raise Conflict("the visitor's contact has several companies: pass company_id or identify with "
                           "company.id first", extra={"code": "ambiguous-company", "field": "company_id"})
    raise Conflict("the visitor has no company yet: identify it with an email or a company first",
                   extra={"code": "no-company", "field": "company_id"})


async def _set_company_fields(uow: UnitOfWork, org_id: str, cmd: SetDealIn | SetStageIn) -> dict[str, Any]:
    actor = widget_actor(org_id)
    async with uow.transaction(write=True):
        visitor = await _visitor(uow, org_id, cmd.visitor_id)
        company = await _target_company(uow, org_id, visitor, cmd.company_id)
        values: dict[str, Any] = {}
        if isinstance(cmd, SetDealIn) and cmd.deal_value != company["deal_value"]:
            values["deal_value"] = cmd.deal_value
        await _write_company(uow, actor, company, values, stage=cmd.stage_name, mode=cmd.mode, field="stage_name")
    return company
