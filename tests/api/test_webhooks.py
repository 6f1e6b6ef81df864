"""Outbound webhooks over HTTP (DESIGN §5.4), delivered by the real worker to a real HTTP receiver
on 127.0.0.1: signatures a receiver can verify, retries with the documented backoff (time frozen
through ``kith.core.clock``), the delivery log, replay, auto-disable with a notification, private
targets refused at creation and at delivery, redirects not followed, permissions, other orgs' ids,
bad input (nothing written), and the event catalogue."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.config import Settings
from kith.core import clock
from kith.core.db import Database
from kith.core.events import EVENT_TYPES, events
from kith.entrypoints.app import create_app
from kith.notifications.tables import notifications
from kith.webhooks import model
from kith.worker.runner import Worker
from tests.conftest import Org, count_rows, problem
from tests.receiver import Receiver, serve

V1 = "/api/v1"
HOOKS = f"{V1}/webhooks"
PUBLIC_URL = "https://93.184.216.34/hook"  # a public IP literal: accepted without DNS, never called


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, max_body_bytes=64 * 1024, webhooks_allow_private=True,
                    webhook_timeout_seconds=1.0, webhook_disable_after=50)


@pytest.fixture
async def make_worker(db: Database, settings: Settings) -> AsyncIterator[Any]:
    """Workers on the test database (settings overridable); their HTTP clients closed at the end."""
    made: list[Worker] = []

    def make(**over: Any) -> Worker:
        made.append(Worker(db, replace(settings, **over)))
        return made[-1]

    yield make
    for w in made:
        await w.aclose()


@pytest.fixture
def worker(make_worker: Any) -> Worker:
    return make_worker()  # type: ignore[no-any-return]


@pytest.fixture
async def strict_client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API as shipped: private targets refused."""
    app = create_app(replace(settings, webhooks_allow_private=False), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
        yield c


@pytest.fixture
def rx() -> Any:
    with serve() as receiver:
        yield receiver


async def make_hook(client: httpx.AsyncClient, org: Org, url: str, events_: list[str] | None = None,
                    **more: Any) -> dict[str, Any]:
    r = await client.post(HOOKS, json={"url": url, "events": events_ or ["contact.created"], **more},
                          headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def make_contact(client: httpx.AsyncClient, org: Org, name: str = "Ada") -> dict[str, Any]:
    r = await client.post(f"{V1}/contacts", json={"name": name}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def deliveries(client: httpx.AsyncClient, org: Org, hook_id: str, **params: str) -> list[dict[str, Any]]:
    r = await client.get(f"{HOOKS}/{hook_id}/deliveries", params=params, headers=org.admin.h)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def expected_signature(secret: str, header: str, body: bytes) -> bool:
    """The receiver's check, written from the contract (not through kith's code)."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"])


# --- create, read, secret --------------------------------------------------------------------------

async def test_creating_a_webhook_shows_the_secret_once(client: httpx.AsyncClient, org: Org, db: Database) -> None:
    hook = await make_hook(client, org, PUBLIC_URL, ["contact.created", "deal.*"], description="CRM sync")
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert hook["enabled"] is True and hook["events"] == ["contact.created", "deal.*"]
    got = await client.get(f"{HOOKS}/{hook['id']}", headers=org.admin.h)
    assert got.status_code == 200 and "secret" not in got.json() and got.headers["ETag"] == '"v1"'
    listed = (await client.get(HOOKS, headers=org.admin.h)).json()["data"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(events).where(events.c.type == "webhook.created"))).one()
    assert row.subject_id == hook["id"] and row.actor_id == org.admin.user_id
    assert hook["secret"] not in str(row.data)


async def test_rotating_the_secret_signs_with_the_new_one_only(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                               rx: Receiver) -> None:
    hook = await make_hook(client, org, rx.url)
    r = await client.post(f"{HOOKS}/{hook['id']}/rotate-secret", headers=org.admin.h)
    assert r.status_code == 200 and r.json()["secret"] != hook["secret"] and r.json()["version"] == 2
    await make_contact(client, org)
    await worker.run_once()
    [got] = rx.wait_for(1)
    assert expected_signature(r.json()["secret"], got.headers["kith-signature"], got.body)
    assert not expected_signature(hook["secret"], got.headers["kith-signature"], got.body)


# --- delivery ------------------------------------------------------------------------------------

async def test_an_event_is_delivered_signed_and_logged(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                       rx: Receiver, db: Database) -> None:
    hook = await make_hook(client, org, rx.url, ["contact.created"])
    contact = await make_contact(client, org, "Grace")
    await worker.run_once()
    [got] = rx.wait_for(1)
    body = got.json
    assert {"id", "type", "created_at", "data"} <= set(body)
    assert body["type"] == "contact.created" and body["data"]["after"]["name"] == "Grace"
    assert body["subject"] == {"type": "contact", "id": contact["id"]}
    assert got.headers["kith-event-id"] == body["id"] and got.headers["kith-event-type"] == "contact.created"
    assert got.headers["content-type"] == "application/json"
    assert expected_signature(hook["secret"], got.headers["kith-signature"], got.body)
    assert model.verify(hook["secret"], got.headers["kith-signature"], got.body, now=int(clock.now().timestamp()))
    t = int(got.headers["kith-signature"].split(",")[0].removeprefix("t="))
    assert abs(t - clock.now().timestamp()) < 60
    async with db.engine.connect() as conn:
        evt = (await conn.execute(sa.select(events.c.id).where(events.c.type == "contact.created"))).scalar_one()
    assert body["id"] == evt
    [log] = await deliveries(client, org, hook["id"])
    assert log["status"] == "succeeded" and log["event_id"] == evt and log["attempt_count"] == 1
    assert got.headers["kith-delivery-id"] == log["id"]
    [attempt] = log["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["latency_ms"] >= 0
    # Nothing more to do: running again sends nothing.
    assert await worker.run_once() == 0 and len(rx.received) == 1


@pytest.mark.parametrize("subscribed, expected", [
    pytest.param(["*"], {"contact.created", "contact.updated", "company.created"}, id="everything"),
    pytest.param(["contact.*"], {"contact.created", "contact.updated"}, id="one-noun"),
    pytest.param(["company.created", "contact.updated"], {"company.created", "contact.updated"}, id="exact"),
])
async def test_only_subscribed_event_types_are_delivered(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                         rx: Receiver, subscribed: list[str],
                                                         expected: set[str]) -> None:
    await make_hook(client, org, rx.url, subscribed)
    contact = await make_contact(client, org)
    r = await client.patch(f"{V1}/contacts/{contact['id']}", json={"title": "CTO"}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    r = await client.post(f"{V1}/companies", json={"name": "Initech"}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    await worker.run_once()
    types = {x.json["type"] for x in rx.received}
    assert types - {"webhook.created"} == expected


async def test_events_of_another_org_are_not_delivered(client: httpx.AsyncClient, org: Org, other_org: Org,
                                                       worker: Worker, rx: Receiver) -> None:
    await make_hook(client, org, rx.url, ["contact.created"])
    await make_contact(client, other_org)
    await worker.run_once()
    assert rx.received == []
    await make_contact(client, org)
    await worker.run_once()
    assert [x.json["org_id"] for x in rx.received] == [org.id]


async def test_a_failing_receiver_is_retried_on_the_schedule_until_it_succeeds(
        client: httpx.AsyncClient, org: Org, worker: Worker) -> None:
    t0 = clock.now()
    with serve(script=[500, 503, ("sleep", 2.5, 200), 200]) as rx:
        with clock.frozen(t0):
            hook = await make_hook(client, org, rx.url)
            await make_contact(client, org)
            await worker.run_once()
        [log] = await deliveries(client, org, hook["id"])
        assert (log["status"], log["attempt_count"], log["last_status_code"]) == ("pending", 1, 500)
        assert datetime.fromisoformat(log["next_attempt_at"]) == t0 + timedelta(seconds=10)
        with clock.frozen(t0 + timedelta(seconds=9)):
            await worker.run_once()
        assert len(rx.received) == 1  # not due yet
        for offset, code, error in [(10, 503, "HTTP 503"), (70, None, "timed out"), (370, 200, None)]:
            with clock.frozen(t0 + timedelta(seconds=offset)):
                await worker.run_once()
            [log] = await deliveries(client, org, hook["id"])
            assert log["attempts"][-1]["status_code"] == code
            assert (log["attempts"][-1]["error"] or "").startswith(error or "")
        assert log["status"] == "succeeded" and log["attempt_count"] == 4
        assert [a["number"] for a in log["attempts"]] == [1, 2, 3, 4]
        received = rx.wait_for(4)
        assert len({x.headers["kith-event-id"] for x in received}) == 1
        assert len({x.body for x in received}) == 1  # the same body every time
    r = await client.get(f"{HOOKS}/{hook['id']}", headers=org.admin.h)
    assert r.json()["consecutive_failures"] == 0


async def test_a_delivery_gives_up_after_the_last_retry(client: httpx.AsyncClient, org: Org,
                                                        make_worker: Any) -> None:
    worker = make_worker(webhook_backoff=(0, 0))
    with serve(default=500) as rx:
        hook = await make_hook(client, org, rx.url)
        await make_contact(client, org)
        await worker.run_once()
        assert len(rx.received) == 3
    [log] = await deliveries(client, org, hook["id"], status="failed")
    assert log["attempt_count"] == 3 and log["next_attempt_at"] is None


async def test_an_unreachable_receiver_counts_as_a_failed_attempt(client: httpx.AsyncClient, org: Org,
                                                                  worker: Worker) -> None:
    with serve() as rx:
        url = rx.url
    hook = await make_hook(client, org, url)  # the port is closed now
    await make_contact(client, org)
    await worker.run_once()
    [log] = await deliveries(client, org, hook["id"])
    assert log["status"] == "pending" and log["attempts"][0]["status_code"] is None
    assert "Connect" in log["attempts"][0]["error"]


async def test_a_redirect_is_not_followed(client: httpx.AsyncClient, org: Org, worker: Worker) -> None:
    with serve(script=[302]) as rx:
        hook = await make_hook(client, org, rx.url)
        await make_contact(client, org)
        await worker.run_once()
        assert len(rx.received) == 1
    [log] = await deliveries(client, org, hook["id"])
    assert log["status"] == "pending" and log["last_error"] == "HTTP 302"


async def test_consecutive_failures_disable_the_webhook_and_notify_its_creator(
        client: httpx.AsyncClient, org: Org, db: Database, make_worker: Any) -> None:
    worker = make_worker(webhook_backoff=(0,) * 10, webhook_disable_after=3)
    with serve(default=500) as rx:
        hook = await make_hook(client, org, rx.url)
        await make_contact(client, org)
        await worker.run_once()
        assert len(rx.received) == 3
        got = (await client.get(f"{HOOKS}/{hook['id']}", headers=org.admin.h)).json()
        assert got["enabled"] is False and got["consecutive_failures"] == 3
        assert "3 consecutive failed attempts" in got["disabled_reason"] and got["version"] == 2
        async with db.engine.connect() as conn:
            [note] = (await conn.execute(sa.select(notifications).where(
                notifications.c.type == "webhook.disabled"))).all()
            evt = (await conn.execute(sa.select(events).where(events.c.type == "webhook.disabled"))).one()
        assert note.user_id == org.admin.user_id and note.subject_id == hook["id"]
        assert evt.actor_type == "system" and evt.data["failures"] == 3
        # Disabled: new events are not fanned out, pending ones wait.
        await make_contact(client, org, "Later")
        assert await worker.run_once() == 0 and len(rx.received) == 3
        r = await client.post(f"{HOOKS}/{hook['id']}/deliveries/{(await deliveries(client, org, hook['id']))[0]['id']}"
                              "/replay", headers=org.admin.h)
        problem(r, 409)
        # Re-enabled: the count starts again, the pending delivery resumes, new events flow.
        rx.default = 200
        r = await client.patch(f"{HOOKS}/{hook['id']}", json={"enabled": True}, headers=org.admin.h)
        assert r.status_code == 200 and r.json()["consecutive_failures"] == 0 and r.json()["disabled_at"] is None
        await make_contact(client, org, "After")
        await worker.run_once()
        names = [x.json["data"]["after"]["name"] for x in rx.received[3:]]
        assert sorted(names) == ["Ada", "After"]


# --- replay, patch, delete ----------------------------------------------------------------------

async def test_a_delivery_can_be_replayed_by_hand(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                  rx: Receiver, db: Database) -> None:
    hook = await make_hook(client, org, rx.url)
    await make_contact(client, org)
    await worker.run_once()
    [first] = await deliveries(client, org, hook["id"])
    r = await client.post(f"{HOOKS}/{hook['id']}/deliveries/{first['id']}/replay", headers=org.admin.h)
    assert r.status_code == 202, r.text
    replay = r.json()
    assert replay["replay_of"] == first["id"] and replay["status"] == "pending"
    await worker.run_once()
    received = rx.wait_for(2)
    assert received[0].headers["kith-event-id"] == received[1].headers["kith-event-id"] == first["event_id"]
    log = await deliveries(client, org, hook["id"])
    assert [d["id"] for d in log] == [replay["id"], first["id"]] and log[0]["status"] == "succeeded"
    async with db.engine.connect() as conn:
        evt = (await conn.execute(sa.select(events).where(events.c.type == "webhook.delivery-replayed"))).one()
    assert evt.data == {"delivery_id": first["id"], "replay_id": replay["id"], "event_id": first["event_id"]}
    problem(await client.post(f"{HOOKS}/{hook['id']}/deliveries/delivery_nope/replay", headers=org.admin.h), 404)


async def test_patching_a_webhook(client: httpx.AsyncClient, org: Org, worker: Worker, rx: Receiver,
                                  db: Database) -> None:
    hook = await make_hook(client, org, rx.url, ["company.created"])
    r = await client.patch(f"{HOOKS}/{hook['id']}", json={"events": ["contact.created"], "description": "x"},
                           headers={**org.admin.h, "If-Match": '"v1"'})
    assert r.status_code == 200 and r.json()["events"] == ["contact.created"] and r.headers["ETag"] == '"v2"'
    before = await count_rows(db)
    problem(await client.patch(f"{HOOKS}/{hook['id']}", json={"description": "y"},
                               headers={**org.admin.h, "If-Match": '"v1"'}), 412)
    assert await count_rows(db) == before
    r = await client.patch(f"{HOOKS}/{hook['id']}", json={"enabled": False}, headers=org.admin.h)
    assert r.json()["enabled"] is False
    await make_contact(client, org)
    await worker.run_once()
    assert rx.received == []
    async with db.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).where(events.c.type == "webhook.updated"))).scalar_one()
    assert n == 2


async def test_deleting_a_webhook_removes_it_and_its_log(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                         rx: Receiver, db: Database) -> None:
    hook = await make_hook(client, org, rx.url)
    await make_contact(client, org)
    await worker.run_once()
    r = await client.delete(f"{HOOKS}/{hook['id']}", headers=org.admin.h)
    assert r.status_code == 204
    problem(await client.get(f"{HOOKS}/{hook['id']}", headers=org.admin.h), 404)
    counts = await count_rows(db, "webhooks", "webhook_deliveries", "webhook_attempts")
    assert counts == {"webhooks": 0, "webhook_deliveries": 0, "webhook_attempts": 0}
    await make_contact(client, org, "Later")
    await worker.run_once()
    assert len(rx.received) == 1


async def test_the_delivery_log_pages_and_filters(client: httpx.AsyncClient, org: Org, worker: Worker,
                                                  rx: Receiver) -> None:
    hook = await make_hook(client, org, rx.url, ["contact.created", "contact.updated"])
    for name in ("A", "B", "C"):
        await make_contact(client, org, name)
    await worker.run_once()
    r = await client.get(f"{HOOKS}/{hook['id']}/deliveries", params={"limit": 2}, headers=org.admin.h)
    page1 = r.json()
    assert len(page1["data"]) == 2 and page1["next_cursor"]
    r = await client.get(f"{HOOKS}/{hook['id']}/deliveries", params={"limit": 2, "cursor": page1["next_cursor"]},
                         headers=org.admin.h)
    assert len(r.json()["data"]) == 1 and r.json()["next_cursor"] is None
    assert len(await deliveries(client, org, hook["id"], status="succeeded")) == 3
    assert await deliveries(client, org, hook["id"], status="failed") == []
    assert len(await deliveries(client, org, hook["id"], event_type="contact.created")) == 3
    for params in ({"status": "bogus"}, {"colour": "red"}, {"sort": "url"}, {"limit": "0"}):
        problem(await client.get(f"{HOOKS}/{hook['id']}/deliveries", params=params, headers=org.admin.h), 422)
    problem(await client.get(f"{HOOKS}/{hook['id']}/deliveries", params={"cursor": "xx"}, headers=org.admin.h), 400)


# --- private targets -----------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/x", "http://api.localhost/x", "http://10.1.2.3/",
    "http://192.168.0.10/", "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/", "http://100.64.0.1/",
])
async def test_private_targets_are_refused_at_creation(strict_client: httpx.AsyncClient, org: Org, db: Database,
                                                       url: str) -> None:
    before = await count_rows(db)
    body = problem(await strict_client.post(HOOKS, json={"url": url, "events": ["*"]}, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "url" and "private" in body["detail"].lower() + body["errors"][0]["message"]
    assert await count_rows(db) == before


async def test_a_public_target_is_accepted(strict_client: httpx.AsyncClient, org: Org) -> None:
    r = await strict_client.post(HOOKS, json={"url": PUBLIC_URL, "events": ["*"]}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    hook = r.json()
    problem(await strict_client.patch(f"{HOOKS}/{hook['id']}", json={"url": "http://127.0.0.1/"},
                                      headers=org.admin.h), 422)


async def test_private_targets_are_refused_at_delivery(client: httpx.AsyncClient, org: Org, make_worker: Any,
                                                       rx: Receiver) -> None:
    """A subscription made while private targets were allowed (or a name that now resolves to a
    private address) is not called once they are not."""
    hook = await make_hook(client, org, rx.url)
    await make_contact(client, org)
    strict = make_worker(webhooks_allow_private=False)
    await strict.run_once()
    assert rx.received == []
    [log] = await deliveries(client, org, hook["id"])
    assert log["status"] == "pending" and log["last_error"].startswith("refused: 127.0.0.1 resolves to the private")


# --- bad input, permissions, other orgs ------------------------------------------------------------

@pytest.mark.parametrize("body", [
    pytest.param({"events": ["*"]}, id="no-url"),
    pytest.param({"url": "ftp://example.com/x", "events": ["*"]}, id="ftp"),
    pytest.param({"url": "http:///nohost", "events": ["*"]}, id="no-host"),
    pytest.param({"url": "not a url", "events": ["*"]}, id="not-a-url"),
    pytest.param({"url": "https://93.184.216.34/" + "a" * 2000, "events": ["*"]}, id="too-long"),
    pytest.param({"url": "https://93.184.216.34:99999/", "events": ["*"]}, id="bad-port"),
    pytest.param({"url": 12, "events": ["*"]}, id="url-not-string"),
    pytest.param({"url": PUBLIC_URL}, id="no-events"),
    pytest.param({"url": PUBLIC_URL, "events": []}, id="empty-events"),
    pytest.param({"url": PUBLIC_URL, "events": "*"}, id="events-not-list"),
    pytest.param({"url": PUBLIC_URL, "events": ["contact.exploded"]}, id="unknown-type"),
    pytest.param({"url": PUBLIC_URL, "events": ["nothing.*"]}, id="unknown-noun"),
    pytest.param({"url": PUBLIC_URL, "events": [1]}, id="type-not-string"),
    pytest.param({"url": PUBLIC_URL, "events": ["*"], "description": "x" * 501}, id="long-description"),
    pytest.param({"url": PUBLIC_URL, "events": ["*"], "secret": "mine"}, id="unknown-field"),
])
async def test_bad_webhook_bodies_are_refused_and_write_nothing(client: httpx.AsyncClient, org: Org, db: Database,
                                                                body: dict[str, Any]) -> None:
    before = await count_rows(db)
    problem(await client.post(HOOKS, json=body, headers=org.admin.h), 422)
    assert await count_rows(db) == before


async def test_bad_patches_are_refused(client: httpx.AsyncClient, org: Org, db: Database) -> None:
    hook = await make_hook(client, org, PUBLIC_URL)
    before = await count_rows(db)
    for body in ({"url": None}, {"events": []}, {"enabled": "yes"}, {"events": ["x.y"]}, {"id": "webhook_x"}):
        problem(await client.patch(f"{HOOKS}/{hook['id']}", json=body, headers=org.admin.h), 422)
    problem(await client.patch(f"{HOOKS}/{hook['id']}", content=b"{",
                               headers={**org.admin.h, "Content-Type": "application/json"}), 400)
    assert await count_rows(db) == before


@pytest.mark.parametrize("persona", ["manager", "rep", "other_rep", "support", "marketing", "viewer"])
async def test_only_a_crm_admin_manages_webhooks(client: httpx.AsyncClient, org: Org, db: Database,
                                                 persona: str) -> None:
    hook = await make_hook(client, org, PUBLIC_URL)
    who = org.people[persona].h
    before = await count_rows(db)
    base = f"{HOOKS}/{hook['id']}"
    calls = [client.post(HOOKS, json={"url": PUBLIC_URL, "events": ["*"]}, headers=who),
             client.get(HOOKS, headers=who), client.get(base, headers=who),
             client.patch(base, json={"description": "x"}, headers=who), client.delete(base, headers=who),
             client.post(f"{base}/rotate-secret", headers=who), client.get(f"{base}/deliveries", headers=who),
             client.post(f"{base}/deliveries/delivery_x/replay", headers=who)]
    for call in calls:
        body = problem(await call, 403)
        assert body["permission"] == "webhook:manage"
    assert await count_rows(db) == before
    r = await client.get(f"{V1}/event-types", headers=who)
    assert r.status_code == 200  # the catalogue is for everyone


async def test_another_orgs_webhooks_answer_404(client: httpx.AsyncClient, org: Org, other_org: Org,
                                                db: Database) -> None:
    hook = await make_hook(client, org, PUBLIC_URL)
    who = other_org.admin.h
    before = await count_rows(db)
    base = f"{HOOKS}/{hook['id']}"
    for call in (client.get(base, headers=who), client.patch(base, json={"description": "x"}, headers=who),
                 client.delete(base, headers=who), client.post(f"{base}/rotate-secret", headers=who),
                 client.get(f"{base}/deliveries", headers=who),
                 client.post(f"{base}/deliveries/delivery_x/replay", headers=who)):
        problem(await call, 404)
    assert (await client.get(HOOKS, headers=who)).json()["data"] == []
    assert await count_rows(db) == before
    problem(await client.get(f"{HOOKS}/{'x' * 41}", headers=org.admin.h), 422)
    problem(await client.get(HOOKS, headers={}), 401)


# --- the event catalogue -------------------------------------------------------------------------

async def test_the_event_catalogue_lists_every_type_with_its_payload_schema(client: httpx.AsyncClient,
                                                                           org: Org) -> None:
    r = await client.get(f"{V1}/event-types", headers=org.viewer.h)
    assert r.status_code == 200
    data = r.json()["data"]
    assert [d["type"] for d in data] == sorted(EVENT_TYPES)
    by_type = {d["type"]: d for d in data}
    created = by_type["contact.created"]
    assert created["description"] == EVENT_TYPES["contact.created"]
    schema = created["schema"]
    assert set(schema["required"]) == {"id", "type", "created_at", "data"}
    assert schema["properties"]["type"] == {"const": "contact.created"}
    assert "after" in schema["properties"]["data"]["properties"]
    assert {"before", "after"} <= set(by_type["deal.updated"]["schema"]["properties"]["data"]["properties"])
    assert "reason" in by_type["deal.lost"]["schema"]["properties"]["data"]["properties"]
    problem(await client.get(f"{V1}/event-types"), 401)
