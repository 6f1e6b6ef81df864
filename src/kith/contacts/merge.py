"""Merge duplicate contacts into one (seed 001 ``merge``).

Permission: the survivor needs ``contact:update`` and every merged contact ``contact:delete``,
because a merge erases them for good; in the seed 004 matrix that is crm-admin only (a
sales-manager may update but not delete contacts). Any id missing, trashed or of another org
answers 404 and nothing changes.

In one transaction the survivor takes over the merged contacts' visitors, company links (its own
primary stays; a company both were linked to is linked once), leads, activities, deals (as their
contact and as one of their ``deal_contacts``; a deal both were on keeps one row) and reports
(contacts whose manager was a merged one), the union of their tags, their metadata and custom-field keys it
lacks, and the scalar fields it has empty (``model.merged_values``). Their history joins the
survivor's timeline; then they are deleted for good, so their emails are free again. The
``contact.merged`` event is indexed under the survivor, every merged id and every company link
moved, so it shows in all those timelines.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.activities.tables import activities
from kith.auth.access import check_record, require
from kith.auth.model import Actor
from kith.contacts import model
from kith.contacts.service import KIND
from kith.contacts.tables import contact_companies, contacts
from kith.contacts.verbs import tidy_company_links, write_contact
from kith.core import clock, hooks
from kith.core.errors import NotFound, invalid
from kith.core.events import event_refs
from kith.core.uow import UnitOfWork
from kith.deals.tables import deal_contacts, deals
from kith.leads.tables import leads
from kith.records import crud
from kith.records import service as rec
from kith.records.tables import record_tags
from kith.visitors.tables import visitors


async def merge_contacts(uow: UnitOfWork, actor: Actor, survivor_id: str, from_ids: list[str]) -> dict[str, Any]:
    require(actor, "contact:update")
    require(actor, "contact:delete")
    if survivor_id in from_ids:
        raise invalid("from_ids", "a contact cannot be merged into itself")
    org_id = actor.org_id
    async with uow.transaction(write=True):
        rows = await _load_all(uow, org_id, [survivor_id, *from_ids])
        check_record(actor, "contact:update", rows[survivor_id]["owner_id"], kind="contact", record_id=survivor_id)
        for merged_id in from_ids:
            check_record(actor, "contact:delete", rows[merged_id]["owner_id"], kind="contact", record_id=merged_id)
        survivor, merged = rows[survivor_id], [rows[i] for i in from_ids]
        cmd = hooks.Command("contact.merge", actor, survivor_id, {"from_ids": list(from_ids)})
        await hooks.run_before(cmd.verb, survivor, cmd)
        changes = model.merged_values(survivor, merged)
        moved_companies = await _move_company_links(uow, org_id, survivor_id, from_ids)
        moved = {"company_links": len(moved_companies),
                 "visitors": await _repoint(uow, visitors, visitors.c.contact_id, org_id, survivor_id, from_ids),
                 "leads": await _repoint(uow, leads, leads.c.contact_id, org_id, survivor_id, from_ids, bump=True),
                 "reports": await _repoint(uow, contacts, contacts.c.manager_id, org_id, survivor_id, from_ids,
                                           bump=True),
                 "activities": await _repoint(uow, activities, activities.c.contact_id, org_id, survivor_id,
                                              from_ids, bump=True),
                 "deals": await _repoint(uow, deals, deals.c.contact_id, org_id, survivor_id, from_ids, bump=True),
                 "deal_contacts": await _move_deal_contacts(uow, org_id, survivor_id, from_ids)}
        await _inherit_timelines(uow, org_id, survivor_id, from_ids)
        await uow.execute(record_tags.delete().where(record_tags.c.org_id == org_id,
                                                     record_tags.c.record_id.in_(from_ids)))
        await uow.execute(contacts.delete().where(contacts.c.org_id == org_id, contacts.c.id.in_(from_ids)))
        before, after = rec.diff(survivor, changes)
        if changes:  # after the delete: the survivor may take a merged contact's email
            survivor = await write_contact(uow, actor, survivor, changes)
        await tidy_company_links(uow, actor, survivor_id, cmd)
        await uow.record(org_id, "contact.merged", subject_type="contact", subject_id=survivor_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(*from_ids, *moved_companies), data={
                             "merged_ids": list(from_ids), "before": before, "after": after, "moved": moved,
                             "merged": [{k: m[k] for k in ("id", "name", "email")} for m in merged]})
        hooks.run_after(uow, "contact.merged", survivor, cmd)
    return survivor


async def _load_all(uow: UnitOfWork, org_id: str, wanted: list[str]) -> dict[str, dict[str, Any]]:
    """Every contact in ``wanted`` (live, this org), locked in id order on PostgreSQL; 404 for the
    first one missing."""
    c = contacts.c
    q = sa.select(*KIND.columns).where(c.org_id == org_id, c.id.in_(wanted), c.deleted_at.is_(None)).order_by(c.id)
    if uow.backend == "postgresql":
        q = q.with_for_update()
    found = {r.id: crud.out(r) for r in await uow.execute(q)}
    for record_id in wanted:
        if record_id not in found:
            raise NotFound(f"contact {record_id!r} does not exist", extra={"id": record_id})
    return found


async def _move_company_links(uow: UnitOfWork, org_id: str, survivor_id: str, from_ids: list[str]) -> list[str]:
    """Give the survivor the merged contacts' company links it lacks; returns the companies moved.
    Its primary stays; with none, the first merged contact's primary becomes its primary."""
    cc = contact_companies.c
    own = {r.company_id: r.is_primary for r in await uow.execute(
        sa.select(cc.company_id, cc.is_primary).where(cc.org_id == org_id, cc.contact_id == survivor_id))}
    order = sa.case({cid: i for i, cid in enumerate(from_ids)}, value=cc.contact_id)
    theirs = list(await uow.execute(sa.select(contact_companies).where(
        cc.org_id == org_id, cc.contact_id.in_(from_ids)).order_by(order, cc.is_primary.desc(), cc.created_at)))
    await uow.execute(contact_companies.delete().where(cc.org_id == org_id, cc.contact_id.in_(from_ids)))
    has_primary = any(own.values())
    moved: list[str] = []
    for link in theirs:
        if link.company_id in own:
            continue
        primary = link.is_primary and not has_primary
        has_primary = has_primary or primary
        await uow.execute(contact_companies.insert(), {
            "org_id": org_id, "contact_id": survivor_id, "company_id": link.company_id, "is_primary": primary,
            "role": link.role, "title": link.title, "created_at": link.created_at})
        own[link.company_id] = primary
        moved.append(link.company_id)
    return moved


