"""The deal's state machine driven: move-stage, won, lost, abandon, reopen (seed 004 §4, §5, §6).

Each verb is one transaction: lock the deal, decide the caller's grant, check the machine
(``model``) and the rules (``kith.rules``), write the row and the verb's event(s). Moving a deal
into a won/lost outcome stage is the same as marking it won/lost (same rules, same events).

``deal.won`` (seed 004 "Deal Won"), in the same transaction: the deal's contact moves to stage
``customer`` along the contact stage machine (lead → qualified → customer; one ``contact.updated``
event with ``data.reason = "deal.won"``; a churned or partner contact is left as it is, since the
machine has no edge from there to customer), and the owner's manager gets a ``deal.won``
notification. A deal closed by hand ends its sales-process workflow (``kith.workflows``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith import rules
from kith.auth.access import check_record
from kith.auth.model import Actor
from kith.contacts import model as contact_model
from kith.contacts.tables import contacts
from kith.core import clock, hooks
from kith.core.db import Prepared
from kith.core.errors import InvalidTransition, NotFound, PreconditionFailed, invalid
from kith.core.uow import UnitOfWork
from kith.deals import model, repo
from kith.deals.records import KIND
from kith.deals.schemas import LoseDeal, MoveStage, ReopenDeal, WinDeal
from kith.deals.tables import approvals, deals
from kith.notifications.service import notify
from kith.pipelines import repo as pipelines
from kith.pipelines.tables import stages
from kith.records import service as rec

Deal = dict[str, Any]


# --- shared steps ----------------------------------------------------------------------------------

# The verbs' own reads and writes of the deal row are prepared once (kith.core.db.Prepared): every
# move-stage runs them, and building Core statements per call costs more than the database does.
_t = deals.c
_LIVE = sa.select(*KIND.columns).where(_t.org_id == sa.bindparam("org_id"), _t.id == sa.bindparam("deal_id"),
                                       _t.deleted_at.is_(None))
_LOAD = Prepared(_LIVE)
_LOAD_LOCKED = Prepared(_LIVE.with_for_update())
_UPDATES: dict[tuple[str, ...], Prepared] = {}


def _update(keys: tuple[str, ...]) -> Prepared:
    """The version-checked UPDATE of the deal setting exactly ``keys`` (cached per key set)."""
    p = _UPDATES.get(keys)
    if p is None:
        stmt = deals.update().where(_t.org_id == sa.bindparam("w_org"), _t.id == sa.bindparam("w_id"),
                                    _t.version == sa.bindparam("w_version"))
        p = _UPDATES[keys] = Prepared(stmt, column_keys=keys)
    return p


async def locked(uow: UnitOfWork, actor: Actor, deal_id: str, permission: str) -> Deal:
    """The live deal (row-locked on PostgreSQL), after deciding ``permission`` on it."""
    row = await uow.row(_LOAD_LOCKED if uow.backend == "postgresql" else _LOAD,
                        {"org_id": actor.org_id, "deal_id": deal_id})
    if row is None:
        raise NotFound(f"deal {deal_id!r} does not exist", extra={"id": deal_id})
    check_record(actor, permission, row["owner_id"], kind="deal", record_id=deal_id)
    return dict(row)


async def write(uow: UnitOfWork, actor: Actor, deal: Deal, values: dict[str, Any]) -> Deal:
    """Write ``values`` to a deal read in this transaction; bumps its version."""
    values = {**values, "updated_at": clock.now(), "version": deal["version"] + 1}
    done = await uow.run(_update(tuple(sorted(values))),
                         {**values, "w_org": actor.org_id, "w_id": deal["id"], "w_version": deal["version"]})
    if done != 1:  # a concurrent writer won the race between our read and write
        raise PreconditionFailed("the deal changed while this verb ran; try again")
    return {**deal, **values}


async def record(uow: UnitOfWork, actor: Actor, type_: str, deal: Deal, data: dict[str, Any]) -> None:
    refs = tuple(r for r in (deal.get("contact_id"), deal.get("company_id")) if r)
    await uow.record(actor.org_id, type_, subject_type="deal", subject_id=deal["id"], actor_id=actor.id,
                     actor_type=actor.kind, refs=refs, data=data)


def _changes(before: Deal, after: Deal) -> dict[str, Any]:
    old, new = rec.diff(before, {k: v for k, v in after.items() if k not in ("updated_at", "version")})
    return {"before": old, "after": new}


async def _stage(uow: UnitOfWork, actor: Actor, deal: Deal, stage_id: str) -> dict[str, Any]:
    stage = await pipelines.deal_stage(uow, actor.org_id, stage_id)
    if stage["pipeline_id"] != deal["pipeline_id"]:
        raise invalid("stage_id", "the stage is not one of the deal's pipeline")
    return stage


async def _outcome_stage(uow: UnitOfWork, org_id: str, pipeline_id: str, outcome: str) -> dict[str, Any] | None:
    q = (sa.select(*pipelines.STAGE_OUT).where(stages.c.org_id == org_id, stages.c.pipeline_id == pipeline_id,
                                              stages.c.outcome == outcome)
         .order_by(stages.c.position, stages.c.id).limit(1))
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


def _enter_stage(deal: Deal, stage: dict[str, Any] | None) -> dict[str, Any]:
    """The columns that change when ``deal`` enters ``stage`` (nothing for no stage or its own)."""
    if stage is None or stage["id"] == deal["stage_id"]:
        return {}
    return {"stage_id": stage["id"], "stage_changed_at": clock.now(),
            "probability": model.probability(stage["probability"], deal["probability"],
                                             deal["probability_override"])}


async def _hooked(uow: UnitOfWork, actor: Actor, verb: str, deal: Deal, values: dict[str, Any]) -> hooks.Command:
    cmd = hooks.Command(f"deal.{verb}", actor, deal["id"], values)
    await hooks.run_before(cmd.verb, deal, cmd)
    return cmd


async def _end_workflow(uow: UnitOfWork, actor: Actor, deal_id: str, status: str) -> None:
    from kith.workflows import service as workflows  # workflows drive deals: imported here

    await workflows.deal_closed(uow, actor, deal_id, status)


# --- move-stage ----------------------------------------------------------------------------------------

async def move_stage(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: MoveStage) -> Deal:
    """Move an open deal to another stage of its pipeline. A won/lost outcome stage closes the deal
    through ``win_deal`` / ``lose_deal`` (their rules apply). The same stage again changes nothing."""
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:update")
        stage = await _stage(uow, actor, deal, cmd.stage_id)
        if stage["id"] == deal["stage_id"]:
            return deal
        if stage["outcome"] == "won":
            return await win_deal(uow, actor, deal_id, WinDeal(), stage_id=stage["id"])
        if stage["outcome"] == "lost":
            return await lose_deal(uow, actor, deal_id, LoseDeal(reason=cmd.reason), stage_id=stage["id"])
        if deal["status"] != "open":
            raise InvalidTransition(f"a {deal['status']} deal does not move between stages: reopen it first",
                                    extra={"from": deal["status"], "to": deal["status"]})
        command = await _hooked(uow, actor, "move-stage", deal, {"stage_id": stage["id"]})
        after = await write(uow, actor, deal, _enter_stage(deal, stage))
        await record(uow, actor, "deal.stage-moved", after, {
            "from_stage_id": deal["stage_id"], "to_stage_id": stage["id"], **_changes(deal, after)})
        hooks.run_after(uow, "deal.stage-moved", after, command)
    return after


# --- won -----------------------------------------------------------------------------------------------

async def approved(uow: UnitOfWork, org_id: str, deal: Deal) -> bool:
    """An approved request exists for exactly the deal's current value."""
    a = approvals.c
    q = sa.select(a.id).where(a.org_id == org_id, a.deal_id == deal["id"], a.status == "approved",
                              a.amount == deal["amount"], a.currency == deal["currency"]).limit(1)
    return (await uow.execute(q)).first() is not None


