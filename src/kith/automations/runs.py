"""Running automation rules: claim pending runs, test the conditions, do the actions through the
services, log each result.

Invariants:
- A claim is one short write transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) that pushes the
  run's ``next_attempt_at`` forward by the lease with a fresh ``lease_token``: two workers never
  hold the same run at once, and the run of a worker that died comes due again by itself (at most
  ``MAX_ATTEMPTS`` claims, then it is ``failed``).
- Each action runs in its own transaction, which also appends the action's result to the run, and
  only while the lease is still ours: an action is therefore done at most once even when the run
  is retried (a retry resumes after the last logged action). ``call_webhook`` is an HTTP request
  and cannot share a transaction: it is at-least-once (receivers dedupe on ``Kith-Run-Id``).
- Actions act as the automation (crm-admin rights, ``actor_type`` ``automation``, ``actor_id`` the
  rule id) through a unit of work that stamps every event they cause with ``data.automation``
  (rule id, run id, triggering event, chain of rule ids, depth): that is what loop protection reads.
- An action that fails (a business rule, a bad templated value, an unreachable URL) is logged
  with its error and the next action still runs; the run is then ``failed``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from kith.activities.schemas import ActivityCreate
from kith.activities.service import log_activity
from kith.auth.model import Actor
from kith.automations import fields, model, subjects
from kith.automations.service import condition_fields
from kith.automations.tables import automation_runs, automations
from kith.config import Settings
from kith.contacts.service import get_contact
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.errors import KithError, NotFound
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.deals.schemas import DealCreate
from kith.deals.service import create_deal
from kith.http.responses import dumps
from kith.notifications.service import NOTIFICATION_TYPES, notify
from kith.orgs.tables import users
from kith.webhooks import model as webhook_model
from kith.webhooks.delivery import Refused, check_url, envelope

log = logging.getLogger("kith.automations")
r = automation_runs.c

AUTOMATION = "automation"  # the actor kind of every change an automation makes
NOTIFICATION = "automation.notified"
assert NOTIFICATION in NOTIFICATION_TYPES

# Runs claimed per step: small, since one run may make several writes and an HTTP call.
CLAIM_BATCH = 20
# Claims of one run before it is given up as failed (a run whose worker keeps dying on it).
MAX_ATTEMPTS = 3
# Bytes of a webhook receiver's answer read; the rest is dropped.
MAX_ANSWER_BYTES = 64 * 1024
RUN_ID_HEADER = "Kith-Run-Id"
# A literal, not a bound parameter, so SQLite's planner can use the partial index ix_automation_runs_due.
PENDING = r.status == sa.literal_column("'pending'")
AUTOMATION_ID_HEADER = "Kith-Automation-Id"


class ActionFailed(Exception):
    """An action could not be done; the message goes to the run log."""


class LeaseLost(Exception):
    """Another worker holds the run now: this one must stop without writing."""


def automation_actor(org_id: str) -> Actor:
    return Actor(org_id=org_id, user_id=None, roles=frozenset({"crm-admin"}), kind=AUTOMATION)


class AutomatedUnitOfWork(UnitOfWork):
    """A unit of work whose events carry the run's provenance in ``data.automation``."""

    def __init__(self, db: Database, *, rule_id: str, run_id: str, event_id: str, chain: tuple[str, ...]) -> None:
        super().__init__(db)
        self.provenance = {"rule_id": rule_id, "run_id": run_id, "event_id": event_id, "chain": list(chain),
                           "depth": len(chain)}
        self.rule_id = rule_id

    async def record(self, org_id: str, type_: str, *, subject_type: str, subject_id: str, actor_id: str | None,
                     actor_type: str = "user", data: dict[str, Any] | None = None, refs: tuple[str, ...] = ()
                     ) -> str:
        if actor_type == AUTOMATION and actor_id is None:
            actor_id = self.rule_id
        return await super().record(org_id, type_, subject_type=subject_type, subject_id=subject_id,
                                    actor_id=actor_id, actor_type=actor_type,
                                    data={**(data or {}), "automation": self.provenance}, refs=refs)


