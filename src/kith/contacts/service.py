"""Contact use cases: CRUD through ``records.crud`` plus the contact ↔ company links (seed 000).

Links are their own verb: creating or updating a contact never touches its companies. Linking
or unlinking needs update rights on both records.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import check_record
from kith.auth.model import Actor
from kith.companies.tables import companies
from kith.contacts import dedupe, model
from kith.contacts.schemas import NOT_NULL, CompanyLink, ContactCreate, ContactPatch
from kith.contacts.tables import contact_companies, contacts
from kith.core import clock
from kith.core.db import Prepared
from kith.core.errors import Conflict, NotFound, invalid
from kith.core.listing import ListQuery, Page
from kith.core.uow import UnitOfWork
from kith.records import crud
from kith.records import filters as f
from kith.visitors.tables import visitors


def _taken_by(col: sa.Column[Any]) -> Prepared:
    """Another live contact holding ``value`` in the unique ``col`` (prebuilt: every create asks)."""
    c = contacts.c
    return Prepared(sa.select(c.id).where(c.org_id == sa.bindparam("org_id"), col == sa.bindparam("value"),
                                          c.deleted_at.is_(None), c.id != sa.bindparam("self_id")).limit(1))


_EMAIL_TAKEN = _taken_by(contacts.c.email)
_USER_ID_TAKEN = _taken_by(contacts.c.external_user_id)


async def _prepare(uow: UnitOfWork, actor: Actor, values: dict[str, Any], existing: Any) -> None:
    if existing is not None and "owner_id" in values:  # a PATCH moving the contact: as the assign verb does
        from kith.contacts.verbs import owner_patched

        await owner_patched(uow, actor, existing, values["owner_id"])
    if existing is not None and values.get("stage") is not None:
        model.assert_stage_change_allowed(existing.stage, values["stage"])
    self_id = existing.id if existing is not None else ""
    if values.get("email") and (existing is None or values["email"] != existing.email):
        other = await uow.row(_EMAIL_TAKEN, {"org_id": actor.org_id, "value": values["email"], "self_id": self_id})
        if other is not None:
            raise Conflict(f"a contact with email {values['email']!r} already exists",
                           extra={"field": "email", "existing_id": other["id"]})
    if values.get("external_user_id") and (existing is None or values["external_user_id"] != existing.external_user_id):
        other = await uow.row(_USER_ID_TAKEN, {"org_id": actor.org_id, "value": values["external_user_id"],
                                               "self_id": self_id})
        if other is not None:
            raise Conflict(f"a contact with external_user_id {values['external_user_id']!r} already exists",
                           extra={"field": "external_user_id", "existing_id": other["id"]})
    manager_id = values.get("manager_id")
    if manager_id is not None:
        if existing is not None and manager_id == existing.id:
            raise invalid("manager_id", "a contact cannot be their own manager")
        q = sa.select(contacts.c.id).where(contacts.c.org_id == actor.org_id, contacts.c.id == manager_id,
                                           contacts.c.deleted_at.is_(None))
        if (await uow.execute(q)).first() is None:
            raise invalid("manager_id", f"no contact {manager_id!r} in this org")
    values.update(dedupe.keys(values) if existing is None else dedupe.changed_keys(existing._mapping, values))


async def _detach(uow: UnitOfWork, org_id: str, contact_id: str) -> dict[str, Any]:
    """Seed 000: deleting a contact unlinks its visitors and removes its company junction rows."""
    links = await uow.execute(sa.select(contact_companies).where(
        contact_companies.c.org_id == org_id, contact_companies.c.contact_id == contact_id))
    company_links = [{"company_id": r.company_id, "is_primary": r.is_primary, "role": r.role, "title": r.title}
                     for r in links]
    vis = await uow.execute(sa.select(visitors.c.id).where(
        visitors.c.org_id == org_id, visitors.c.contact_id == contact_id))
    visitor_ids = list(vis.scalars())
    await uow.execute(contact_companies.delete().where(
        contact_companies.c.org_id == org_id, contact_companies.c.contact_id == contact_id))
    await uow.execute(visitors.update().where(visitors.c.org_id == org_id, visitors.c.contact_id == contact_id)
                      .values(contact_id=None))
    return {"companies": company_links, "visitors": visitor_ids}


async def _reattach(uow: UnitOfWork, org_id: str, contact_id: str, links: dict[str, Any]) -> None:
    """Put back the links a delete removed, to the companies and visitors that still exist."""
    wanted = {link["company_id"]: link for link in links.get("companies", [])}
    if wanted:
        alive = await uow.execute(sa.select(companies.c.id).where(
            companies.c.org_id == org_id, companies.c.id.in_(wanted), companies.c.deleted_at.is_(None)))
        rows = [{"org_id": org_id, "contact_id": contact_id, "created_at": clock.now(), **wanted[cid]}
                for cid in alive.scalars()]
        if rows:
            await uow.execute(contact_companies.insert(), rows)
    if links.get("visitors"):
        await uow.execute(visitors.update().where(
            visitors.c.org_id == org_id, visitors.c.id.in_(links["visitors"]), visitors.c.contact_id.is_(None))
            .values(contact_id=contact_id))


c = contacts.c
KIND = crud.Kind(
    name="contact",
    table=contacts,
    resource="contact",
    sortable=("created_at", "updated_at", "name", "lead_score", "id"),
    filters={
        "stage": f.eq(c.stage, choices=model.STAGES),
        "status": f.eq(c.status, choices=model.STATUSES),
        "role": f.eq(c.role, choices=model.ROLES),
        "preferred_channel": f.eq(c.preferred_channel, choices=model.CHANNELS),
        "owner_id": f.eq(c.owner_id),
        "manager_id": f.eq(c.manager_id),
        "source": f.eq(c.source),
        "email": f.eq(c.email, normalise=lambda v: v.strip().lower()),
        "external_user_id": f.eq(c.external_user_id, max_length=200),
        "tag": f.tag("contact", c.id),
        "company_id": f.linked(c.id, contact_companies, "contact_id", "company_id"),
        "automation_enabled": f.boolean(c.automation_enabled),
        "created_after": f.after(c.created_at),
        "created_before": f.before(c.created_at),
        "updated_after": f.after(c.updated_at),
        "updated_before": f.before(c.updated_at),
    },
    search_columns=("name", "email"),
    not_null=NOT_NULL,
    prepare=_prepare,
    detach=_detach,
    reattach=_reattach,
    unique_fields=("email", "external_user_id"),
    derived=dedupe.KEY_COLUMNS,
)

INCLUDES = ("companies", "visitors", "activities", "deals")


async def create_contact(uow: UnitOfWork, actor: Actor, cmd: ContactCreate) -> dict[str, Any]:
    return await crud.create(uow, actor, KIND, cmd, enforce_required=True)


async def update_contact(uow: UnitOfWork, actor: Actor, contact_id: str, patch: ContactPatch,
                         expected_version: int | None = None) -> dict[str, Any]:
    return await crud.update(uow, actor, KIND, contact_id, patch, expected_version)


async def list_contacts(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    return await crud.list_(uow, actor, KIND, query)


async def get_contact(uow: UnitOfWork, actor: Actor, contact_id: str, include: tuple[str, ...] = ()
                      ) -> dict[str, Any]:
    row = await crud.get(uow, actor, KIND, contact_id)
    if not include:
        return row
    async with uow.transaction():
        if "companies" in include:
            row["companies"] = await companies_of(uow, actor.org_id, contact_id)
        if "visitors" in include:
            q = sa.select(visitors.c.visitor_id, visitors.c.properties, visitors.c.active_company_id,
                          visitors.c.first_seen_at, visitors.c.last_seen_at).where(
                visitors.c.org_id == actor.org_id, visitors.c.contact_id == contact_id)
            row["visitors"] = [dict(r._mapping) for r in await uow.execute(q.order_by(visitors.c.first_seen_at))]
        if "activities" in include:  # the latest 50 the caller may read (activity:read)
            from kith.activities.service import list_activities

            row["activities"] = (await list_activities(uow, actor, ListQuery(
                limit=50, sort="-occurred_at", filters={"contact_id": contact_id}))).data
        if "deals" in include:  # the first 50 involving the contact the caller may read (deal:read)
            from kith.deals.service import contact_deals

            row["deals"] = (await contact_deals(uow, actor, contact_id, ListQuery(limit=50))).data
    return row


async def companies_of(uow: UnitOfWork, org_id: str, contact_id: str) -> list[dict[str, Any]]:
    q = (sa.select(companies.c.id, companies.c.name, companies.c.domain, companies.c.stage,
                   companies.c.is_placeholder, contact_companies.c.is_primary, contact_companies.c.role,
                   contact_companies.c.title)
         .select_from(contact_companies.join(companies, sa.and_(
             companies.c.org_id == contact_companies.c.org_id, companies.c.id == contact_companies.c.company_id)))
         .where(contact_companies.c.org_id == org_id, contact_companies.c.contact_id == contact_id,
                companies.c.deleted_at.is_(None))
         .order_by(contact_companies.c.is_primary.desc(), companies.c.name))
    return [dict(r._mapping) for r in await uow.execute(q)]


async def _both_for_update(uow: UnitOfWork, actor: Actor, contact_id: str, company_id: str) -> None:
    from kith.companies.service import KIND as COMPANY

    contact = await crud.load_live(uow, KIND, actor.org_id, contact_id)
    check_record(actor, "contact:update", contact.owner_id, kind="contact", record_id=contact_id)
    try:
        company = await crud.load_live(uow, COMPANY, actor.org_id, company_id)
    except NotFound:
        raise NotFound(f"company {company_id!r} does not exist", extra={"id": company_id,
                                                                        "field": "company_id"}) from None
    check_record(actor, "company:update", company.owner_id, kind="company", record_id=company_id)


async def link_company(uow: UnitOfWork, actor: Actor, contact_id: str, cmd: CompanyLink
                       ) -> tuple[list[dict[str, Any]], bool]:
    """Link (or update the link's role/title/primary flag). Returns the contact's companies and
    whether a new link was made."""
    cc = contact_companies.c
    async with uow.transaction(write=True):
        await _both_for_update(uow, actor, contact_id, cmd.company_id)
        key = (cc.org_id == actor.org_id, cc.contact_id == contact_id)
        existing = await uow.execute(sa.select(cc.company_id, cc.is_primary, cc.role, cc.title).where(*key))
        links = {r.company_id: r for r in existing}
        current = links.get(cmd.company_id)
        make_primary = cmd.is_primary if cmd.is_primary is not None else (
            current.is_primary if current else not any(r.is_primary for r in links.values()))
        if make_primary:
            await uow.execute(contact_companies.update().where(*key, cc.is_primary.is_(True),
                                                               cc.company_id != cmd.company_id)
                              .values(is_primary=False))
        values = {"is_primary": make_primary}
        values.update(cmd.model_dump(exclude_unset=True, include={"role", "title"}))
        if current is None:
            await uow.execute(contact_companies.insert(), {
                "org_id": actor.org_id, "contact_id": contact_id, "company_id": cmd.company_id,
                "created_at": clock.now(), "role": None, "title": None, **values})
        else:
            await uow.execute(contact_companies.update().where(*key, cc.company_id == cmd.company_id)
                              .values(**values))
        before = None if current is None else {"is_primary": current.is_primary, "role": current.role,
                                               "title": current.title}
        await uow.record(actor.org_id, "contact.company-linked", subject_type="contact", subject_id=contact_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(cmd.company_id,),
                         data={"company_id": cmd.company_id, "before": before, "after": values})
        result = await companies_of(uow, actor.org_id, contact_id)
    return result, current is None


async def unlink_company(uow: UnitOfWork, actor: Actor, contact_id: str, company_id: str) -> None:
    cc = contact_companies.c
    async with uow.transaction(write=True):
        await _both_for_update(uow, actor, contact_id, company_id)
        key = (cc.org_id == actor.org_id, cc.contact_id == contact_id, cc.company_id == company_id)
        row = (await uow.execute(sa.select(cc.is_primary).where(*key))).first()
        if row is None:
            raise NotFound(f"contact {contact_id!r} is not linked to company {company_id!r}",
                           extra={"id": company_id})
        await uow.execute(contact_companies.delete().where(*key))
        if row.is_primary:  # the oldest remaining link becomes primary
            nxt = (await uow.execute(sa.select(cc.company_id).where(
                cc.org_id == actor.org_id, cc.contact_id == contact_id).order_by(cc.created_at).limit(1))).first()
            if nxt is not None:
                await uow.execute(contact_companies.update().where(
                    cc.org_id == actor.org_id, cc.contact_id == contact_id, cc.company_id == nxt.company_id)
                    .values(is_primary=True))
        await uow.record(actor.org_id, "contact.company-unlinked", subject_type="contact", subject_id=contact_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(company_id,),
                         data={"company_id": company_id})