async def win_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: WinDeal, *, stage_id: str | None = None
                   ) -> Deal:
    """open → won. Rules: ``deal-won-requires-close-date``, ``high-value-deal-approval``. The deal
    moves to ``stage_id`` (an outcome stage) or its pipeline's won stage, if it has one. Joins an
    outer transaction (the sales-process workflow wins deals through here)."""
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:close-won")
        model.assert_transition(deal["status"], "won")
        close_date = cmd.expected_close_date or deal["expected_close_date"]
        settings = await repo.org_settings(uow, actor.org_id)
        rules.check("deal-won-requires-close-date", {"expected_close_date": close_date}, settings)
        facts = {"amount": deal["amount"], "currency": deal["currency"]}
        if rules.is_high_value(deal["amount"], deal["currency"], settings):
            facts["approved"] = await approved(uow, actor.org_id, deal)
        rules.check("high-value-deal-approval", facts, settings)
        stage = (await _stage(uow, actor, deal, stage_id) if stage_id
                 else await _outcome_stage(uow, actor.org_id, deal["pipeline_id"], "won"))
        command = await _hooked(uow, actor, "win", deal, cmd.model_dump(mode="json", exclude_unset=True))
        now = clock.now()
        values = {"status": "won", "expected_close_date": close_date, "lost_reason": None,
                  **model.closing_stamps("won", now), **_enter_stage(deal, stage)}
        after = await write(uow, actor, deal, values)
        await _moved(uow, actor, deal, after)
        contact_change = await _contact_becomes_customer(uow, actor, after)
        await record(uow, actor, "deal.won", after, {
            **_changes(deal, after), "value": {"amount": str(after["amount"]), "currency": after["currency"]},
            "contact_stage": contact_change})
        manager = await repo.manager_of(uow, actor.org_id, after["owner_id"])
        await notify(uow, actor.org_id, manager, "deal.won", f"Deal won: {after['title']}"[:300],
                     subject_type="deal", subject_id=deal_id,
                     data={"deal_id": deal_id, "owner_id": after["owner_id"],
                           "value": {"amount": str(after["amount"]), "currency": after["currency"]}})
        await _end_workflow(uow, actor, deal_id, "won")
        hooks.run_after(uow, "deal.won", after, command)
    return after


