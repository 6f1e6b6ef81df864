"""The automations consumer of the outbox relay: one run per (enabled rule, event of its trigger
type), written in the relay's transaction with ``ON CONFLICT DO NOTHING`` on the unique
(org, rule, event) key — an event handed over twice still makes one run.

Loop protection happens here: a run for an event the rule itself caused (directly or through other
rules), or for an event at the end of a chain ``model.MAX_DEPTH`` steps long, is written as
``skipped`` with the reason, and nothing runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kith.automations import model
from kith.automations.tables import automation_runs, automations
from kith.core import clock, ids
from kith.core.outbox import insert_ignoring_duplicates
from kith.core.uow import UnitOfWork

log = logging.getLogger("kith.automations")

CONSUMER = "automations"
a = automations.c


class AutomationConsumer:
    name = CONSUMER

    async def orgs(self, uow: UnitOfWork) -> list[str]:
        q = sa.select(a.org_id).where(a.enabled.is_(True)).distinct()
        return [r.org_id for r in await uow.execute(q)]

    async def handle(self, uow: UnitOfWork, org_id: str, rows: Sequence[Any]) -> None:
        types = sorted({e.type for e in rows})
        rules = list(await uow.execute(sa.select(a.id, a.trigger, a.active_since).where(
            a.org_id == org_id, a.enabled.is_(True), a.trigger.in_(types))))
        if not rules:
            return
        now = clock.now()
        runs = [run_row(org_id, rule.id, e, now) for e in rows for rule in rules
                if rule.trigger == e.type and e.occurred_at >= rule.active_since]
        for run in runs:
            if run["status"] == "skipped":
                log.warning("automation %s of %s not run on %s: %s", run["automation_id"], org_id,
                            run["event_id"], run["reason"])
        if runs:
            await uow.execute(insert_ignoring_duplicates(uow.backend, automation_runs), runs)


def run_row(org_id: str, rule_id: str, event: Any, now: Any) -> dict[str, Any]:
    cause = model.Provenance.of(event.data)
    why = model.refusal(rule_id, cause)
    return {"org_id": org_id, "id": ids.new("run"), "automation_id": rule_id, "event_id": event.id,
            "event_type": event.type, "status": "skipped" if why else "pending", "depth": cause.depth + 1,
            "reason": why, "results": [], "attempts": 0, "next_attempt_at": now, "lease_token": None,
            "created_at": now, "started_at": None, "finished_at": now if why else None}
