"""Python hooks for embedders on the pipeline verbs: a before-hook on a deal or activity verb can
veto it (422, nothing written); an after-hook sees the committed record."""

from __future__ import annotations

from typing import Any

import httpx

from kith.core import hooks
from kith.core.db import Database
from kith.core.errors import RuleViolation
from tests.api.deal_support import deal
from tests.conftest import Org, count_rows, problem
from tests.service.test_hooks import Registrar, hook  # noqa: F401  (the fixture)

V1 = "/api/v1"


async def test_a_before_hook_vetoes_winning_a_deal_and_nothing_is_written(
        client: httpx.AsyncClient, org: Org, db: Database, hook: Registrar) -> None:  # noqa: F811
    @hook.before("deal.win")
    def no_friday_wins(record: dict[str, Any], cmd: hooks.Command) -> None:
        raise RuleViolation("no-friday-wins", f"deal {record['id']} may not be won today")

    d = await deal(client, org.admin, title="Veto me", expected_close_date="2027-01-31")
    before = await count_rows(db)
    body = problem(await client.post(f"{V1}/deals/{d['id']}/won", json={}, headers=org.admin.h), 422)
    assert body["rule"] == "no-friday-wins"
    assert await count_rows(db) == before
    assert (await client.get(f"{V1}/deals/{d['id']}", headers=org.admin.h)).json()["status"] == "open"


async def test_after_hooks_see_a_moved_deal_and_a_created_activity(
        client: httpx.AsyncClient, org: Org, hook: Registrar) -> None:  # noqa: F811
    seen: list[tuple[str, str]] = []

    @hook.after("deal.stage-moved")
    def moved(record: dict[str, Any], cmd: hooks.Command) -> None:
        seen.append(("deal.stage-moved", record["stage_id"]))

    @hook.after("activity.created")
    def logged(record: dict[str, Any], cmd: hooks.Command) -> None:
        seen.append(("activity.created", record["subject"]))

    d = await deal(client, org.admin, title="Move me")
    stages = (await client.get(f"{V1}/pipelines/{d['pipeline_id']}", headers=org.admin.h)).json()["stages"]
    target = next(s for s in stages if s["id"] != d["stage_id"] and not s.get("outcome"))
    r = await client.post(f"{V1}/deals/{d['id']}/move-stage", json={"stage_id": target["id"]}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    r = await client.post(f"{V1}/activities", json={"type": "note", "subject": "hello", "deal_id": d["id"]},
                          headers=org.admin.h)
    assert r.status_code == 201, r.text
    assert seen == [("deal.stage-moved", target["id"]), ("activity.created", "hello")]


def test_every_pipeline_verb_can_be_hooked() -> None:
    for verb in ("deal.create", "deal.update", "deal.delete", "deal.move-stage", "deal.win", "deal.lose",
                 "deal.abandon", "deal.reopen", "activity.create", "activity.update", "activity.complete",
                 "activity.delete"):
        assert verb in hooks.VERBS