async def _moved(uow: UnitOfWork, actor: Actor, before: Deal, after: Deal) -> None:
    if after["stage_id"] != before["stage_id"]:
        await record(uow, actor, "deal.stage-moved", after, {
            "from_stage_id": before["stage_id"], "to_stage_id": after["stage_id"], "status": after["status"]})


async def _contact_becomes_customer(uow: UnitOfWork, actor: Actor, deal: Deal) -> dict[str, Any] | None:
    """Seed 004 "Deal Won" step 1, within the contact stage machine (see the module docstring)."""
    from kith.contacts.verbs import write_contact  # contacts import leads import deals: imported here

    if not deal.get("contact_id"):
        return None
    c = contacts.c
    q = sa.select(*[col for col in contacts.c if col.name not in ("org_id", "deleted_at")]).where(
        c.org_id == actor.org_id, c.id == deal["contact_id"], c.deleted_at.is_(None))
    if uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        return None
    contact = dict(row._mapping)
    before = contact["stage"]
    path = customer_path(before)
    if not path:
        return {"contact_id": contact["id"], "before": before, "after": before, "changed": False}
    for step in path:
        contact_model.assert_stage_change_allowed(contact["stage"], step)
        contact["stage"] = step
    contact["stage"] = before
    await write_contact(uow, actor, contact, {"stage": "customer"})
    await uow.record(actor.org_id, "contact.updated", subject_type="contact", subject_id=contact["id"],
                     actor_id=actor.id, actor_type=actor.kind, refs=(deal["id"],),
                     data={"before": {"stage": before}, "after": {"stage": "customer"}, "reason": "deal.won",
                           "deal_id": deal["id"], "path": path})
    return {"contact_id": contact["id"], "before": before, "after": "customer", "changed": True}


