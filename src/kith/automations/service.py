"""Automation rules (DESIGN §5.4, seed 001's after-hooks as data): create, read, change, delete,
and read a rule's run log. Writing needs ``automation:manage`` (crm-admin: a rule acts with system
rights), reading ``automation:read``.

Invariants: a rule is checked as a whole before any write (a registered trigger; conditions on
fields of the trigger's record, with ops and values of the right type; every action valid for that
record type, its users active in the org, its webhook target allowed), and errors name their path
(``conditions.all.0.value``, ``actions.1.due_in_days``); another org's ids answer 404; every change
writes its ``automation.*`` event in its transaction; the signing secret is shown once, on create.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.automations import actions as act
from kith.automations import fields, model, repo
from kith.automations.consumer import CONSUMER
from kith.automations.schemas import AutomationCreate, AutomationPatch
from kith.automations.tables import automations
from kith.core import clock, ids, outbox
from kith.core.errors import FieldError, PreconditionFailed, ValidationFailed, not_found
from kith.core.events import EVENT_TYPES
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.customfields import repo as custom_repo
from kith.orgs.tables import users
from kith.pipelines.tables import pipelines, stages
from kith.webhooks.delivery import Refused, check_url

MANAGE, READ = "automation:manage", "automation:read"
RULE_FIELDS = ("name", "enabled", "trigger", "conditions", "actions")
CUSTOM_FIELD_OBJECTS = frozenset({"contact", "company"})


def new_secret() -> str:
    return f"whsec_{ids.token(24)}"


# --- validation ----------------------------------------------------------------------------------------

async def condition_fields(uow: UnitOfWork, org_id: str, trigger: str) -> dict[str, model.FieldSpec] | None:
    base = fields.base_fields(trigger)
    noun = fields.noun_of(trigger)
    if base is None or noun not in CUSTOM_FIELD_OBJECTS:
        return base
    defs = await custom_repo.definitions(uow, org_id, noun)
    return fields.with_custom(base, {name: d.type.value for name, d in defs.items()})


def _trigger_errors(trigger: str) -> list[FieldError]:
    if trigger in EVENT_TYPES:
        return []
    return [FieldError("trigger", f"unknown event type {trigger!r}: see GET /api/v1/event-types")]


async def _check_conditions(uow: UnitOfWork, org_id: str, trigger: str, conditions: dict[str, Any]
                            ) -> list[FieldError]:
    if trigger not in EVENT_TYPES:
        return []
    spec = await condition_fields(uow, org_id, trigger)
    if spec is None:
        if conditions:
            return [FieldError("conditions", f"{fields.noun_of(trigger)} events have no record to test; conditions "
                                             f"work on {sorted(fields.RECORD_FIELDS)} events")]
        return []
    return model.validate_conditions(conditions, spec)


async def _active_users(uow: UnitOfWork, org_id: str, user_ids: set[str]) -> set[str]:
    if not user_ids:
        return set()
    q = sa.select(users.c.id).where(users.c.org_id == org_id, users.c.id.in_(sorted(user_ids)),
                                    users.c.is_active.is_(True))
    return {row.id for row in await uow.execute(q)}


async def _check_actions(uow: UnitOfWork, org_id: str, trigger: str, raw: list[Any], allow_private: bool
                         ) -> tuple[list[dict[str, Any]], list[FieldError]]:
    noun = fields.noun_of(trigger)
    parsed: list[Any] = []
    errors: list[FieldError] = []
    for i, item in enumerate(raw):
        action, errs = act.parse(item, noun, f"actions.{i}")
        errors += errs
        parsed.append(action)
    named = {(i, attr, uid) for i, a in enumerate(parsed) if a is not None for attr, uid in act.targets(a)}
    active = await _active_users(uow, org_id, {uid for _i, _a, uid in named})
    errors += [FieldError(f"actions.{i}.{attr}", f"no active user {uid!r} in this org")
               for i, attr, uid in sorted(named) if uid not in active]
    for i, a in enumerate(parsed):
        if isinstance(a, act.CreateDeal):
            errors += await _deal_placement(uow, org_id, a, f"actions.{i}")
        if isinstance(a, act.CallWebhook):
            try:
                await check_url(a.url, allow_private=allow_private)
            except Refused as exc:
                errors.append(FieldError(f"actions.{i}.url", str(exc)))
    return [a.model_dump(mode="json") for a in parsed if a is not None], errors


async def _deal_placement(uow: UnitOfWork, org_id: str, a: act.CreateDeal, path: str) -> list[FieldError]:
    """A create_deal's pipeline must be a deal pipeline of the org, its stage one of that pipeline's
    (or of the default pipeline when none is named: the deals service resolves it at run time)."""
    errors: list[FieldError] = []
    if a.pipeline_id is not None:
        q = sa.select(pipelines.c.id).where(pipelines.c.org_id == org_id, pipelines.c.id == a.pipeline_id,
                                            pipelines.c.kind == "deal")
        if (await uow.execute(q)).first() is None:
            errors.append(FieldError(f"{path}.pipeline_id", f"no deal pipeline {a.pipeline_id!r} in this org"))
    if a.stage_id is not None:
        q = sa.select(stages.c.pipeline_id).where(stages.c.org_id == org_id, stages.c.id == a.stage_id)
        found = (await uow.execute(q)).first()
        if found is None or (a.pipeline_id is not None and found.pipeline_id != a.pipeline_id):
            errors.append(FieldError(f"{path}.stage_id", f"no stage {a.stage_id!r} in that pipeline"))
    return errors


async def _validated(uow: UnitOfWork, org_id: str, rule: dict[str, Any], allow_private: bool) -> dict[str, Any]:
    """``rule`` with its actions normalised; ``ValidationFailed`` listing every error otherwise."""
    errors = _trigger_errors(rule["trigger"])
    async with uow.transaction(autocommit=True):
        errors += await _check_conditions(uow, org_id, rule["trigger"], rule["conditions"])
        actions, action_errors = await _check_actions(uow, org_id, rule["trigger"], rule["actions"], allow_private)
    errors += action_errors
    if errors:
        names = ", ".join(dict.fromkeys(e.field for e in errors))
        raise ValidationFailed(f"the automation is not valid: {names}", errors=errors)
    return {**rule, "actions": actions}


# --- rules --------------------------------------------------------------------------------------------

async def _existing(uow: UnitOfWork, actor: Actor, automation_id: str) -> Any:
    row = await repo.get(uow, actor.org_id, automation_id)
    if row is None:
        raise not_found("automation", automation_id)
    return row


async def _relay_from_now(uow: UnitOfWork, org_id: str, automation_id: str, window: timedelta) -> None:
    """The relay must hand this org's events to the automations from now on; when no rule of the
    org was enabled so far, its cursor may skip the history nobody wanted."""
    fresh = await repo.count_enabled(uow, org_id, besides=automation_id) == 0
    await outbox.ensure_cursor(uow, org_id, CONSUMER, window=window, fresh=fresh)


async def create_automation(uow: UnitOfWork, actor: Actor, cmd: AutomationCreate, *, allow_private: bool = False,
                            window: timedelta = outbox.DEFAULT_WINDOW) -> dict[str, Any]:
    require(actor, MANAGE)
    rule = await _validated(uow, actor.org_id, cmd.model_dump(), allow_private)
    now = clock.now()
    row: dict[str, Any] = {
        "org_id": actor.org_id, "id": ids.new("automation"), **{k: rule[k] for k in RULE_FIELDS},
        "secret": new_secret(), "active_since": now, "created_by": actor.id, "created_at": now, "updated_at": now,
        "version": 1}
    async with uow.transaction(write=True):
        if row["enabled"]:
            await _relay_from_now(uow, actor.org_id, row["id"], window)
        await uow.execute(automations.insert(), row)
        await uow.record(actor.org_id, "automation.created", subject_type="automation", subject_id=row["id"],
                         actor_id=actor.id, actor_type=actor.kind, data={"after": {k: row[k] for k in RULE_FIELDS}})
    return {**{k: v for k, v in row.items() if k not in repo.HIDDEN}, "secret": row["secret"]}


async def list_automations(uow: UnitOfWork, actor: Actor, query: ListQuery) -> dict[str, Any]:
    require(actor, READ)
    async with uow.transaction():
        return await repo.list_automations(uow, actor.org_id, query)


async def get_automation(uow: UnitOfWork, actor: Actor, automation_id: str) -> dict[str, Any]:
    require(actor, READ)
    async with uow.transaction():
        return repo.out(await _existing(uow, actor, automation_id))


async def update_automation(uow: UnitOfWork, actor: Actor, automation_id: str, patch: AutomationPatch,
                            expected_version: int | None = None, *, allow_private: bool = False,
                            window: timedelta = outbox.DEFAULT_WINDOW) -> dict[str, Any]:
    require(actor, MANAGE)
    sent = patch.model_dump(exclude_unset=True)
    async with uow.transaction():
        current = await _existing(uow, actor, automation_id)
    rule = await _validated(uow, actor.org_id, {**{k: getattr(current, k) for k in RULE_FIELDS}, **sent},
                            allow_private)
    async with uow.transaction(write=True):
        row = await _existing(uow, actor, automation_id)
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed(f"the automation changed since you read it (version {row.version}, If-Match "
                                     f"had {expected_version})", extra={"current_version": row.version})
        changed = {k: rule[k] for k in RULE_FIELDS if k in sent and getattr(row, k) != rule[k]}
        if not changed:
            return repo.out(row)
        now = clock.now()
        values: dict[str, Any] = {**changed, "updated_at": now, "version": row.version + 1}
        if changed.get("enabled") is True:
            await _relay_from_now(uow, actor.org_id, automation_id, window)
            values["active_since"] = now
        await uow.execute(automations.update().where(repo.t.org_id == actor.org_id, repo.t.id == automation_id)
                          .values(**values))
        await uow.record(actor.org_id, "automation.updated", subject_type="automation", subject_id=automation_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"before": {k: getattr(row, k) for k in changed}, "after": changed})
        return repo.out(await repo.get(uow, actor.org_id, automation_id))


async def delete_automation(uow: UnitOfWork, actor: Actor, automation_id: str) -> None:
    """Delete the rule and its run log; runs still pending never happen."""
    require(actor, MANAGE)
    async with uow.transaction(write=True):
        row = await _existing(uow, actor, automation_id)
        await repo.delete_with_log(uow, actor.org_id, automation_id)
        await uow.record(actor.org_id, "automation.deleted", subject_type="automation", subject_id=automation_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"before": {k: getattr(row, k) for k in RULE_FIELDS}})


async def list_runs(uow: UnitOfWork, actor: Actor, automation_id: str, query: ListQuery) -> dict[str, Any]:
    require(actor, READ)
    async with uow.transaction():
        await _existing(uow, actor, automation_id)
        return await repo.list_runs(uow, actor.org_id, automation_id, query)
