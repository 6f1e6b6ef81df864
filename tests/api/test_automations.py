"""Automation rules over HTTP, run by the real worker (``Worker.run_once``): seed 001's two examples,
templated values, loop protection, idempotency under a relay that hands an event over twice,
disabled rules, a signed call_webhook to a real receiver, the run log, bad bodies (422 naming the
path, nothing written), the persona matrix and other orgs' ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.automations.consumer import CONSUMER
from kith.automations.model import MAX_DEPTH
from kith.config import Settings
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.events import events
from kith.core.outbox import floor_id, outbox_cursors, outbox_marks
from kith.core.uow import UnitOfWork
from kith.entrypoints.app import create_app
from kith.webhooks import model as webhook_model
from kith.worker.runner import Worker
from tests.conftest import Org, count_rows, problem
from tests.receiver import Receiver, serve

V1 = "/api/v1"
AUTOS = f"{V1}/automations"
PUBLIC_URL = "https://93.184.216.34/hook"  # a public IP literal: accepted without DNS, never called

QUALIFIED_RULE: dict[str, Any] = {
    "name": "Inbound follow-up",
    "trigger": "contact.qualified",
    "actions": [
        {"type": "create_deal", "title": "{{ contact.name }} - Inbound", "value": {"amount": 12000}},
        {"type": "create_activity", "activity_type": "task", "subject": "Follow up with {{ contact.name }}",
         "due_in_days": 2, "assignee": "owner"},
    ],
}
CHURN_RULE: dict[str, Any] = {
    "name": "Win-back",
    "trigger": "contact.updated",
    "conditions": {"all": [{"field": "stage", "op": "changed", "to": "churned"}]},
    "actions": [
        {"type": "create_activity", "subject": "Win-back: {{ contact.name }}", "due_in_days": 1},
        {"type": "notify_user", "to": "owner_manager", "title": "{{ contact.name }} churned"},
    ],
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, max_body_bytes=64 * 1024, webhooks_allow_private=True,
                    webhook_timeout_seconds=2.0)


@pytest.fixture
async def worker(db: Database, settings: Settings) -> AsyncIterator[Worker]:
    w = Worker(db, settings)
    yield w
    await w.aclose()


@pytest.fixture
def rx() -> Any:
    with serve() as receiver:
        yield receiver


async def make_rule(client: httpx.AsyncClient, org: Org, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(AUTOS, json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def make_contact(client: httpx.AsyncClient, org: Org, name: str = "Alice Chen", **more: Any) -> dict[str, Any]:
    body = {"name": name, "email": f"{ids.token(4).lower()}@acme.dev", "lead_score": 50, **more}
    r = await client.post(f"{V1}/contacts", json=body, headers=org.rep.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def runs(client: httpx.AsyncClient, org: Org, rule_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"{AUTOS}/{rule_id}/runs", params={"limit": 100, **params}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


async def rows(db: Database, stmt: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list(await conn.execute(stmt))


def table(name: str) -> sa.Table:
    from kith.tables import metadata

    return metadata.tables[name]


# --- seed 001's two examples ------------------------------------------------------------------------------

async def test_a_qualified_contact_gets_a_deal_and_a_follow_up_task(client: httpx.AsyncClient, org: Org,
                                                                    worker: Worker, db: Database) -> None:
    rule = await make_rule(client, org, QUALIFIED_RULE)
    contact = await make_contact(client, org, "Bob Rivera")
    r = await client.post(f"{V1}/contacts/{contact['id']}/qualify", headers=org.rep.h)
    assert r.status_code == 200, r.text
    await worker.run_once()

    deals, activities = table("deals"), table("activities")
    [deal] = await rows(db, sa.select(deals).where(deals.c.contact_id == contact["id"]))
    assert deal.title == "Bob Rivera - Inbound" and deal.owner_id == org.rep.user_id
    r = await client.get(f"{V1}/deals/{deal.id}", headers=org.rep.h)
    assert r.json()["value"]["amount"] == "12000.00"
    [task] = await rows(db, sa.select(activities).where(activities.c.contact_id == contact["id"]))
    assert task.type == "task" and task.subject == "Follow up with Bob Rivera"
    assert task.assignee_id == org.rep.user_id and task.completed_at is None
    assert timedelta(days=1, hours=23) < task.due_at - clock.now() <= timedelta(days=2)

    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "succeeded" and run["depth"] == 1 and run["event_type"] == "contact.qualified"
    assert [(a["type"], a["status"]) for a in run["actions"]] == [("create_deal", "succeeded"),
                                                                  ("create_activity", "succeeded")]
    assert run["actions"][0]["result"] == {"deal_id": deal.id}
    assert run["started_at"] and run["finished_at"]

    # the deal's event says which rule made it, and on which event
    [created] = await rows(db, sa.select(events).where(events.c.type == "deal.created"))
    assert created.actor_type == "automation" and created.actor_id == rule["id"]
    assert created.data["automation"]["rule_id"] == rule["id"] and created.data["automation"]["depth"] == 1
    assert created.data["automation"]["event_id"] == run["event_id"]
    assert await worker.run_once() == 0  # nothing left: the rule's own events did not fire it again


async def test_a_win_back_campaign_is_refused_until_campaigns_exist(client: httpx.AsyncClient, org: Org,
                                                                      db: Database) -> None:
    body = {**CHURN_RULE, "actions": [{"type": "add_to_campaign"}]}
    err = problem(await client.post(AUTOS, json=body, headers=org.admin.h), 422)
    assert err["errors"][0]["field"] == "actions.0.type" and "campaigns do not exist" in err["errors"][0]["message"]
    assert (await count_rows(db, "automations"))["automations"] == 0


async def test_a_churned_contact_gets_a_win_back_task_and_its_owners_manager_is_told(
        client: httpx.AsyncClient, org: Org, worker: Worker, db: Database) -> None:
    rule = await make_rule(client, org, CHURN_RULE)
    contact = await make_contact(client, org, "Carol", stage="customer")
    r = await client.patch(f"{V1}/contacts/{contact['id']}", json={"title": "CTO"}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    r = await client.patch(f"{V1}/contacts/{contact['id']}", json={"stage": "churned"}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    await worker.run_once()

    done = await runs(client, org, rule["id"])
    assert sorted((x["status"], x["reason"]) for x in done) == [("skipped", "conditions not met"),
                                                                 ("succeeded", None)]
    activities = table("activities")
    [task] = await rows(db, sa.select(activities).where(activities.c.contact_id == contact["id"]))
    assert task.subject == "Win-back: Carol" and task.assignee_id == org.rep.user_id
    r = await client.get(f"{V1}/notifications", headers=org.manager.h)
    assert [n["title"] for n in r.json()["data"] if n["type"] == "automation.notified"] == ["Carol churned"]


# --- conditions, templates, actions ---------------------------------------------------------------------

async def test_conditions_on_the_records_fields_choose_which_events_run(client: httpx.AsyncClient, org: Org,
                                                                         worker: Worker, db: Database) -> None:
    rule = await make_rule(client, org, {
        "name": "VIP", "trigger": "contact.created",
        "conditions": {"all": [{"field": "lead_score", "op": "gte", "value": 70},
                               {"any": [{"field": "tags", "op": "contains", "value": "vip"},
                                        {"field": "email", "op": "contains", "value": "@bigco."}]}]},
        "actions": [{"type": "add_tag", "tag": "hot-{{ contact.lead_score }}"},
                    {"type": "update_field", "field": "notes", "value": "scored {{ record.lead_score }}"}]})
    hot = await make_contact(client, org, "Hot", lead_score=80, tags=["vip"])
    cold = await make_contact(client, org, "Cold", lead_score=80)
    await worker.run_once()
    statuses = {x["status"] for x in await runs(client, org, rule["id"])}
    assert statuses == {"succeeded", "skipped"}
    got = (await client.get(f"{V1}/contacts/{hot['id']}", headers=org.admin.h)).json()
    assert got["tags"] == ["vip", "hot-80"] and got["notes"] == "scored 80"
    assert (await client.get(f"{V1}/contacts/{cold['id']}", headers=org.admin.h)).json()["tags"] == []


async def test_an_undefined_template_name_fails_that_action_and_the_others_still_run(
        client: httpx.AsyncClient, org: Org, worker: Worker) -> None:
    rule = await make_rule(client, org, {
        "name": "Broken", "trigger": "contact.created",
        "actions": [{"type": "add_tag", "tag": "{{ deal.title }}"}, {"type": "add_tag", "tag": "seen"}]})
    contact = await make_contact(client, org)
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "failed" and run["reason"] == "1 of 2 action(s) failed"
    assert run["actions"][0]["status"] == "failed" and "'deal' is undefined" in run["actions"][0]["error"]
    assert run["actions"][1]["status"] == "succeeded"
    assert (await client.get(f"{V1}/contacts/{contact['id']}", headers=org.admin.h)).json()["tags"] == ["seen"]


async def test_a_failing_service_rule_is_logged_as_the_actions_error(client: httpx.AsyncClient, org: Org,
                                                                     worker: Worker) -> None:
    rule = await make_rule(client, org, {
        "name": "Backwards", "trigger": "contact.created",
        "actions": [{"type": "update_field", "field": "stage", "value": "churned"}]})  # lead → churned is illegal
    await make_contact(client, org)
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "failed" and run["actions"][0]["error"].startswith("409 invalid-transition")


async def test_call_webhook_posts_the_event_signed_with_the_rules_secret(client: httpx.AsyncClient, org: Org,
                                                                         worker: Worker, rx: Receiver) -> None:
    rule = await make_rule(client, org, {
        "name": "Tell the app", "trigger": "contact.created",
        "actions": [{"type": "call_webhook", "url": rx.url, "payload": {"who": "{{ contact.name }}", "n": 1}}]})
    assert rule["secret"].startswith("whsec_")
    contact = await make_contact(client, org, "Dana")
    await worker.run_once()
    [got] = rx.wait_for(1)
    assert webhook_model.verify(rule["secret"], got.headers["kith-signature"], got.body)
    body = got.json
    assert body["payload"] == {"who": "Dana", "n": 1} and body["automation_id"] == rule["id"]
    assert body["event"]["type"] == "contact.created" and body["event"]["subject"]["id"] == contact["id"]
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "succeeded" and run["actions"][0]["result"]["status_code"] == 200
    assert got.headers["kith-run-id"] == run["id"]
    r = await client.get(f"{AUTOS}/{rule['id']}", headers=org.admin.h)
    assert "secret" not in r.json()


async def test_a_receiver_error_fails_the_call_webhook_action(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                              rx: Receiver) -> None:
    rx.default = 500
    rule = await make_rule(client, org, {"name": "x", "trigger": "contact.created",
                                         "actions": [{"type": "call_webhook", "url": rx.url}]})
    await make_contact(client, org)
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "failed" and run["actions"][0]["error"] == "HTTP 500"


async def test_call_webhook_to_a_private_address_is_refused_as_shipped(db: Database, settings: Settings,
                                                                       org: Org) -> None:
    app = create_app(replace(settings, webhooks_allow_private=False), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
        body = {"name": "x", "trigger": "contact.created",
                "actions": [{"type": "call_webhook", "url": "http://127.0.0.1:9/hook"}]}
        err = problem(await c.post(AUTOS, json=body, headers=org.admin.h), 422)
    assert err["errors"][0]["field"] == "actions.0.url" and "private" in err["errors"][0]["message"]


# --- loop protection, idempotency, disabled rules -------------------------------------------------------

async def test_a_rule_does_not_fire_on_the_events_it_caused(client: httpx.AsyncClient, org: Org, worker: Worker
                                                            ) -> None:
    rule = await make_rule(client, org, {
        "name": "Bump", "trigger": "contact.updated",
        "actions": [{"type": "update_field", "field": "lead_score", "value": "{{ contact.lead_score + 1 }}"}]})
    contact = await make_contact(client, org, lead_score=10)
    r = await client.patch(f"{V1}/contacts/{contact['id']}", json={"title": "CEO"}, headers=org.admin.h)
    assert r.status_code == 200
    await worker.run_once()
    done = await runs(client, org, rule["id"])
    assert [(x["status"], x["depth"]) for x in done] == [("skipped", 2), ("succeeded", 1)]  # newest first
    assert done[0]["reason"] == "loop: the event was caused by this rule"
    assert (await client.get(f"{V1}/contacts/{contact['id']}", headers=org.admin.h)).json()["lead_score"] == 11


async def test_a_chain_deeper_than_the_limit_stops_and_is_logged(client: httpx.AsyncClient, org: Org,
                                                                 worker: Worker, db: Database) -> None:
    rule = await make_rule(client, org, {"name": "x", "trigger": "contact.updated",
                                         "actions": [{"type": "add_tag", "tag": "deep"}]})
    contact = await make_contact(client, org)
    chain = [f"automation_other{i}" for i in range(MAX_DEPTH)]
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):  # an update made at the end of a MAX_DEPTH-long chain
        await uow.record(org.id, "contact.updated", subject_type="contact", subject_id=contact["id"],
                         actor_id=chain[-1], actor_type="automation",
                         data={"before": {}, "after": {}, "automation": {"chain": chain, "depth": MAX_DEPTH}})
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "skipped" and run["depth"] == MAX_DEPTH + 1 and "chain too deep" in run["reason"]
    assert (await client.get(f"{V1}/contacts/{contact['id']}", headers=org.admin.h)).json()["tags"] == []


async def test_an_event_relayed_twice_runs_the_actions_once(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                            db: Database) -> None:
    await make_rule(client, org, QUALIFIED_RULE)
    contact = await make_contact(client, org)
    await client.post(f"{V1}/contacts/{contact['id']}/qualify", headers=org.rep.h)
    await worker.run_once()
    # as after a crash between the relay's hand-over and its cursor move: the relay starts over
    async with db.engine.begin() as conn:
        await conn.execute(outbox_cursors.update().where(outbox_cursors.c.consumer == CONSUMER).values(
            high_id=floor_id(clock.now() - timedelta(hours=1)), low_id=floor_id(clock.now() - timedelta(hours=1))))
        await conn.execute(outbox_marks.delete().where(outbox_marks.c.consumer == CONSUMER))
    await worker.run_once()
    deals = table("deals")
    assert len(await rows(db, sa.select(deals.c.id).where(deals.c.contact_id == contact["id"]))) == 1
    assert (await count_rows(db, "automation_runs"))["automation_runs"] == 1


async def test_a_disabled_rule_does_not_run_and_fires_again_once_enabled(client: httpx.AsyncClient, org: Org,
                                                                         worker: Worker) -> None:
    rule = await make_rule(client, org, {"name": "x", "enabled": False, "trigger": "contact.created",
                                         "actions": [{"type": "add_tag", "tag": "seen"}]})
    before = await make_contact(client, org, "Before")
    await worker.run_once()
    assert await runs(client, org, rule["id"]) == []
    r = await client.patch(f"{AUTOS}/{rule['id']}", json={"enabled": True}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["enabled"] is True and r.json()["version"] == 2
    after = await make_contact(client, org, "After")
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "succeeded"
    assert (await client.get(f"{V1}/contacts/{after['id']}", headers=org.admin.h)).json()["tags"] == ["seen"]
    assert (await client.get(f"{V1}/contacts/{before['id']}", headers=org.admin.h)).json()["tags"] == []


async def test_a_rule_disabled_before_its_run_skips_it(client: httpx.AsyncClient, org: Org, worker: Worker) -> None:
    rule = await make_rule(client, org, {"name": "x", "trigger": "contact.created",
                                         "actions": [{"type": "add_tag", "tag": "seen"}]})
    await make_contact(client, org)
    await worker.relay.step()  # the run is queued ...
    await client.patch(f"{AUTOS}/{rule['id']}", json={"enabled": False}, headers=org.admin.h)
    await worker.run_once()  # ... but the rule was switched off before it ran
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "skipped" and run["reason"] == "the rule was disabled before it ran"


# --- the API: CRUD, run log, bad input, permissions, other orgs ---------------------------------------------

async def test_create_read_update_delete(client: httpx.AsyncClient, org: Org, db: Database) -> None:
    rule = await make_rule(client, org, QUALIFIED_RULE)
    assert rule["enabled"] is True and rule["version"] == 1 and rule["created_by"] == org.admin.user_id
    assert rule["actions"][1]["assignee"] == "owner" and rule["conditions"] == {}
    r = await client.get(f"{AUTOS}/{rule['id']}", headers=org.manager.h)
    assert r.status_code == 200 and r.headers["etag"] == '"v1"'
    r = await client.get(AUTOS, params={"trigger": "contact.qualified"}, headers=org.admin.h)
    assert [x["id"] for x in r.json()["data"]] == [rule["id"]]
    r = await client.patch(f"{AUTOS}/{rule['id']}", json={"name": "Renamed"}, headers={**org.admin.h,
                                                                                      "If-Match": '"v7"'})
    problem(r, 412)
    r = await client.patch(f"{AUTOS}/{rule['id']}", json={"name": "Renamed"}, headers={**org.admin.h,
                                                                                      "If-Match": '"v1"'})
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["version"] == 2
    problem(await client.patch(f"{AUTOS}/{rule['id']}", json={"conditions": {
        "all": [{"field": "nope", "op": "eq", "value": 1}]}}, headers=org.admin.h), 422)
    assert (await client.delete(f"{AUTOS}/{rule['id']}", headers=org.admin.h)).status_code == 204
    problem(await client.get(f"{AUTOS}/{rule['id']}", headers=org.admin.h), 404)
    types = [e.type for e in await rows(db, sa.select(events.c.type).where(events.c.subject_id == rule["id"])
                                        .order_by(events.c.id))]
    assert types == ["automation.created", "automation.updated", "automation.deleted"]
    [created] = await rows(db, sa.select(events.c.data).where(events.c.type == "automation.created"))
    assert rule["secret"] not in str(created.data)


async def test_the_run_log_is_keyset_paginated_and_filterable(client: httpx.AsyncClient, org: Org,
                                                              worker: Worker) -> None:
    rule = await make_rule(client, org, {"name": "x", "trigger": "contact.created",
                                         "conditions": {"all": [{"field": "name", "op": "ne", "value": "Skip"}]},
                                         "actions": [{"type": "add_tag", "tag": "t"}]})
    for name in ("A", "Skip", "C"):
        await make_contact(client, org, name)
    await worker.run_once()
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{AUTOS}/{rule['id']}/runs", params=params, headers=org.admin.h)
        seen += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 and [x["id"] for x in seen] == sorted((x["id"] for x in seen), reverse=True)
    assert len(await runs(client, org, rule["id"], status="skipped")) == 1
    problem(await client.get(f"{AUTOS}/{rule['id']}/runs", params={"status": "nope"}, headers=org.admin.h), 422)
    problem(await client.get(f"{AUTOS}/{rule['id']}/runs", params={"colour": "red"}, headers=org.admin.h), 422)


def _rule(**over: Any) -> dict[str, Any]:
    return {"name": "r", "trigger": "contact.updated", "actions": [{"type": "add_tag", "tag": "x"}], **over}


def _cond(*leaves: dict[str, Any]) -> dict[str, Any]:
    return _rule(conditions={"all": list(leaves)})


BAD_BODIES = [
    pytest.param(_rule(trigger="contact.exploded"), "trigger", id="unknown-trigger"),
    pytest.param(_cond({"field": "colour", "op": "eq", "value": "red"}), "conditions.all.0.field", id="unknown-field"),
    pytest.param(_cond({"field": "stage", "op": "like", "value": "x"}), "conditions.all.0.op", id="bad-op"),
    pytest.param(_cond({"field": "stage", "op": "eq", "value": "royalty"}), "conditions.all.0.value", id="bad-enum"),
    pytest.param(_cond({"field": "lead_score", "op": "gt", "value": "high"}), "conditions.all.0.value",
                 id="number-expected"),
    pytest.param(_cond({"field": "name", "op": "gt", "value": "b"}), "conditions.all.0.op", id="gt-on-text"),
    pytest.param(_cond({"field": "stage", "op": "in", "value": "lead"}), "conditions.all.0.value", id="in-not-list"),
    pytest.param(_cond({"field": "email", "op": "is_empty", "value": 1}), "conditions.all.0.value",
                 id="is-empty-with-value"),
    pytest.param(_cond({"field": "stage", "op": "eq"}), "conditions.all.0.value", id="value-missing"),
    pytest.param(_cond({"field": "stage", "op": "changed", "to": "gold"}), "conditions.all.0.to", id="changed-to-bad"),
    pytest.param(_cond({"field": "stage", "op": "eq", "value": "lead", "to": "x"}), "conditions.all.0.to",
                 id="to-without-changed"),
    pytest.param(_rule(conditions={"all": [], "any": []}), "conditions", id="two-group-keys"),
    pytest.param(_rule(conditions={"all": [{"any": [{"all": [{"any": [{"all": [{"any": []}]}]}]}]}]}),
                 "conditions.all.0.any.0.all.0.any.0.all.0", id="too-deep"),
    pytest.param(_cond({"field": "custom_fields.plan", "op": "eq", "value": "pro"}), "conditions.all.0.field",
                 id="undefined-custom-field"),
    pytest.param(_rule(trigger="webhook.created", conditions={"all": [{"field": "url", "op": "is_empty"}]}),
                 "conditions", id="conditions-without-record"),
    pytest.param(_rule(actions=[]), "actions", id="no-actions"),
    pytest.param(_rule(actions=[{"type": "explode"}]), "actions.0.type", id="unknown-action"),
    pytest.param(_rule(actions=[{"type": "create_deal"}]), "actions.0.title", id="deal-without-title"),
    pytest.param(_rule(actions=[{"type": "create_deal", "title": "t", "pipeline_id": "pipeline_nope"}]),
                 "actions.0.pipeline_id", id="deal-unknown-pipeline"),
    pytest.param(_rule(actions=[{"type": "create_deal", "title": "t", "stage_id": "stage_nope"}]),
                 "actions.0.stage_id", id="deal-unknown-stage"),
    pytest.param(_rule(actions=[{"type": "create_activity", "subject": "s", "due_in_days": -1}]),
                 "actions.0.due_in_days", id="negative-due"),
    pytest.param(_rule(actions=[{"type": "create_activity", "subject": "s", "activity_type": "fax"}]),
                 "actions.0.activity_type", id="bad-activity-type"),
    pytest.param(_rule(actions=[{"type": "update_field", "field": "colour", "value": "red"}]), "actions.0.field",
                 id="update-unknown-field"),
    pytest.param(_rule(actions=[{"type": "update_field", "field": "lead_score", "value": 101}]), "actions.0.value",
                 id="update-bad-value"),
    pytest.param(_rule(trigger="lead.created", actions=[{"type": "add_tag", "tag": "x"}]), "actions.0.type",
                 id="tag-on-untagged-record"),
    pytest.param(_rule(actions=[{"type": "notify_user", "to": "user_nobody", "title": "t"}]), "actions.0.to",
                 id="notify-unknown-user"),
    pytest.param(_rule(actions=[{"type": "notify_user", "title": "{{ contact.name"}]), "actions.0.title",
                 id="template-syntax"),
    pytest.param(_rule(actions=[{"type": "notify_user", "title": "{{ os.system }}"}]), "actions.0.title",
                 id="template-unknown-name"),
    pytest.param(_rule(actions=[{"type": "notify_user", "title": "{% for i in range(9) %}x{% endfor %}"}]),
                 "actions.0.title", id="template-statement"),
    pytest.param(_rule(actions=[{"type": "call_webhook", "url": "ftp://example.com/x"}]), "actions.0.url",
                 id="webhook-bad-scheme"),
    pytest.param(_rule(actions=[{"type": "add_tag", "tag": "x", "colour": 1}]), "actions.0.colour",
                 id="unknown-action-key"),
    pytest.param(_rule(name=""), "name", id="empty-name"),
    pytest.param(_rule(enabled="yes"), "enabled", id="enabled-not-bool"),
    pytest.param({**_rule(), "extra": 1}, "extra", id="unknown-key"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_a_bad_rule_is_refused_naming_the_field_and_nothing_is_written(
        client: httpx.AsyncClient, org: Org, db: Database, body: dict[str, Any], field: str) -> None:
    before = await count_rows(db, "automations", "events", "outbox_cursors")
    err = problem(await client.post(AUTOS, json=body, headers=org.admin.h), 422)
    assert field in [e["field"] for e in err["errors"]], err
    assert await count_rows(db, "automations", "events", "outbox_cursors") == before


async def test_a_malformed_body_is_400(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.post(AUTOS, content=b"{not json", headers={**org.admin.h, "content-type": "application/json"})
    problem(r, 400)


@pytest.mark.parametrize(("persona", "read", "write"), [
    pytest.param("admin", 200, 201, id="crm-admin"),
    pytest.param("manager", 200, 403, id="sales-manager"),
    pytest.param("rep", 403, 403, id="sales-rep"),
    pytest.param("support", 403, 403, id="support-agent"),
    pytest.param("marketing", 403, 403, id="marketing"),
    pytest.param("viewer", 403, 403, id="viewer"),
])
async def test_permissions(client: httpx.AsyncClient, org: Org, persona: str, read: int, write: int) -> None:
    h = getattr(org, persona).h
    rule = await make_rule(client, org, _rule())
    assert (await client.get(AUTOS, headers=h)).status_code == read
    assert (await client.get(f"{AUTOS}/{rule['id']}", headers=h)).status_code == read
    assert (await client.get(f"{AUTOS}/{rule['id']}/runs", headers=h)).status_code == read
    assert (await client.post(AUTOS, json=_rule(), headers=h)).status_code == write
    expected = 200 if write == 201 else write
    assert (await client.patch(f"{AUTOS}/{rule['id']}", json={"name": "n"}, headers=h)).status_code == expected
    expected = 204 if write == 201 else write
    assert (await client.delete(f"{AUTOS}/{rule['id']}", headers=h)).status_code == expected


async def test_another_orgs_rules_are_404_and_its_events_do_not_fire_ours(
        client: httpx.AsyncClient, org: Org, other_org: Org, worker: Worker) -> None:
    theirs = await make_rule(client, other_org, _rule(trigger="contact.created"))
    for method, path in [("GET", f"{AUTOS}/{theirs['id']}"), ("PATCH", f"{AUTOS}/{theirs['id']}"),
                         ("DELETE", f"{AUTOS}/{theirs['id']}"), ("GET", f"{AUTOS}/{theirs['id']}/runs")]:
        kw: dict[str, Any] = {"json": {"name": "mine"}} if method == "PATCH" else {}
        problem(await client.request(method, path, headers=org.admin.h, **kw), 404)
    assert (await client.get(AUTOS, headers=org.admin.h)).json()["data"] == []
    await make_contact(client, org)
    await worker.run_once()
    assert await runs(client, other_org, theirs["id"]) == []


async def test_a_retried_run_does_not_redo_the_actions_it_logged(client: httpx.AsyncClient, org: Org,
                                                                 worker: Worker, db: Database) -> None:
    rule = await make_rule(client, org, QUALIFIED_RULE)
    contact = await make_contact(client, org)
    await client.post(f"{V1}/contacts/{contact['id']}/qualify", headers=org.rep.h)
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    # as if the worker died after its last action committed but before the run was closed
    async with db.engine.begin() as conn:
        await conn.execute(table("automation_runs").update().values(
            status="pending", finished_at=None, next_attempt_at=clock.now(), lease_token=None))
    await worker.run_once()
    [again] = await runs(client, org, rule["id"])
    assert again["status"] == "succeeded" and again["actions"] == run["actions"] and again["attempts"] == 2
    deals, activities = table("deals"), table("activities")
    assert len(await rows(db, sa.select(deals.c.id).where(deals.c.contact_id == contact["id"]))) == 1
    assert len(await rows(db, sa.select(activities.c.id).where(activities.c.contact_id == contact["id"]))) == 1


async def test_a_run_whose_worker_keeps_dying_is_given_up(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                          db: Database) -> None:
    rule = await make_rule(client, org, _rule(trigger="contact.created"))
    contact = await make_contact(client, org)
    await worker.relay.step()
    async with db.engine.begin() as conn:
        await conn.execute(table("automation_runs").update().values(attempts=3))
    await worker.run_once()
    [run] = await runs(client, org, rule["id"])
    assert run["status"] == "failed" and run["reason"] == "given up after 3 attempts" and run["actions"] == []
    assert (await client.get(f"{V1}/contacts/{contact['id']}", headers=org.admin.h)).json()["tags"] == []


async def test_a_deal_rule_sees_the_deal_its_contact_and_its_owner(client: httpx.AsyncClient, org: Org,
                                                                  worker: Worker) -> None:
    await make_rule(client, org, {
        "name": "Big deal", "trigger": "deal.created",
        "conditions": {"all": [{"field": "value.amount", "op": "gte", "value": 1000}]},
        "actions": [{"type": "notify_user", "to": "owner_manager",
                     "title": "{{ deal.title }}: {{ deal.value }} for {{ contact.name }} by {{ owner.name }}"}]})
    contact = await make_contact(client, org, "Erin")
    for title, amount in (("Small", "10"), ("Big", "5000")):
        r = await client.post(f"{V1}/deals", json={"title": title, "contact_id": contact["id"],
                                                  "value": {"amount": amount, "currency": "USD"}}, headers=org.rep.h)
        assert r.status_code == 201, r.text
    await worker.run_once()
    r = await client.get(f"{V1}/notifications", headers=org.manager.h)
    assert [n["title"] for n in r.json()["data"] if n["type"] == "automation.notified"] == [
        "Big: 5000.00 USD for Erin by Rep"]


async def test_two_workers_at_once_run_each_rule_once_per_event(client: httpx.AsyncClient, org: Org, db: Database,
                                                                settings: Settings) -> None:
    await make_rule(client, org, QUALIFIED_RULE)
    contacts = [await make_contact(client, org, f"P{i}") for i in range(6)]
    for c in contacts:
        await client.post(f"{V1}/contacts/{c['id']}/qualify", headers=org.rep.h)
    a, b = Worker(db, settings), Worker(db, settings)
    try:
        await asyncio.gather(a.run_once(), b.run_once())
        await a.run_once()
    finally:
        await a.aclose()
        await b.aclose()
    deals = table("deals")
    found = await rows(db, sa.select(deals.c.contact_id))
    assert sorted(x.contact_id for x in found) == sorted(c["id"] for c in contacts)
