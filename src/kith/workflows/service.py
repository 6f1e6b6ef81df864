"""Sales-process workflow use cases (seed 004 §7).

Every function here joins the caller's transaction when one is open (lead conversion starts a
workflow inside its own; completing a task advances the workflow inside ``complete_activity``'s),
so a refused step anywhere (e.g. the final win's ``deal-won-requires-close-date``) writes nothing.

- ``start_process``: creates the workflow in the template's first stage and that stage's tasks
  (activities of type ``task`` with ``metadata.workflow_id / stage / task_key``): sales-rep tasks go to
  the deal's owner, sales-manager tasks to the owner's manager, else any active sales-manager,
  else the owner.
- ``task_completed``: after a workflow task is completed, advances while ``model.decide`` says so;
  completing the last stage wins the deal through ``kith.deals.service.win_deal`` (same rules as
  a manual win), then ``workflow.completed``.
- ``confirm_guard`` / ``force_advance``: the two ways past a guard that tasks do not satisfy.
- ``deal_closed``: a deal won, lost or abandoned by hand ends its active workflow; a cancelled
  workflow closes its open tasks.
- ``deal_reassigned``: a deal's new owner takes over the workflow's open tasks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kith import rules
from kith.activities.tables import activities
from kith.auth.access import check_record, require
from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.errors import Conflict, NotFound, invalid
from kith.core.uow import UnitOfWork
from kith.orgs.schemas import OrgSettings
from kith.workflows import model, repo, templates
from kith.workflows.tables import workflow_tasks, workflows

DEFAULT_TEMPLATE = model.SALES_PROCESS.id
CANCELLED_OUTCOME = "cancelled"  # the outcome of a task closed because its workflow was cancelled


# --- verbs -------------------------------------------------------------------------------------

async def start_process(uow: UnitOfWork, actor: Actor, deal_id: str, *,
                        template_id: str = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Start ``template_id`` on an open deal (deal:update on it): 409 when the deal already runs an
    active workflow or is closed. Answers the workflow view."""
    async with uow.transaction(write=True):
        tpl, builtin = await templates.load_template(uow, actor.org_id, template_id)
        deal = await _deal_for(uow, actor, deal_id, "deal:update", for_update=True)
        if deal["status"] != "open":
            raise Conflict(f"deal {deal_id!r} is {deal['status']}: a workflow runs only on an open deal",
                           extra={"deal_status": deal["status"]})
        if await repo.latest_for_deal(uow, actor.org_id, deal_id, active_only=True) is not None:
            raise Conflict(f"deal {deal_id!r} already has an active workflow", extra={"id": deal_id})
        now = clock.now()
        wf: dict[str, Any] = {
            "org_id": actor.org_id, "id": ids.new("wf"), "deal_id": deal_id, "template_id": tpl.id,
            "template": model.template_as_dict(tpl, builtin=builtin), "status": "active",
            "current_stage": tpl.first.key,
            "history": [{"stage": tpl.first.key, "entered_at": now.isoformat(), "completed_at": None}],
            "confirmed": {}, "started_by": actor.id, "created_at": now, "updated_at": now,
            "completed_at": None, "cancelled_at": None, "version": 1}
        await uow.execute(workflows.insert(), wf)
        await _record(uow, actor, "workflow.started", wf, deal,
                      {"template_id": tpl.id, "stage": tpl.first.key})
        await _enter(uow, actor, wf, tpl, tpl.first, deal)
        await _run(uow, actor, wf, tpl, deal)  # a first stage with no tasks moves on at once
        return await _view(uow, actor.org_id, str(wf["id"]))


