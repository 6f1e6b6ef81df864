"""Deal queries shared by the deal services: the ``crud.Kind`` (list filters, sorting), presenting
rows (``value`` as money), checking references, expanding includes, and who to tell.

Every reference a deal holds (contact, company, pipeline, stage, price list, owner) is checked to
belong to the caller's org before anything is written: another org's id answers 422.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies.tables import companies
from kith.contacts.tables import contacts
from kith.core import clock
from kith.core.errors import invalid
from kith.core.uow import UnitOfWork
from kith.deals import lines, model
from kith.deals.tables import approvals, deal_contacts, deals
from kith.orgs.schemas import OrgSettings
from kith.orgs.tables import orgs, users
from kith.records import filters as f

c = deals.c
FilterFn = f.FilterFn


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("must be a date, YYYY-MM-DD") from None


def _close_from(_org: str, raw: str) -> sa.ColumnElement[bool]:
    return c.expected_close_date >= _day(raw)


def _close_to(_org: str, raw: str) -> sa.ColumnElement[bool]:
    return c.expected_close_date <= _day(raw)


def _involves(org_id: str, raw: str) -> sa.ColumnElement[bool]:
    """Deals whose primary contact is the given one, or that list it among their contacts."""
    if len(raw) > 40:
        raise ValueError("not a record id")
    linked = sa.select(deal_contacts.c.deal_id).where(deal_contacts.c.org_id == org_id,
                                                      deal_contacts.c.contact_id == raw)
    return sa.or_(c.contact_id == raw, c.id.in_(linked))


FILTERS: dict[str, FilterFn] = {
    "status": f.eq(c.status, choices=model.STATUSES),
    "pipeline_id": f.eq(c.pipeline_id, max_length=40),
    "stage_id": f.eq(c.stage_id, max_length=40),
    "owner_id": f.eq(c.owner_id, max_length=40),
    "contact_id": _involves,
    "company_id": f.eq(c.company_id, max_length=40),
    "lead_id": f.eq(c.lead_id, max_length=40),
    "tag": f.tag("deal", c.id),
    "created_after": f.after(c.created_at),
    "created_before": f.before(c.created_at),
    "updated_after": f.after(c.updated_at),
    "updated_before": f.before(c.updated_at),
    "close_date_from": _close_from,
    "close_date_to": _close_to,
}
SORTABLE = ("created_at", "updated_at", "title", "amount", "stage_changed_at", "id")
NOT_NULL = ("title", "value", "line_items", "tags", "metadata", "probability_override")
INCLUDES = ("line_items", "contacts", "activities")
HIDDEN = frozenset({"amount", "currency", "org_id", "deleted_at", "custom_fields"})  # deals have no custom fields


# --- presenting --------------------------------------------------------------------------------------

def present(row: dict[str, Any]) -> dict[str, Any]:
    """A deal row as the API shows it: ``amount`` + ``currency`` become ``value``."""
    out = {k: v for k, v in row.items() if k not in HIDDEN}
    out["value"] = {"amount": str(row["amount"]), "currency": row["currency"]}
    return out


async def expand(uow: UnitOfWork, actor: Actor, rows: Sequence[dict[str, Any]], include: Iterable[str]) -> None:
    """Add the requested relations to ``rows`` (one query per relation for the whole page).
    Activities are those the actor may read (``activity:read``; own-only roles see their team's)."""
    org_id = actor.org_id
    ids = [r["id"] for r in rows]
    wanted = set(include)
    if "line_items" in wanted:
        items = await lines.of_deals(uow, org_id, ids)
        for r in rows:
            r["line_items"] = items[r["id"]]
    if "contacts" in wanted:
        people = await contacts_of(uow, org_id, rows)
        for r in rows:
            r["contacts"] = people[r["id"]]
    if "activities" in wanted:
        acts = await activities_of(uow, actor, ids)
        for r in rows:
            r["activities"] = acts[r["id"]]


async def contacts_of(uow: UnitOfWork, org_id: str, rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each deal's contacts: its primary contact first, then the others with their role labels."""
    ids = [r["id"] for r in rows]
    dc = deal_contacts.c
    q = (sa.select(dc.deal_id, dc.contact_id, dc.role).where(dc.org_id == org_id, dc.deal_id.in_(ids))
         .order_by(dc.deal_id, dc.created_at, dc.contact_id))
    links = list(await uow.execute(q)) if ids else []
    people = {cid for r in rows if (cid := r.get("contact_id"))} | {link.contact_id for link in links}
    names: dict[str, Any] = {}
    if people:
        q2 = sa.select(contacts.c.id, contacts.c.name, contacts.c.email).where(
            contacts.c.org_id == org_id, contacts.c.id.in_(sorted(people)), contacts.c.deleted_at.is_(None))
        names = {p.id: p for p in await uow.execute(q2)}
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}

    def entry(contact_id: str, role: str | None, primary: bool) -> dict[str, Any]:
        p = names.get(contact_id)
        return {"contact_id": contact_id, "name": p.name if p else None, "email": p.email if p else None,
                "role": role, "is_primary": primary}

    roles = {(link.deal_id, link.contact_id): link.role for link in links}
    for r in rows:
        if r.get("contact_id"):
            out[r["id"]].append(entry(r["contact_id"], roles.get((r["id"], r["contact_id"])), True))
    for link in links:
        deal = next(r for r in rows if r["id"] == link.deal_id)
        if link.contact_id != deal.get("contact_id"):
            out[link.deal_id].append(entry(link.contact_id, link.role, False))
    return out


async def activities_of(uow: UnitOfWork, actor: Actor, deal_ids: Sequence[str], per_deal: int = 50
                        ) -> dict[str, list[dict[str, Any]]]:
    """Each deal's latest activities the actor may read (at most ``per_deal``), newest first."""
    from kith.activities.service import visible_to
    from kith.activities.tables import activities as a

    out: dict[str, list[dict[str, Any]]] = {i: [] for i in deal_ids}
    if not deal_ids or grant(actor.roles, "activity:read") is Grant.NONE:
        return out
    cols = [col for col in a.c if col.name not in ("org_id", "deleted_at")]
    q = (sa.select(*cols).where(a.c.org_id == actor.org_id, a.c.deal_id.in_(list(deal_ids)),
                                a.c.deleted_at.is_(None))
         .order_by(a.c.deal_id, a.c.occurred_at.desc(), a.c.id.desc()))
    visible = visible_to(actor)
    if visible is not None:
        q = q.where(visible)
    for r in await uow.execute(q):
        bucket = out[r.deal_id]
        if len(bucket) < per_deal:
            bucket.append(dict(r._mapping))
    return out


# --- references --------------------------------------------------------------------------------------

async def org_settings(uow: UnitOfWork, org_id: str) -> OrgSettings:
    raw = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one()
    return OrgSettings.model_validate(raw)


async def check_contact(uow: UnitOfWork, org_id: str, contact_id: str, field: str = "contact_id") -> None:
    q = sa.select(contacts.c.id).where(contacts.c.org_id == org_id, contacts.c.id == contact_id,
                                       contacts.c.deleted_at.is_(None))
    if (await uow.execute(q)).first() is None:
        raise invalid(field, f"no contact {contact_id!r} in this org")


async def check_company(uow: UnitOfWork, org_id: str, company_id: str) -> None:
    q = sa.select(companies.c.id).where(companies.c.org_id == org_id, companies.c.id == company_id,
                                        companies.c.deleted_at.is_(None))
    if (await uow.execute(q)).first() is None:
        raise invalid("company_id", f"no company {company_id!r} in this org")


async def check_refs(uow: UnitOfWork, org_id: str, values: dict[str, Any]) -> None:
    if values.get("contact_id"):
        await check_contact(uow, org_id, values["contact_id"])
    if values.get("company_id"):
        await check_company(uow, org_id, values["company_id"])
    if values.get("price_list_id"):
        await lines.price_list(uow, org_id, values["price_list_id"])


# --- approvals a value change invalidates ---------------------------------------------------------------

async def cancel_approvals(uow: UnitOfWork, actor: Actor, deal_id: str, reason: str) -> list[str]:
    """Cancel the deal's pending and approved requests (its value changed); returns their ids."""
    a = approvals.c
    live = sa.and_(a.org_id == actor.org_id, a.deal_id == deal_id, a.status.in_(("pending", "approved")))
    ids = list((await uow.execute(sa.select(a.id).where(live))).scalars())
    if not ids:
        return ids
    await uow.execute(approvals.update().where(live).values(status="cancelled", decided_at=clock.now(),
                                                            comment=reason, version=a.version + 1))
    for approval_id in ids:
        await uow.record(actor.org_id, "approval.cancelled", subject_type="approval", subject_id=approval_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(deal_id,),
                         data={"deal_id": deal_id, "reason": reason})
    return ids


# --- people to tell ------------------------------------------------------------------------------------

async def manager_of(uow: UnitOfWork, org_id: str, user_id: str | None) -> str | None:
    """The active manager of ``user_id``, if any."""
    if user_id is None:
        return None
    u, m = users.alias("u"), users.alias("m")
    q = (sa.select(m.c.id).select_from(u.join(m, sa.and_(m.c.org_id == u.c.org_id, m.c.id == u.c.manager_id)))
         .where(u.c.org_id == org_id, u.c.id == user_id, m.c.is_active.is_(True)))
    return (await uow.execute(q)).scalar_one_or_none()


async def sales_managers(uow: UnitOfWork, org_id: str) -> list[str]:
    """Every active sales-manager of the org (roles are a JSON list: filtered here, the org is small)."""
    q = sa.select(users.c.id, users.c.roles).where(users.c.org_id == org_id, users.c.is_active.is_(True))
    return sorted(r.id for r in await uow.execute(q) if "sales-manager" in (r.roles or []))


async def active_user(uow: UnitOfWork, org_id: str, user_id: str, field: str = "owner_id") -> None:
    q = sa.select(users.c.id).where(users.c.org_id == org_id, users.c.id == user_id, users.c.is_active.is_(True))
    if (await uow.execute(q)).first() is None:
        raise invalid(field, f"no active user {user_id!r} in this org")
