"""Deal use cases: CRUD (through ``kith.records.crud`` with the deal's ``Kind``), the contacts a
deal involves, reassigning, and the state-machine verbs of ``kith.deals.closing``.

Other slices call, inside their own transaction (the call joins it):
- ``create_deal(uow, actor, cmd, extra={"lead_id": …})`` — lead conversion; no pipeline given →
  the org's default pipeline, first open stage.
- ``win_deal(uow, actor, deal_id, WinDeal())`` — the sales-process workflow's closing stage.
- ``move_stage(uow, actor, deal_id, MoveStage(stage_id=…))``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import require, visible_owner_ids
from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.deals import closing, lines, repo
from kith.deals.closing import locked, record, write
from kith.deals.records import KIND, new_deal_values
from kith.deals.schemas import DealContactIn, DealCreate, DealPatch, LoseDeal, MoveStage, Reassign, ReopenDeal, WinDeal
from kith.deals.tables import deal_contacts, deals
from kith.notifications.service import notify
from kith.records import crud

__all__ = [
    "KIND", "abandon_deal", "add_contact", "create_deal", "delete_deal", "get_deal", "list_deals", "lose_deal",
    "move_stage", "reassign_deal", "remove_contact", "reopen_deal", "restore_deal", "update_deal", "win_deal",
]

Deal = dict[str, Any]


async def create_deal(uow: UnitOfWork, actor: Actor, cmd: DealCreate, *, extra: dict[str, Any] | None = None
                      ) -> Deal:
    """A new open deal (rows + ``deal.created``), with its line items and contacts. ``extra`` sets
    columns the request cannot (``lead_id``). Joins an outer transaction."""
    require(actor, "deal:create")
    async with uow.transaction(write=True):
        values, items = await new_deal_values(uow, actor, cmd, extra or {})
        row = await crud.create(uow, actor, KIND, cmd, extra={**(extra or {}), **values})
        if items:
            await lines.replace(uow, actor.org_id, row["id"], items)
        links = [link for link in (cmd.contacts or [])]
        if links:
            now = clock.now()
            await uow.execute(deal_contacts.insert(), [
                {"org_id": actor.org_id, "deal_id": row["id"], "contact_id": link.contact_id, "role": link.role,
                 "created_at": now} for link in {link.contact_id: link for link in links}.values()])
        out = repo.present(row)
        await repo.expand(uow, actor, [out], ("line_items",) if items else ())
    return out


async def get_deal(uow: UnitOfWork, actor: Actor, deal_id: str, include: tuple[str, ...] = ()) -> Deal:
    row = repo.present(await crud.get(uow, actor, KIND, deal_id))
    if include:
        async with uow.transaction():
            await repo.expand(uow, actor, [row], include)
    return row


async def list_deals(uow: UnitOfWork, actor: Actor, query: ListQuery, include: tuple[str, ...] = ()) -> Page:
    """Keyset-paginated deals the caller may see, filtered by field name (``repo.FILTERS``)."""
    owners = visible_owner_ids(actor, "deal")
    c = deals.c
    stmt = sa.select(*KIND.columns).where(c.org_id == actor.org_id, c.deleted_at.is_(None))
    if owners is not None:
        stmt = stmt.where(c.owner_id.in_(sorted(owners)))
    errors: list[FieldError] = []
    for name, raw in query.filters.items():
        fn = repo.FILTERS.get(name)
        if fn is None:
            errors.append(FieldError(name, f"unknown filter; filter by one of {sorted(repo.FILTERS)}"))
            continue
        try:
            stmt = stmt.where(fn(actor.org_id, raw))
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    sort = query.sort if query.sort != "relevance" else "-created_at"
    if query.q is not None:  # titles are short: a substring match is what people expect here
        stmt = stmt.where(sa.func.lower(c.title).contains(query.q.lower(), autoescape=True))
    sort_name, desc = parse_sort(sort, repo.SORTABLE)
    query = ListQuery(limit=query.limit, cursor=query.cursor, sort=sort, filters=query.filters, q=query.q)
    stmt = keyset(stmt, sort_col=c[sort_name], id_col=c.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [crud.out(r) for r in await uow.execute(stmt)]
        result = page(rows, query, sort_name)
        data = [repo.present(r) for r in result.data]
        if include:
            await repo.expand(uow, actor, data, include)
    return Page(data, result.next_cursor)


async def update_deal(uow: UnitOfWork, actor: Actor, deal_id: str, patch: DealPatch,
                      expected_version: int | None = None) -> Deal:
    """PATCH: only the fields sent change (see ``kith.deals.records`` for value, line items and
    probability). Status and stage change only through their verbs."""
    from kith.workflows import repo as workflow_repo
    from kith.workflows import service as workflows

    async with uow.transaction(write=True):
        # Locked now (crud.update locks it too), so the owner read here is the one the PATCH replaces.
        was = (await workflow_repo.deal(uow, actor.org_id, deal_id, for_update=True)
               if "owner_id" in patch.model_fields_set else None)
        row = await crud.update(uow, actor, KIND, deal_id, patch, expected_version)
        if was is not None:
            await workflows.deal_reassigned(uow, actor, deal_id, was["owner_id"], row["owner_id"])
        out = repo.present(row)
        if patch.line_items is not None:
            await repo.expand(uow, actor, [out], ("line_items",))
    return out


async def delete_deal(uow: UnitOfWork, actor: Actor, deal_id: str, *, permanent: bool = False,
                      retention_days: int = 30, expected_version: int | None = None) -> None:
    """To the trash (or erased with ``permanent``); its active sales-process workflow is cancelled."""
    from kith.workflows import service as workflows

    async with uow.transaction(write=True):
        await crud.delete(uow, actor, KIND, deal_id, permanent=permanent, retention_days=retention_days,
                          expected_version=expected_version)
        await workflows.deal_closed(uow, actor, deal_id, "deleted")


async def restore_deal(uow: UnitOfWork, actor: Actor, deal_id: str, *, retention_days: int = 30) -> Deal:
    return repo.present(await crud.restore(uow, actor, KIND, deal_id, retention_days=retention_days))


async def reassign_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: Reassign) -> Deal:
    """Give the deal another owner (deal:reassign: crm-admin, sales-manager); the new owner is told
    and takes over the open tasks of the deal's workflow."""
    from kith.workflows import service as workflows

    require(actor, "deal:reassign")
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:read")
        await repo.active_user(uow, actor.org_id, cmd.owner_id)
        if deal["owner_id"] == cmd.owner_id:
            return repo.present(deal)
        after = await write(uow, actor, deal, {"owner_id": cmd.owner_id})
        await record(uow, actor, "deal.assigned", after, {"before": {"owner_id": deal["owner_id"]},
                                                          "after": {"owner_id": cmd.owner_id}})
        await workflows.deal_reassigned(uow, actor, deal_id, deal["owner_id"], cmd.owner_id)
        if cmd.owner_id != actor.user_id:
            await notify(uow, actor.org_id, cmd.owner_id, "deal.assigned", f"Deal assigned to you: {deal['title']}",
                         subject_type="deal", subject_id=deal_id, data={"deal_id": deal_id})
    return repo.present(after)