async def task_completed(uow: UnitOfWork, actor: Actor, activity_row: dict[str, Any]) -> None:
    """Called inside ``complete_activity``'s transaction for an activity whose metadata carries a
    ``workflow_id``. Advances the workflow as far as its guards allow; completing the last stage
    wins the deal (a refused win raises, and the caller's transaction — the task's completion
    included — rolls back). A finished workflow, or a task of an earlier stage, changes nothing."""
    meta = activity_row.get("metadata") or {}
    workflow_id = meta.get("workflow_id")
    if not isinstance(workflow_id, str):
        return
    async with uow.transaction(write=True):
        found = await repo.workflow(uow, actor.org_id, workflow_id)
        if found is None or found["status"] != "active":
            return
        # Locks in one order everywhere (deal, then workflow), so concurrent verbs cannot deadlock.
        deal = await repo.deal(uow, actor.org_id, found["deal_id"], for_update=True)
        wf = await repo.workflow(uow, actor.org_id, workflow_id, for_update=True)
        # Trust our own link table, not the activity's (user-editable) metadata.
        task = next((t for t in await repo.tasks(uow, actor.org_id, workflow_id)
                     if t["activity_id"] == activity_row.get("id")), None)
        if wf is None or wf["status"] != "active" or task is None:
            return
        if deal is None:  # in the trash: the workflow waits (restoring the deal resumes it)
            return
        if deal["status"] != "open":  # closed by a path that did not tell us
            await _end(uow, actor, wf, deal, deal["status"])
            return
        if task["stage"] != wf["current_stage"]:
            return
        await _run(uow, actor, wf, _tpl(wf), deal,
                   just_completed=str(activity_row.get("id")))


async def get_process(uow: UnitOfWork, actor: Actor, deal_id: str) -> dict[str, Any]:
    """The deal's active workflow, else its latest one (deal:read); 404 when it never had one."""
    async with uow.transaction():
        await _deal_for(uow, actor, deal_id, "deal:read")
        wf = await repo.latest_for_deal(uow, actor.org_id, deal_id)
        if wf is None:
            raise NotFound(f"deal {deal_id!r} has no workflow", extra={"id": deal_id})
        return await _view(uow, actor.org_id, wf["id"])


async def confirm_guard(uow: UnitOfWork, actor: Actor, deal_id: str, guard_id: str) -> dict[str, Any]:
    """Confirm a guard of kind ``confirmation`` (e.g. ``verbal-agreement``) on the deal's active
    workflow (deal:update), then advance as far as the guards allow. Confirming twice is a no-op."""
    async with uow.transaction(write=True):
        deal = await _deal_for(uow, actor, deal_id, "deal:update", for_update=True)
        wf = await _active(uow, actor, deal)
        tpl = _tpl(wf)
        guard = tpl.guards().get(guard_id)
        if guard is None or guard.kind != "confirmation":
            confirmable = sorted(g.id for g in tpl.guards().values() if g.kind == "confirmation")
            raise invalid("guard", f"{guard_id!r} is not a guard to confirm; guards to confirm are {confirmable}")
        if guard_id not in wf["confirmed"]:
            confirmed = {**wf["confirmed"], guard_id: {"by": actor.id, "at": clock.now().isoformat()}}
            await _update(uow, wf, confirmed=confirmed)
            await _record(uow, actor, "workflow.guard-confirmed", wf, deal,
                          {"guard": guard_id, "stage": wf["current_stage"]})
            await _run(uow, actor, wf, tpl, deal)
        return await _view(uow, actor.org_id, wf["id"])


async def force_advance(uow: UnitOfWork, actor: Actor, deal_id: str) -> dict[str, Any]:
    """Move the deal's active workflow past its current stage whatever its open tasks and the next
    guard say (deal:approve — sales-manager, crm-admin — on a deal they can see). The stage's open
    tasks stay open but no longer hold anything back. From the last stage this completes the
    workflow, which wins the deal with the usual rules."""
    require(actor, "deal:approve")
    async with uow.transaction(write=True):
        deal = await _deal_for(uow, actor, deal_id, "deal:read", for_update=True)
        wf = await _active(uow, actor, deal)
        tpl = _tpl(wf)
        nxt = tpl.next_stage(wf["current_stage"])
        if nxt is None:
            await _complete(uow, actor, wf, tpl, deal, forced=True)
        else:
            await _advance(uow, actor, wf, tpl, nxt, deal, forced=True)
            await _run(uow, actor, wf, tpl, deal)
        return await _view(uow, actor.org_id, wf["id"])