@dataclass(frozen=True)
class Config:
    timeout: float
    lease: float
    allow_private: bool

    @classmethod
    def from_settings(cls, s: Settings) -> Config:
        # A run may make one webhook call per action: cover a few of them, at least the worker lease.
        lease = max(s.worker_lease_seconds, 3 * s.webhook_timeout_seconds + 5)
        return cls(timeout=s.webhook_timeout_seconds, lease=lease, allow_private=s.webhooks_allow_private)


@dataclass
class Claim:
    org_id: str
    id: str
    automation_id: str
    event_id: str
    results: list[dict[str, Any]]
    token: str


class Money(dict[str, Any]):
    """A record's ``value`` in templates: ``{{ deal.value }}`` renders ``12000.00 USD``."""

    def __str__(self) -> str:
        return f"{self.get('amount')} {self.get('currency')}"


@dataclass
class Env:
    """Everything one run's actions need: who acts, on what, with which template context."""

    claim: Claim
    rule: Any
    event: Any
    noun: str
    record: dict[str, Any] | None
    actor: Actor
    chain: tuple[str, ...]
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def record_id(self) -> str | None:
        return self.event.subject_id if self.event.subject_type == self.noun else None


@dataclass
class Executor:
    db: Database
    config: Config
    client: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                            timeout=httpx.Timeout(self.config.timeout),
                                            headers={"User-Agent": "Kith-Automations/1"})
        return self.client

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def step(self) -> int:
        """Claim one batch of due runs and do them; how many were claimed."""
        claims = await self.claim()
        for c in claims:
            try:
                await self.execute(c)
            except LeaseLost:
                log.warning("automation run %s of %s was taken over by another worker", c.id, c.org_id)
            except Exception:  # the lease brings the run back; MAX_ATTEMPTS bounds the retries
                log.exception("automation run %s of %s failed unexpectedly; it will be retried", c.id, c.org_id)
        return len(claims)

    # --- claiming --------------------------------------------------------------------------------

    async def claim(self) -> list[Claim]:
        now = clock.now()
        token = ids.token(8)
        uow = UnitOfWork(self.db)
        async with uow.transaction(autocommit=True):  # a cheap read first: an idle worker takes no write lock
            due = sa.select(r.id).where(PENDING, r.next_attempt_at <= now).limit(1)
            if (await uow.execute(due)).first() is None:
                return []
        async with uow.transaction(write=True):
            q = (sa.select(r.org_id, r.id, r.automation_id, r.event_id, r.results, r.attempts)
                 .where(PENDING, r.next_attempt_at <= now)
                 .order_by(r.next_attempt_at, r.id).limit(CLAIM_BATCH)
                 .with_for_update(skip_locked=True))
            rows = list(await uow.execute(q))
            tired: dict[str, list[str]] = defaultdict(list)
            taken: dict[str, list[str]] = defaultdict(list)
            for row in rows:
                (tired if row.attempts >= MAX_ATTEMPTS else taken)[row.org_id].append(row.id)
            for org_id, run_ids in tired.items():
                await uow.execute(automation_runs.update().where(r.org_id == org_id, r.id.in_(run_ids)).values(
                    status="failed", reason=f"given up after {MAX_ATTEMPTS} attempts", lease_token=None,
                    finished_at=now))
            until = now + timedelta(seconds=self.config.lease)
            for org_id, run_ids in taken.items():
                await uow.execute(automation_runs.update().where(r.org_id == org_id, r.id.in_(run_ids)).values(
                    next_attempt_at=until, lease_token=token, attempts=r.attempts + 1,
                    started_at=sa.func.coalesce(r.started_at, now)))
        return [Claim(row.org_id, row.id, row.automation_id, row.event_id, list(row.results or []), token)
                for row in rows if row.attempts < MAX_ATTEMPTS]

    # --- one run -----------------------------------------------------------------------------------

    async def execute(self, c: Claim) -> None:
        uow = UnitOfWork(self.db)
        async with uow.transaction():
            rule = (await uow.execute(sa.select(automations).where(
                automations.c.org_id == c.org_id, automations.c.id == c.automation_id))).first()
            event = (await uow.execute(sa.select(events).where(
                events.c.org_id == c.org_id, events.c.id == c.event_id))).first()
        if rule is None:  # deleted meanwhile (with its run log)
            return
        if not rule.enabled:
            await self._finish(c, "skipped", "the rule was disabled before it ran", c.results)
            return
        if event is None:
            await self._finish(c, "failed", "the triggering event no longer exists", c.results)
            return
        env = await self._env(c, rule, event)
        if not c.results and not await self._conditions_hold(env):
            await self._finish(c, "skipped", "conditions not met", c.results)
            return
        results = list(c.results)
        for i, action in enumerate(rule.actions):
            if i < len(results):  # done by an earlier attempt
                continue
            results.append(await self._do(env, i, action, results))
        failed = [x for x in results if x.get("status") == "failed"]
        await self._finish(c, "failed" if failed else "succeeded",
                           f"{len(failed)} of {len(results)} action(s) failed" if failed else None, results)

    async def _env(self, c: Claim, rule: Any, event: Any) -> Env:
        noun = fields.noun_of(rule.trigger)
        chain = model.Provenance.of(event.data).then(rule.id).chain
        env = Env(c, rule, event, noun, None, automation_actor(c.org_id), chain)
        uow = UnitOfWork(self.db)
        env.record = await self._read(uow, env, noun, env.record_id) if env.record_id else None
        if env.record is None and isinstance(event.data, dict):  # gone (deleted): what the event knew
            env.record = event.data.get("after") or event.data.get("before")
        env.context = await self._context(uow, env)
        return env

    async def _read(self, uow: UnitOfWork, env: Env, noun: str, record_id: str) -> dict[str, Any] | None:
        target = subjects.NOUNS.get(noun)
        if target is None:
            return None
        try:
            return await target.get(uow, env.actor, record_id)
        except NotFound:
            return None

    async def _context(self, uow: UnitOfWork, env: Env) -> dict[str, Any]:
        e = env.event
        ctx: dict[str, Any] = {
            "event": {"id": e.id, "type": e.type, "occurred_at": e.occurred_at.isoformat(),
                      "subject_type": e.subject_type, "subject_id": e.subject_id, "actor_type": e.actor_type,
                      "actor_id": e.actor_id, "data": e.data},
            "rule": {"id": env.rule.id, "name": env.rule.name},
        }
        if env.record is not None:
            record = _templated(env.record)
            ctx["record"] = ctx[env.noun] = record
        contact_id = subjects.contact_id_of(env.noun, env.record)
        if env.noun != "contact" and contact_id:
            try:
                ctx["contact"] = _templated(await get_contact(uow, env.actor, contact_id))
            except NotFound:
                pass
        owner = await self._user(uow, env.claim.org_id, subjects.owner_of(env.noun, env.record))
        if owner is not None:
            ctx["owner"] = owner
        return ctx

    async def _user(self, uow: UnitOfWork, org_id: str, user_id: str | None) -> dict[str, Any] | None:
        if not user_id:
            return None
        async with uow.transaction():
            row = (await uow.execute(sa.select(users.c.id, users.c.name, users.c.email, users.c.manager_id,
                                               users.c.is_active)
                                     .where(users.c.org_id == org_id, users.c.id == user_id))).first()
        return dict(row._mapping) if row is not None else None

    async def _conditions_hold(self, env: Env) -> bool:
        if not env.rule.conditions:
            return True
        uow = UnitOfWork(self.db)
        async with uow.transaction():
            spec = await condition_fields(uow, env.claim.org_id, env.rule.trigger) or {}
        data = env.event.data if isinstance(env.event.data, dict) else {}
        facts = model.Facts(env.record or {}, _mapping(data.get("before")), _mapping(data.get("after")))
        return model.evaluate(env.rule.conditions, facts, spec)

    # --- actions -------------------------------------------------------------------------------------

    async def _do(self, env: Env, i: int, action: dict[str, Any], done: list[dict[str, Any]]) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": i, "type": action["type"]}
        if action["type"] == "call_webhook":
            try:
                entry.update(status="succeeded", result=await self._call_webhook(env, action, i))
            except (ActionFailed, model.TemplateFailed) as exc:
                entry.update(status="failed", error=str(exc)[:1000])
            await self._save(UnitOfWork(self.db), env.claim, [*done, entry])
            return entry
        uow = AutomatedUnitOfWork(self.db, rule_id=env.rule.id, run_id=env.claim.id, event_id=env.event.id,
                                  chain=env.chain)
        try:
            async with uow.transaction(write=True):
                entry.update(status="succeeded", result=await DO[action["type"]](self, uow, env, action))
                await self._save(uow, env.claim, [*done, entry])
        except (KithError, ActionFailed, model.TemplateFailed, ValidationError) as exc:
            entry = {"index": i, "type": action["type"], "status": "failed", "error": describe(exc)}
            await self._save(UnitOfWork(self.db), env.claim, [*done, entry])
        return entry

    async def _save(self, uow: UnitOfWork, c: Claim, results: list[dict[str, Any]]) -> None:
        """Log the results so far, in ``uow``'s transaction, while the lease is still ours."""
        async with uow.transaction(write=True):
            res = await uow.execute(automation_runs.update().where(
                r.org_id == c.org_id, r.id == c.id, r.lease_token == c.token).values(results=_jsonable(results)))
            if res.rowcount != 1:
                raise LeaseLost(c.id)

    async def _finish(self, c: Claim, status: str, reason: str | None, results: list[dict[str, Any]]) -> None:
        uow = UnitOfWork(self.db)
        async with uow.transaction(write=True):
            await uow.execute(automation_runs.update().where(
                r.org_id == c.org_id, r.id == c.id, r.lease_token == c.token).values(
                status=status, reason=reason, results=_jsonable(results), lease_token=None, finished_at=clock.now()))

    async def _person(self, uow: UnitOfWork, env: Env, target: str) -> str | None:
        """The user an action means: the record's owner, that owner's manager, or a given user."""
        owner = subjects.owner_of(env.noun, env.record)
        if target == "owner":
            return owner
        if target == "owner_manager":
            found = await self._user(uow, env.claim.org_id, owner)
            return found["manager_id"] if found else None
        return target

    def _render(self, env: Env, value: Any) -> Any:
        return model.render_tree(value, env.context)

    async def _create_deal(self, uow: UnitOfWork, env: Env, action: dict[str, Any]) -> dict[str, Any]:
        value = action.get("value")
        amount = self._render(env, value["amount"]) if value else None
        cmd = DealCreate.model_validate({
            "title": self._render(env, action["title"]),
            "value": {"amount": amount, "currency": value.get("currency")} if value else None,
            "contact_id": subjects.contact_id_of(env.noun, env.record),
            "company_id": subjects.company_id_of(env.noun, env.record),
            "owner_id": await self._person(uow, env, action["owner"]),
            "pipeline_id": action.get("pipeline_id"), "stage_id": action.get("stage_id"),
            "tags": action.get("tags") or []})
        deal = await create_deal(uow, env.actor, cmd)
        return {"deal_id": deal["id"]}

    async def _create_activity(self, uow: UnitOfWork, env: Env, action: dict[str, Any]) -> dict[str, Any]:
        links: dict[str, Any] = {}
        if env.noun == "activity" and env.record:
            links = {k: env.record.get(k) for k in ("contact_id", "company_id", "deal_id", "lead_id")}
        elif env.noun in subjects.ACTIVITY_LINK and env.record_id:
            links = {subjects.ACTIVITY_LINK[env.noun]: env.record_id}
        days = action.get("due_in_days")
        cmd = ActivityCreate.model_validate({
            "type": action["activity_type"], "subject": self._render(env, action["subject"]),
            "body": self._render(env, action["body"]) if action.get("body") else None,
            "due_at": clock.now() + timedelta(days=days) if days is not None else None,
            "assignee_id": await self._person(uow, env, action["assignee"]), **links})
        row = await log_activity(uow, env.actor, cmd)
        return {"activity_id": row["id"]}

    def _target(self, env: Env, what: str) -> subjects.Noun:
        target = subjects.NOUNS.get(env.noun)
        if target is None or env.record_id is None:
            raise ActionFailed(f"{what}: the event has no {env.noun} record to change")
        return target

    async def _update_field(self, uow: UnitOfWork, env: Env, action: dict[str, Any]) -> dict[str, Any]:
        target = self._target(env, "update_field")
        value = self._render(env, action["value"])
        patch = _patch(target.patch, action["field"], value)
        await target.update(uow, env.actor, str(env.record_id), patch)
        return {"field": action["field"], "value": _jsonable(getattr(patch, action["field"]))}

    async def _add_tag(self, uow: UnitOfWork, env: Env, action: dict[str, Any]) -> dict[str, Any]:
        target = self._target(env, "add_tag")
        tag = str(self._render(env, action["tag"])).strip()
        current = await target.get(uow, env.actor, str(env.record_id))
        tags = list(current.get("tags") or [])
        if tag not in tags:
            await target.update(uow, env.actor, str(env.record_id), target.patch.model_validate({"tags": [*tags, tag]}))
        return {"tag": tag, "added": tag not in tags}

    async def _notify_user(self, uow: UnitOfWork, env: Env, action: dict[str, Any]) -> dict[str, Any]:
        user_id = await self._person(uow, env, action["to"])
        user = await self._user(uow, env.claim.org_id, user_id)
        if user is None or not user["is_active"]:
            raise ActionFailed(f"nobody to notify: {action['to']} is {'not set' if user_id is None else 'not active'}")
        title = self._render(env, action["title"])
        body = self._render(env, action["body"]) if action.get("body") else None
        ntf = await notify(uow, env.claim.org_id, user_id, NOTIFICATION, title, body=body, subject_type=env.noun,
                           subject_id=env.record_id, data={"automation_id": env.rule.id, "event_id": env.event.id})
        return {"notification_id": ntf, "user_id": user_id}

    async def _call_webhook(self, env: Env, action: dict[str, Any], index: int) -> dict[str, Any]:
        payload = self._render(env, action.get("payload") or {})
        try:
            target, address = await check_url(action["url"], allow_private=self.config.allow_private)
        except Refused as exc:
            raise ActionFailed(f"refused: {exc}") from None
        body = dumps({"id": f"{env.claim.id}.{index}", "type": "automation.webhook",
                      "automation_id": env.rule.id, "run_id": env.claim.id, "event": envelope(env.event),
                      "payload": payload})
        url = httpx.URL(action["url"])
        headers = {"Content-Type": "application/json",
                   webhook_model.SIGNATURE_HEADER: webhook_model.signature_header(
                       env.rule.secret, int(clock.now().timestamp()), body),
                   webhook_model.EVENT_ID_HEADER: env.event.id, webhook_model.EVENT_TYPE_HEADER: env.event.type,
                   RUN_ID_HEADER: env.claim.id, AUTOMATION_ID_HEADER: env.rule.id,
                   "Host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        t0 = time.perf_counter()
        try:
            async with self._client().stream("POST", url.copy_with(host=address), content=body, headers=headers,
                                             extensions=extensions) as resp:
                read = 0
                async for chunk in resp.aiter_raw():
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break
                status = resp.status_code
        except (httpx.HTTPError, OSError) as exc:
            raise ActionFailed(f"{exc.__class__.__name__}: {exc}"[:500]) from None
        if not webhook_model.is_success(status):
            raise ActionFailed(f"HTTP {status}")
        return {"status_code": status, "latency_ms": int((time.perf_counter() - t0) * 1000)}


DO = {
    "create_deal": Executor._create_deal,
    "create_activity": Executor._create_activity,
    "update_field": Executor._update_field,
    "add_tag": Executor._add_tag,
    "notify_user": Executor._notify_user,
}


def _patch(schema: type[BaseModel], name: str, value: Any) -> BaseModel:
    """The PATCH of one field; a rendered text is also tried as JSON (``"42"`` for a number field)."""
    try:
        return schema.model_validate({name: value})
    except ValidationError:
        if not isinstance(value, str):
            raise
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ActionFailed(f"{name}: {value!r} is not a valid value") from None
        return schema.model_validate({name: parsed})


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _templated(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    if isinstance(out.get("value"), dict):
        out["value"] = Money(out["value"])
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(dumps(value))


def describe(exc: Exception) -> str:
    if isinstance(exc, KithError):
        fields_ = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        extra = f" (rule {exc.extra['rule']})" if "rule" in exc.extra else ""
        return f"{exc.status} {exc.code}: {exc.detail}{extra}" + (f" [{fields_}]" if fields_ else "")
    if isinstance(exc, ValidationError):
        return "invalid: " + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)[:1000]
