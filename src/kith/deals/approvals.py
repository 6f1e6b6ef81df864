"""High-value approval requests (DESIGN §5.3, seed 004 rule ``high-value-deal-approval``).

- The deal's owner, or anyone who may update the deal, asks: ``request_approval`` creates a
  pending request for the deal's current value and notifies the owner's manager (every active
  sales-manager when the owner has none).
- A sales-manager or crm-admin (``deal:approve``) approves or rejects it; the requester is told.
  Nobody answers their own request, except a crm-admin (the one-person org).
- Winning needs an approved request for exactly the deal's current value: changing the value
  cancels pending and approved requests (``kith.deals.repo.cancel_approvals``).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from kith import rules
from kith.auth.access import check_record, require, visible_owner_ids
from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.deals import model, repo
from kith.deals.closing import locked
from kith.deals.schemas import ApprovalAnswer, ApprovalRequestIn
from kith.deals.tables import approvals, deals
from kith.notifications.service import notify
from kith.records import filters as f

RULE = "high-value-deal-approval"
EVENTS = {"approved": "approval.approved", "rejected": "approval.rejected"}
OUT = [c for c in approvals.c if c.name != "org_id"]


def present(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("amount", "currency", "org_id")}
    out["value"] = {"amount": str(row["amount"]), "currency": row["currency"]}
    return out


async def request_approval(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: ApprovalRequestIn) -> dict[str, Any]:
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:update")
        if deal["status"] != "open":
            raise Conflict(f"the deal is {deal['status']}: only an open deal needs approval to close",
                           extra={"deal_status": deal["status"]})
        settings = await repo.org_settings(uow, actor.org_id)
        if not rules.is_high_value(deal["amount"], deal["currency"], settings):
            raise Conflict("the deal is below the org's high-value threshold: it needs no approval",
                           extra={"rule": RULE})
        a = approvals.c
        live = (await uow.execute(sa.select(a.id, a.status).where(
            a.org_id == actor.org_id, a.deal_id == deal_id, a.status.in_(("pending", "approved"))))).first()
        if live is not None:
            raise Conflict(f"the deal already has an {live.status} request for its value",
                           extra={"approval_id": live.id, "approval_status": live.status})
        row = {"org_id": actor.org_id, "id": ids.new("approval"), "deal_id": deal_id, "rule": RULE,
               "status": "pending", "amount": deal["amount"], "currency": deal["currency"],
               "requested_by": actor.user_id or "system", "note": cmd.note, "decided_by": None, "decided_at": None,
               "comment": None, "created_at": clock.now(), "version": 1}
        await uow.execute(approvals.insert(), row)
        await uow.record(actor.org_id, "approval.requested", subject_type="approval", subject_id=row["id"],
                         actor_id=actor.id, actor_type=actor.kind, refs=(deal_id,),
                         data={"deal_id": deal_id, "value": {"amount": str(deal["amount"]),
                                                             "currency": deal["currency"]}, "note": cmd.note})
        manager = await repo.manager_of(uow, actor.org_id, deal["owner_id"])
        approvers = [manager] if manager else await repo.sales_managers(uow, actor.org_id)
        for user_id in approvers:
            await notify(uow, actor.org_id, user_id, "approval.requested",
                         f"Approval requested: {deal['title']} ({deal['amount']} {deal['currency']})",
                         subject_type="approval", subject_id=row["id"],
                         data={"deal_id": deal_id, "approval_id": row["id"]})
    return present(row)


async def answer(uow: UnitOfWork, actor: Actor, approval_id: str, verdict: Literal["approved", "rejected"],
                 cmd: ApprovalAnswer) -> dict[str, Any]:
    require(actor, "deal:approve")
    a = approvals.c
    async with uow.transaction(write=True):
        q = sa.select(*OUT).where(a.org_id == actor.org_id, a.id == approval_id)
        if uow.backend == "postgresql":
            q = q.with_for_update()
        found = (await uow.execute(q)).first()
        if found is None:
            raise NotFound(f"approval {approval_id!r} does not exist", extra={"id": approval_id})
        row = dict(found._mapping)
        model.assert_approval_transition(row["status"], verdict)
        if row["requested_by"] == actor.user_id and "crm-admin" not in actor.roles:
            raise Forbidden("you cannot answer your own approval request", extra={"permission": "deal:approve"})
        values = {"status": verdict, "decided_by": actor.user_id, "decided_at": clock.now(), "comment": cmd.comment,
                  "version": row["version"] + 1}
        res = await uow.execute(approvals.update().where(a.org_id == actor.org_id, a.id == approval_id,
                                                         a.version == row["version"]).values(**values))
        if res.rowcount != 1:
            raise Conflict("the approval request changed while you answered it; read it again")
        row.update(values)
        await uow.record(actor.org_id, EVENTS[verdict], subject_type="approval", subject_id=approval_id,
                         actor_id=actor.id, actor_type=actor.kind, refs=(row["deal_id"],),
                         data={"deal_id": row["deal_id"], "comment": cmd.comment,
                               "before": {"status": "pending"}, "after": {"status": verdict}})
        await notify(uow, actor.org_id, row["requested_by"], "approval.answered",
                     f"Your approval request was {verdict}", subject_type="approval", subject_id=approval_id,
                     data={"deal_id": row["deal_id"], "approval_id": approval_id, "status": verdict,
                           "comment": cmd.comment})
    return present(row)


async def get_approval(uow: UnitOfWork, actor: Actor, approval_id: str) -> dict[str, Any]:
    a = approvals.c
    async with uow.transaction():
        q = (sa.select(*OUT, deals.c.owner_id.label("_owner"))
             .select_from(approvals.join(deals, sa.and_(deals.c.org_id == a.org_id, deals.c.id == a.deal_id)))
             .where(a.org_id == actor.org_id, a.id == approval_id, deals.c.deleted_at.is_(None)))
        found = (await uow.execute(q)).first()
    if found is None:
        raise NotFound(f"approval {approval_id!r} does not exist", extra={"id": approval_id})
    row = dict(found._mapping)
    owner = row.pop("_owner")
    if row["requested_by"] != actor.user_id:
        check_record(actor, "deal:read", owner, kind="approval", record_id=approval_id)
    return present(row)


FILTERS = {
    "status": f.eq(approvals.c.status, choices=model.APPROVAL_STATUSES),
    "deal_id": f.eq(approvals.c.deal_id, max_length=40),
    "requested_by": f.eq(approvals.c.requested_by, max_length=40),
}


async def list_approvals(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    """Requests on deals the caller may see (an approver sees them all), newest first by default."""
    a = approvals.c
    owners = visible_owner_ids(actor, "deal")
    stmt = (sa.select(*OUT)
            .select_from(approvals.join(deals, sa.and_(deals.c.org_id == a.org_id, deals.c.id == a.deal_id)))
            .where(a.org_id == actor.org_id, deals.c.deleted_at.is_(None)))
    if owners is not None:
        stmt = stmt.where(sa.or_(deals.c.owner_id.in_(sorted(owners)), a.requested_by == actor.user_id))
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
    if query.q is not None:
        errors.append(FieldError("q", "approvals have no text search"))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    sort_name, desc = parse_sort(query.sort, ("created_at", "id"))
    stmt = keyset(stmt, sort_col=a[sort_name], id_col=a.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    result = page(rows, query, sort_name)
    return Page([present(r) for r in result.data], result.next_cursor)