async def deal_closed(uow: UnitOfWork, actor: Actor, deal_id: str, status: str) -> None:
    """For the deals slice, inside its transaction: the deal was won, lost, abandoned (or deleted,
    ``status="deleted"``) by hand. Its active workflow completes (won) or is cancelled (otherwise).
    Nothing happens when it has no active workflow (e.g. the workflow itself is winning it)."""
    async with uow.transaction(write=True):
        wf = await repo.latest_for_deal(uow, actor.org_id, deal_id, active_only=True, for_update=True)
        if wf is None:
            return
        deal = await repo.deal(uow, actor.org_id, deal_id)
        await _end(uow, actor, wf, deal, status)


async def deal_reassigned(uow: UnitOfWork, actor: Actor, deal_id: str, old_owner: str | None,
                          new_owner: str | None) -> None:
    """For the deals slice, inside its transaction, after the deal's owner changed (reassign verb or
    PATCH): the active workflow's open tasks that went to the old owner's side move to the new
    owner's — a sales-rep task from the old owner to the new one, a sales-manager task from the old
    owner's manager to the new owner's. A task someone handed to another person by hand stays."""
    if old_owner == new_owner:
        return
    async with uow.transaction(write=True):
        wf = await repo.latest_for_deal(uow, actor.org_id, deal_id, active_only=True, for_update=True)
        if wf is None:
            return
        before = await repo.managers_for(uow, actor.org_id, old_owner)
        after = await repo.managers_for(uow, actor.org_id, new_owner)
        for t in _open_tasks(await repo.tasks(uow, actor.org_id, wf["id"])):
            if t["assignee_id"] != model.assignee_for(t["role"], old_owner, *before):
                continue
            target = model.assignee_for(t["role"], new_owner, *after)
            if target != t["assignee_id"]:
                await _move_task(uow, actor, wf, t, target)


# --- the machine, driven ---------------------------------------------------------------------

async def _move_task(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], task: dict[str, Any],
                     assignee: str | None) -> None:
    a = activities.c
    now = clock.now()
    row = (await uow.execute(
        activities.update().where(a.org_id == wf["org_id"], a.id == task["activity_id"], a.completed_at.is_(None),
                                  a.deleted_at.is_(None))
        .values(assignee_id=assignee, updated_at=now, version=a.version + 1)
        .returning(a.id, a.type, a.subject, a.due_at, a.contact_id, a.deal_id))).first()
    if row is None:
        return
    await uow.record(wf["org_id"], "activity.updated", subject_type="activity", subject_id=row.id,
                     actor_id=actor.id, actor_type=actor.kind, refs=_task_refs(row),
                     data={"before": {"assignee_id": task["assignee_id"]}, "after": {"assignee_id": assignee},
                           "reason": "deal-reassigned", "workflow_id": wf["id"]})
    if assignee is not None and assignee != actor.user_id:
        from kith.notifications.service import notify

        await notify(uow, wf["org_id"], assignee, "task.assigned", f"Task: {row.subject}",
                     subject_type="activity", subject_id=row.id,
                     data={"activity_id": row.id, "type": row.type, "due_at": _iso(row.due_at),
                           "assigned_by": actor.user_id, "contact_id": row.contact_id, "deal_id": row.deal_id})


async def _close_open_tasks(uow: UnitOfWork, actor: Actor, wf: dict[str, Any]) -> list[str]:
    """A cancelled workflow's open tasks are closed (``completed_at`` now, ``outcome`` ``cancelled``),
    one ``activity.updated`` each, so they leave everyone's open-task lists; the ids closed."""
    open_ids = [t["activity_id"] for t in _open_tasks(await repo.tasks(uow, wf["org_id"], wf["id"]))]
    if not open_ids:
        return []
    a = activities.c
    now = clock.now()
    closed = list(await uow.execute(
        activities.update().where(a.org_id == wf["org_id"], a.id.in_(open_ids), a.completed_at.is_(None),
                                  a.deleted_at.is_(None))
        .values(completed_at=now, outcome=CANCELLED_OUTCOME, updated_at=now, version=a.version + 1)
        .returning(a.id, a.contact_id, a.deal_id)))
    for row in sorted(closed, key=lambda r: str(r.id)):
        await uow.record(wf["org_id"], "activity.updated", subject_type="activity", subject_id=row.id,
                         actor_id=actor.id, actor_type=actor.kind, refs=_task_refs(row),
                         data={"before": {"completed_at": None},
                               "after": {"completed_at": now.isoformat(), "outcome": CANCELLED_OUTCOME},
                               "reason": "workflow-cancelled", "workflow_id": wf["id"]})
    return sorted(str(r.id) for r in closed)