# --- the state machine (``kith.deals.closing``), presented ------------------------------------------------

async def move_stage(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: MoveStage) -> Deal:
    return repo.present(await closing.move_stage(uow, actor, deal_id, cmd))


async def win_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: WinDeal) -> Deal:
    """open → won with the rules of seed 004 §6. Joins an outer transaction."""
    return repo.present(await closing.win_deal(uow, actor, deal_id, cmd))


async def lose_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: LoseDeal) -> Deal:
    return repo.present(await closing.lose_deal(uow, actor, deal_id, cmd))


async def abandon_deal(uow: UnitOfWork, actor: Actor, deal_id: str) -> Deal:
    return repo.present(await closing.abandon_deal(uow, actor, deal_id))


async def reopen_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: ReopenDeal) -> Deal:
    return repo.present(await closing.reopen_deal(uow, actor, deal_id, cmd))


# --- the contacts a deal involves ----------------------------------------------------------------------

async def add_contact(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: DealContactIn) -> tuple[list[Deal], bool]:
    """Add a contact to the deal with a role label (or change its label). Returns the deal's
    contacts and whether a new link was made. Needs deal:update on the deal."""
    dc = deal_contacts.c
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:update")
        await repo.check_contact(uow, actor.org_id, cmd.contact_id)
        key = (dc.org_id == actor.org_id, dc.deal_id == deal_id, dc.contact_id == cmd.contact_id)
        current = (await uow.execute(sa.select(dc.role).where(*key))).first()
        if current is None:
            await uow.execute(deal_contacts.insert(), {"org_id": actor.org_id, "deal_id": deal_id,
                                                       "contact_id": cmd.contact_id, "role": cmd.role,
                                                       "created_at": clock.now()})
        elif current.role != cmd.role:
            await uow.execute(deal_contacts.update().where(*key).values(role=cmd.role))
        if current is None or current.role != cmd.role:
            await uow.execute(deals.update().where(deals.c.org_id == actor.org_id, deals.c.id == deal_id)
                              .values(updated_at=clock.now()))
            await uow.record(actor.org_id, "deal.contact-linked", subject_type="deal", subject_id=deal_id,
                             actor_id=actor.id, actor_type=actor.kind, refs=(cmd.contact_id,),
                             data={"contact_id": cmd.contact_id, "role": cmd.role,
                                   "before": None if current is None else {"role": current.role}})
        people = (await repo.contacts_of(uow, actor.org_id, [deal]))[deal_id]
    return people, current is None


async def remove_contact(uow: UnitOfWork, actor: Actor, deal_id: str, contact_id: str) -> None:
    dc = deal_contacts.c
    async with uow.transaction(write=True):
        await locked(uow, actor, deal_id, "deal:update")
        key = (dc.org_id == actor.org_id, dc.deal_id == deal_id, dc.contact_id == contact_id)
        if (await uow.execute(sa.select(dc.contact_id).where(*key))).first() is None:
            raise NotFound(f"contact {contact_id!r} is not on deal {deal_id!r}", extra={"id": contact_id})
        await uow.execute(deal_contacts.delete().where(*key))
        await uow.record(actor.org_id, "deal.contact-unlinked", subject_type="deal", subject_id=deal_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(contact_id,),
                         data={"contact_id": contact_id})


async def contact_deals(uow: UnitOfWork, actor: Actor, contact_id: str, query: ListQuery) -> Page:
    """The deals involving a contact (primary or listed) that the caller may see."""
    from kith.contacts.service import KIND as CONTACT

    await crud.get(uow, actor, CONTACT, contact_id)
    filters = {**query.filters, "contact_id": contact_id}
    return await list_deals(uow, actor, ListQuery(limit=query.limit, cursor=query.cursor, sort=query.sort,
                                                  filters=filters, q=query.q))