def customer_path(stage: str) -> list[str]:
    """The stages a contact walks through to ``customer`` (empty: already there, or no way)."""
    if stage == "customer":
        return []
    if "customer" in contact_model.TRANSITIONS[stage]:
        return ["customer"]
    for middle in sorted(contact_model.TRANSITIONS[stage]):
        if "customer" in contact_model.TRANSITIONS[middle]:
            return [middle, "customer"]
    return []


# --- lost, abandoned, reopen ----------------------------------------------------------------------------

async def lose_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: LoseDeal, *, stage_id: str | None = None
                    ) -> Deal:
    """open → lost. Rule ``deal-lost-requires-reason``. The deal moves to ``stage_id`` or its
    pipeline's lost stage, if it has one."""
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:close-lost")
        model.assert_transition(deal["status"], "lost")
        settings = await repo.org_settings(uow, actor.org_id)
        rules.check("deal-lost-requires-reason", {"lost_reason": cmd.reason}, settings)
        stage = (await _stage(uow, actor, deal, stage_id) if stage_id
                 else await _outcome_stage(uow, actor.org_id, deal["pipeline_id"], "lost"))
        command = await _hooked(uow, actor, "lose", deal, cmd.model_dump(mode="json"))
        values = {"status": "lost", "lost_reason": cmd.reason, **model.closing_stamps("lost", clock.now()),
                  **_enter_stage(deal, stage)}
        after = await write(uow, actor, deal, values)
        await _moved(uow, actor, deal, after)
        await record(uow, actor, "deal.lost", after, {**_changes(deal, after), "reason": cmd.reason})
        await _end_workflow(uow, actor, deal_id, "lost")
        hooks.run_after(uow, "deal.lost", after, command)
    return after


async def abandon_deal(uow: UnitOfWork, actor: Actor, deal_id: str) -> Deal:
    """open → abandoned (nobody pursues it any more; not lost to a competitor). Needs
    deal:close-lost: it closes the deal without winning it."""
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:close-lost")
        model.assert_transition(deal["status"], "abandoned")
        command = await _hooked(uow, actor, "abandon", deal, {})
        stamps = model.closing_stamps("abandoned", clock.now())
        after = await write(uow, actor, deal, {"status": "abandoned", **stamps})
        await record(uow, actor, "deal.abandoned", after, _changes(deal, after))
        await _end_workflow(uow, actor, deal_id, "abandoned")
        hooks.run_after(uow, "deal.abandoned", after, command)
    return after


async def reopen_deal(uow: UnitOfWork, actor: Actor, deal_id: str, cmd: ReopenDeal) -> Deal:
    """won → open within 30 days of closing (needs deal:close-won: it undoes a win). won_at and
    closed_at are cleared; a deal sitting in an outcome stage goes back to an open one."""
    async with uow.transaction(write=True):
        deal = await locked(uow, actor, deal_id, "deal:close-won")
        model.assert_can_reopen(deal["status"], deal["closed_at"], clock.now())
        stage = await _reopen_stage(uow, actor, deal, cmd.stage_id)
        command = await _hooked(uow, actor, "reopen", deal, cmd.model_dump(exclude_unset=True))
        values = {"status": "open", **model.closing_stamps("open", clock.now()), **_enter_stage(deal, stage)}
        after = await write(uow, actor, deal, values)
        await _moved(uow, actor, deal, after)
        await record(uow, actor, "deal.reopened", after, _changes(deal, after))
        hooks.run_after(uow, "deal.reopened", after, command)
    return after


async def _reopen_stage(uow: UnitOfWork, actor: Actor, deal: Deal, stage_id: str | None) -> dict[str, Any] | None:
    if stage_id is not None:
        stage = await _stage(uow, actor, deal, stage_id)
        if stage["outcome"] is not None:
            raise invalid("stage_id", "reopen into an open stage")
        return stage
    current = await pipelines.deal_stage(uow, actor.org_id, deal["stage_id"])
    if current["outcome"] is None:
        return None
    q = (sa.select(*pipelines.STAGE_OUT).where(stages.c.org_id == actor.org_id,
                                              stages.c.pipeline_id == deal["pipeline_id"],
                                              stages.c.outcome.is_(None))
         .order_by(stages.c.position.desc(), stages.c.id.desc()).limit(1))
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)