def _open_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if t["completed_at"] is None and t["deleted_at"] is None and not t["activity_missing"]]


def _task_refs(row: Any) -> tuple[str, ...]:
    return tuple(r for r in (row.deal_id, row.contact_id) if r)


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())

async def _run(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], tpl: model.Template, deal: dict[str, Any],
               *, just_completed: str | None = None) -> None:
    """Advance while the model says so. Each advance enters a later stage, so this ends."""
    for _ in tpl.stages:
        decision = model.decide(tpl, await _progress(uow, wf, just_completed))
        if decision.action == "advance" and decision.stage is not None:
            await _advance(uow, actor, wf, tpl, tpl.stage(decision.stage), deal, forced=False)
            continue
        if decision.action == "complete":
            await _complete(uow, actor, wf, tpl, deal, forced=False)
        return


async def _progress(uow: UnitOfWork, wf: dict[str, Any], just_completed: str | None) -> model.Progress:
    open_, done = set(), set()
    for t in await repo.tasks(uow, wf["org_id"], wf["id"]):
        finished = t["completed_at"] is not None or t["activity_id"] == just_completed
        if finished:
            done.add(t["task_key"])
        elif t["stage"] == wf["current_stage"] and t["deleted_at"] is None and not t["activity_missing"]:
            open_.add(t["task_key"])
    return model.Progress(stage=wf["current_stage"], open_tasks=frozenset(open_), done_tasks=frozenset(done),
                          confirmed=frozenset(wf["confirmed"]))


async def _advance(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], tpl: model.Template,
                   stage: model.StageSpec, deal: dict[str, Any], *, forced: bool) -> None:
    before = wf["current_stage"]
    model.check_stage_move(tpl, before, stage.key)
    now = clock.now().isoformat()
    history = [dict(h) for h in wf["history"]]
    history[-1]["completed_at"] = now
    if forced:
        history[-1]["forced_by"] = actor.id
    history.append({"stage": stage.key, "entered_at": now, "completed_at": None})
    await _update(uow, wf, current_stage=stage.key, history=history)
    await _record(uow, actor, "workflow.stage-advanced", wf, deal,
                  {"from": before, "to": stage.key, "forced": forced})
    await _enter(uow, actor, wf, tpl, stage, deal)
    await _follow_pipeline(uow, actor, stage, deal)


async def _complete(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], tpl: model.Template,
                    deal: dict[str, Any], *, forced: bool) -> None:
    model.check_transition(wf["status"], "completed")
    now = clock.now()
    history = [dict(h) for h in wf["history"]]
    history[-1]["completed_at"] = now.isoformat()
    if forced:
        history[-1]["forced_by"] = actor.id
    # Mark the workflow done first, so the deals slice's ``deal_closed`` call finds nothing active.
    await _update(uow, wf, status="completed", completed_at=now, history=history)
    if tpl.on_complete == "deal.mark-won":
        from kith.deals import service as deals_service
        from kith.deals.schemas import WinDeal

        await deals_service.win_deal(uow, actor, deal["id"], WinDeal.model_validate({}))
    await _record(uow, actor, "workflow.completed", wf, deal,
                  {"stage": wf["current_stage"], "outcome": "won" if tpl.on_complete else None, "forced": forced})


async def _end(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], deal: dict[str, Any] | None,
               deal_status: str | None) -> None:
    """The deal left ``open`` by another way than this workflow: won → completed, else cancelled."""
    now = clock.now()
    target = "completed" if deal_status == "won" else "cancelled"
    model.check_transition(wf["status"], target)
    stamps = {"completed_at": now} if target == "completed" else {"cancelled_at": now}
    await _update(uow, wf, status=target, **stamps)
    data: dict[str, Any] = {"stage": wf["current_stage"], "deal_status": deal_status or "deleted", "by_hand": True}
    if target == "cancelled":
        data["closed_tasks"] = await _close_open_tasks(uow, actor, wf)
    event = "workflow.completed" if target == "completed" else "workflow.cancelled"
    await _record(uow, actor, event, wf, deal or {"id": wf["deal_id"], "contact_id": None}, data)