async def _move_deal_contacts(uow: UnitOfWork, org_id: str, survivor_id: str, from_ids: list[str]) -> int:
    """The survivor takes the merged contacts' places on deals; on a deal it is already on (or that
    two merged contacts shared) it keeps one row, its own role first. Returns the rows moved."""
    dc = deal_contacts.c
    on = set((await uow.execute(sa.select(dc.deal_id).where(dc.org_id == org_id, dc.contact_id == survivor_id)))
             .scalars())
    theirs = list(await uow.execute(sa.select(dc.deal_id, dc.contact_id).where(
        dc.org_id == org_id, dc.contact_id.in_(from_ids)).order_by(dc.deal_id, dc.created_at, dc.contact_id)))
    moved = 0
    for row in theirs:
        where = (dc.org_id == org_id, dc.deal_id == row.deal_id, dc.contact_id == row.contact_id)
        if row.deal_id in on:
            await uow.execute(deal_contacts.delete().where(*where))
            continue
        await uow.execute(deal_contacts.update().where(*where).values(contact_id=survivor_id))
        on.add(row.deal_id)
        moved += 1
    return moved


async def _repoint(uow: UnitOfWork, table: sa.Table, col: sa.Column[Any], org_id: str, survivor_id: str,
                   from_ids: list[str], *, bump: bool = False) -> int:
    """Point ``col`` of ``table``'s rows from any merged contact to the survivor; returns how many."""
    values: dict[str, Any] = {col.name: survivor_id}
    if bump:  # a versioned record changed: If-Match holders must notice
        values.update(updated_at=clock.now(), version=table.c.version + 1)
    where = [table.c.org_id == org_id, col.in_(from_ids)]
    if table is contacts:
        where.append(table.c.id != survivor_id)  # the survivor's own manager link is model.merged_values' job
    res = await uow.execute(table.update().where(*where).values(**values))
    return int(res.rowcount)


async def _inherit_timelines(uow: UnitOfWork, org_id: str, survivor_id: str, from_ids: list[str]) -> None:
    """Index the merged contacts' events under the survivor too, so its timeline tells their history."""
    er = event_refs.c
    theirs = sa.select(er.event_id).where(er.org_id == org_id, er.record_id.in_(from_ids)).distinct()
    mine = sa.select(er.event_id).where(er.org_id == org_id, er.record_id == survivor_id)
    known = set((await uow.execute(mine)).scalars())
    new = [e for e in (await uow.execute(theirs)).scalars() if e not in known]
    if new:
        await uow.execute(event_refs.insert(), [{"org_id": org_id, "record_id": survivor_id, "event_id": e}
                                                for e in new])