async def _enter(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], tpl: model.Template,
                 stage: model.StageSpec, deal: dict[str, Any]) -> None:
    """Create the stage's tasks for the right people."""
    facts = model.DealFacts(high_value=await _high_value(uow, wf["org_id"], deal))
    specs = model.tasks_for(stage, facts)
    if not specs:
        return
    owners_manager, any_manager = (None, None)
    if any(s.role == "sales-manager" for s in specs):
        owners_manager, any_manager = await repo.managers_for(uow, wf["org_id"], deal["owner_id"])
    position = await repo.next_position(uow, wf["org_id"], wf["id"])
    for i, spec in enumerate(specs):
        assignee = model.assignee_for(spec.role, deal["owner_id"], owners_manager, any_manager)
        activity = await _log_task(uow, actor, wf, stage, spec, deal, assignee)
        await uow.execute(workflow_tasks.insert(), {
            "org_id": wf["org_id"], "activity_id": activity["id"], "workflow_id": wf["id"], "stage": stage.key,
            "task_key": spec.key, "role": spec.role, "position": position + i, "created_at": clock.now()})


async def _log_task(uow: UnitOfWork, actor: Actor, wf: dict[str, Any], stage: model.StageSpec,
                    spec: model.TaskSpec, deal: dict[str, Any], assignee: str | None) -> dict[str, Any]:
    from kith.activities import service as activities_service
    from kith.activities.schemas import ActivityCreate

    # The contact comes from the deal (log_activity fills it in); metadata is set as Kith's own.
    cmd = ActivityCreate.model_validate({
        "type": "task", "subject": spec.title, "deal_id": deal["id"], "assignee_id": assignee,
        "due_at": clock.now() + timedelta(days=spec.due_days)})
    meta = {"workflow_id": wf["id"], "stage": stage.key, "task_key": spec.key, "role": spec.role}
    row: dict[str, Any] = await activities_service.log_activity(uow, actor, cmd, extra={"metadata": meta})
    return row


async def _follow_pipeline(uow: UnitOfWork, actor: Actor, stage: model.StageSpec, deal: dict[str, Any]) -> None:
    """Entering a workflow stage with a ``pipeline_stage`` moves the deal to the pipeline stage of
    that name (case-insensitive) in its own pipeline, if one exists and lies ahead of the deal's."""
    if stage.pipeline_stage is None:
        return
    target = await repo.stage_by_name(uow, actor.org_id, deal["pipeline_id"], stage.pipeline_stage)
    current = await repo.stage_position(uow, actor.org_id, deal["stage_id"])
    if target is None or target["id"] == deal["stage_id"] or (current is not None and target["position"] <= current):
        return
    from kith.deals import service as deals_service
    from kith.deals.schemas import MoveStage

    await deals_service.move_stage(uow, actor, deal["id"], MoveStage.model_validate({"stage_id": target["id"]}))
    deal["stage_id"] = target["id"]


# --- helpers -----------------------------------------------------------------------------------

async def _deal_for(uow: UnitOfWork, actor: Actor, deal_id: str, permission: str, *,
                    for_update: bool = False) -> dict[str, Any]:
    """The live deal, 404 when absent or invisible to the caller, 403 when visible but not theirs."""
    require(actor, permission)
    deal = await repo.deal(uow, actor.org_id, deal_id, for_update=for_update)
    if deal is None:
        raise NotFound(f"deal {deal_id!r} does not exist", extra={"id": deal_id})
    check_record(actor, permission, deal["owner_id"], kind="deal", record_id=deal_id)
    return deal


async def _active(uow: UnitOfWork, actor: Actor, deal: dict[str, Any]) -> dict[str, Any]:
    wf = await repo.latest_for_deal(uow, actor.org_id, deal["id"], active_only=True, for_update=True)
    if wf is None:
        raise Conflict(f"deal {deal['id']!r} has no active workflow", extra={"id": deal["id"]})
    return wf


async def _high_value(uow: UnitOfWork, org_id: str, deal: dict[str, Any]) -> bool:
    """The same test as rule ``high-value-deal-approval`` (value ≥ the org's threshold)."""
    settings = OrgSettings.model_validate(await repo.org_settings(uow, org_id))
    return rules.is_high_value(deal["amount"], deal["currency"], settings)


def _tpl(wf: dict[str, Any]) -> model.Template:
    """The template the workflow started with (its snapshot)."""
    return model.template_from_dict(wf["template"])


async def _update(uow: UnitOfWork, wf: dict[str, Any], **values: Any) -> None:
    values.update(updated_at=clock.now(), version=wf["version"] + 1)
    t = workflows.c
    res = await uow.execute(workflows.update()
                            .where(t.org_id == wf["org_id"], t.id == wf["id"], t.version == wf["version"])
                            .values(**values))
    if res.rowcount != 1:
        raise Conflict("the workflow changed meanwhile; retry", extra={"id": wf["id"]})
    wf.update(values)


async def _record(uow: UnitOfWork, actor: Actor, type_: str, wf: dict[str, Any], deal: dict[str, Any],
                  data: dict[str, Any]) -> None:
    refs = tuple(r for r in (deal["id"], deal.get("contact_id")) if r)
    await uow.record(wf["org_id"], type_, subject_type="workflow", subject_id=wf["id"], actor_id=actor.id,
                     actor_type=actor.kind, refs=refs,
                     data={"deal_id": deal["id"], "template_id": wf["template_id"], **data})


async def _view(uow: UnitOfWork, org_id: str, workflow_id: str) -> dict[str, Any]:
    """The workflow as ``GET /deals/{id}/workflow`` shows it."""
    wf = await repo.workflow(uow, org_id, workflow_id)
    if wf is None:
        raise NotFound(f"workflow {workflow_id!r} does not exist")
    deal = await repo.deal(uow, org_id, wf["deal_id"]) or {"status": "deleted"}
    tpl = _tpl(wf)
    tasks = await repo.tasks(uow, org_id, workflow_id)
    progress = await _progress(uow, wf, None)
    statuses = model.stage_statuses(tpl, wf["current_stage"], wf["status"])
    entries = {h["stage"]: h for h in wf["history"]}
    guard_holds = {g["id"]: g["holds"] for g in model.guard_state(tpl, progress)}
    stages = []
    for s in tpl.stages:
        h = entries.get(s.key, {})
        stages.append({
            "key": s.key, "title": s.title, "status": statuses[s.key],
            "entered_at": h.get("entered_at"), "completed_at": h.get("completed_at"),
            "forced_by": h.get("forced_by"),
            "entry_guard": None if s.guard is None else {
                "id": s.guard.id, "title": s.guard.title, "kind": s.guard.kind,
                "holds": guard_holds[s.guard.id], "confirmed": wf["confirmed"].get(s.guard.id)},
            "tasks": [_task_out(t) for t in tasks if t["stage"] == s.key],
        })
    decision = model.decide(tpl, progress) if wf["status"] == "active" else None
    return {
        "id": wf["id"], "deal_id": wf["deal_id"], "template_id": wf["template_id"], "template_name": tpl.name,
        "status": wf["status"], "current_stage": wf["current_stage"], "deal_status": deal["status"],
        "waiting_for": None if decision is None else (
            "tasks" if decision.action == "wait" else f"guard:{decision.guard}" if decision.action == "blocked"
            else None),
        "started_by": wf["started_by"], "created_at": wf["created_at"], "updated_at": wf["updated_at"],
        "completed_at": wf["completed_at"], "cancelled_at": wf["cancelled_at"], "version": wf["version"],
        "stages": stages,
    }


def _task_out(t: dict[str, Any]) -> dict[str, Any]:
    state = ("deleted" if t["activity_missing"] or t["deleted_at"] is not None
             else "done" if t["completed_at"] is not None else "open")
    return {"activity_id": t["activity_id"], "key": t["task_key"], "title": t["subject"], "role": t["role"],
            "assignee_id": t["assignee_id"], "due_at": t["due_at"], "completed_at": t["completed_at"],
            "status": state}


__all__ = ["start_process", "task_completed", "get_process", "confirm_guard", "force_advance", "deal_closed",
           "deal_reassigned"]
