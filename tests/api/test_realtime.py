"""``GET /api/v1/realtime`` (docs/realtime.md): Server-Sent Events of the seed 004 §9 channels,
filtered per subscriber, resumable with Last-Event-ID.

Streams are read from a real uvicorn server in a thread (httpx's ASGI transport buffers a
streaming body); records are made through the API, and the stream sees them once committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from kith.auth.model import Actor
from kith.config import Settings
from kith.core import clock
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.entrypoints.app import create_app
from kith.realtime.api import broker_of
from kith.realtime.broker import Broker
from kith.realtime.model import pipeline, rep, support
from tests.api._lead_helpers import new_lead
from tests.api.activity_helpers import log
from tests.api.deal_support import deal
from tests.conftest import Org, Persona, problem

RT = "/api/v1/realtime"


# --- a live server and an SSE reader ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    url: str
    app: FastAPI

    @property
    def broker(self) -> Broker:
        return broker_of(self.app)


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[Live]:
    """The app on a real port, in a thread with its own event loop and database engine."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Event:
    id: str | None
    type: str
    data: dict[str, Any]


@dataclass
class Stream:
    """What one subscriber received so far, parsed as the SSE spec says."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False

    def of(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]

    def subjects(self) -> set[tuple[str, str]]:
        return {(e.type, e.data["data"].get("after", {}).get("id") or e.data["id"]) for e in self.events}

    async def until(self, check: Callable[[Stream], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check(self):
            assert time.monotonic() < deadline, f"timed out; got {[(e.type, e.id) for e in self.events]}"
            await asyncio.sleep(0.02)


async def _read(stream: Stream) -> None:
    fields: dict[str, str] = {}
    try:
        async for line in stream.response.aiter_lines():
            if line == "":
                if "event" in fields or "data" in fields:
                    stream.events.append(Event(fields.get("id"), fields.get("event", "message"),
                                               orjson.loads(fields.get("data", "null"))))
                fields = {}
            elif line.startswith(":"):
                stream.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
    except (httpx.HTTPError, asyncio.CancelledError):
        pass
    stream.ended = True


@contextlib.asynccontextmanager
async def subscribe(base: str, who: Persona, *channels: str, headers: dict[str, str] | None = None,
                    params: dict[str, str] | None = None) -> AsyncIterator[Stream]:
    """An open stream being read in the background; fails unless it starts with 200."""
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=60)) as c:
        query: list[tuple[str, str | int | float | bool | None]] = [("channel", ch) for ch in channels]
        query += list((params or {}).items())
        async with c.stream("GET", RT, params=query, headers={**who.h, **(headers or {})}) as resp:
            assert resp.status_code == 200, (await resp.aread()).decode()
            assert resp.headers["content-type"].startswith("text/event-stream")
            stream = Stream(resp)
            reader = asyncio.create_task(_read(stream))
            await stream.until(lambda s: "connected" in s.comments)
            try:
                yield stream
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


def fast(settings: Settings, **over: Any) -> Settings:
    return replace(settings, realtime_poll_seconds=0.05, **over)


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with live_server(fast(settings)) as server:
        yield server


def subject_of(e: Event) -> str:
    payload = e.data.get("data") or {}
    return str((payload.get("after") or {}).get("id") or "")


# --- a stream receives events made through the API -------------------------------------------------

async def test_a_deal_made_through_the_api_reaches_the_pipeline_stream(
        live: Live, client: httpx.AsyncClient, org: Org) -> None:
    async with subscribe(live.url, org.admin, str(pipeline(org.id))) as stream:
        made = await deal(client, org.rep, title="Big one")
        await stream.until(lambda s: bool(s.of("deal.created")))
    event = stream.of("deal.created")[0]
    assert event.id is not None and event.id == event.data["id"] and event.id.startswith("evt_")
    assert event.data["type"] == "deal.created" and event.data["channel"] == f"org:{org.id}:crm:pipeline"
    assert event.data["created_at"] and subject_of(event) == made["id"]
    assert event.data["data"]["after"]["title"] == "Big one"


async def test_one_stream_on_several_channels_gets_each_event_once(
        live: Live, client: httpx.AsyncClient, org: Org) -> None:
    channels = [str(rep(org.id, org.rep.user_id)), str(pipeline(org.id))]
    async with subscribe(live.url, org.manager, *channels) as stream:
        made = await deal(client, org.rep)
        await stream.until(lambda s: bool(s.of("deal.created")))
        await asyncio.sleep(0.3)
    created = stream.of("deal.created")
    assert len(created) == 1 and subject_of(created[0]) == made["id"]
    assert created[0].data["channel"] == channels[0]  # the first of the stream's channels that carries it


async def test_heartbeats_keep_an_idle_stream_open(settings: Settings, org: Org) -> None:
    with live_server(fast(settings, realtime_heartbeat_seconds=0.2)) as server:
        async with subscribe(server.url, org.admin, str(pipeline(org.id))) as stream:
            await stream.until(lambda s: s.comments.count("heartbeat") >= 2)


async def test_a_stream_ends_after_its_lifetime_so_the_client_reconnects_and_reauthenticates(
        settings: Settings, org: Org) -> None:
    with live_server(fast(settings, realtime_max_stream_seconds=0.5)) as server:
        async with subscribe(server.url, org.admin, str(pipeline(org.id))) as stream:
            await stream.until(lambda s: s.ended)
        await _until(lambda: server.broker.subscriber_count == 0)


# --- per-event filtering: who sees what, per persona and channel --------------------------------------

async def _made(client: httpx.AsyncClient, org: Org) -> dict[str, str]:
    """Records of two reps: deals, a lead and an activity (each owned by its maker)."""
    return {
        "rep_deal": (await deal(client, org.rep))["id"],
        "other_deal": (await deal(client, org.other_rep))["id"],
        "rep_lead": (await new_lead(client, org.rep))["id"],
        "other_lead": (await new_lead(client, org.other_rep))["id"],
        "rep_call": (await log(client, org.rep))["id"],
        "other_call": (await log(client, org.other_rep))["id"],
    }


SEEN_ON_PIPELINE = {
    "admin": {"rep_deal", "other_deal", "rep_lead", "other_lead"},
    "manager": {"rep_deal", "other_deal", "rep_lead", "other_lead"},
    "rep": {"rep_deal", "rep_lead"},
    "other_rep": {"other_deal", "other_lead"},
    "marketing": {"rep_lead", "other_lead"},  # lead:read ✓, deal:read —
    "viewer": {"rep_deal", "other_deal", "rep_lead", "other_lead"},
}
SEEN_ON_REP_CHANNEL = {  # org:…:crm:rep:<rep>
    "admin": {"rep_deal", "rep_lead", "rep_call"},
    "manager": {"rep_deal", "rep_lead", "rep_call"},  # the rep's manager
    "rep": {"rep_deal", "rep_lead", "rep_call"},
}
SEEN_ON_SUPPORT = {
    "admin": {"rep_call", "other_call"},
    "support": {"rep_call", "other_call"},
}


@pytest.mark.parametrize(("channel_of", "expected"), [
    pytest.param(lambda o: pipeline(o.id), SEEN_ON_PIPELINE, id="pipeline"),
    pytest.param(lambda o: rep(o.id, o.rep.user_id), SEEN_ON_REP_CHANNEL, id="rep"),
    pytest.param(lambda o: support(o.id), SEEN_ON_SUPPORT, id="support"),
])
async def test_each_persona_sees_only_the_events_of_records_it_may_read(
        live: Live, client: httpx.AsyncClient, org: Org, channel_of: Any, expected: dict[str, set[str]]) -> None:
    channel = str(channel_of(org))
    async with contextlib.AsyncExitStack() as stack:
        streams = {name: await stack.enter_async_context(subscribe(live.url, getattr(org, name), channel))
                   for name in expected}
        made = await _made(client, org)
        every = set().union(*expected.values())
        await streams["admin"].until(lambda s: every <= {k for k, v in made.items()
                                                          if v in {subject_of(e) for e in s.events}})
        await asyncio.sleep(0.4)  # the others were offered the same batch
    for name, stream in streams.items():
        seen = {k for k, v in made.items() if v in {subject_of(e) for e in stream.events}}
        assert seen == expected[name], name
        assert {e.data["channel"] for e in stream.events} <= {channel}


# --- refusals before the stream starts ------------------------------------------------------------------

@pytest.mark.parametrize(("who", "channel_of", "status"), [
    pytest.param("support", lambda o, x: pipeline(o.id), 403, id="support-on-pipeline"),
    pytest.param("rep", lambda o, x: support(o.id), 403, id="rep-on-support"),
    pytest.param("manager", lambda o, x: support(o.id), 403, id="manager-on-support"),
    pytest.param("rep", lambda o, x: rep(o.id, o.other_rep.user_id), 403, id="rep-on-another-reps"),
    pytest.param("manager", lambda o, x: rep(o.id, o.other_rep.user_id), 403, id="manager-outside-team"),
    pytest.param("viewer", lambda o, x: rep(o.id, o.rep.user_id), 403, id="viewer-on-a-reps"),
    pytest.param("rep", lambda o, x: rep(o.id, "user_" + "0" * 26), 403, id="rep-on-unknown-user"),
    pytest.param("admin", lambda o, x: rep(o.id, "user_" + "0" * 26), 404, id="admin-on-unknown-user"),
    pytest.param("admin", lambda o, x: rep(o.id, x.rep.user_id), 404, id="admin-on-other-orgs-user"),
    pytest.param("admin", lambda o, x: pipeline(x.id), 404, id="other-orgs-pipeline"),
    pytest.param("admin", lambda o, x: rep(x.id, x.rep.user_id), 404, id="other-orgs-rep"),
    pytest.param("support", lambda o, x: support(x.id), 404, id="other-orgs-support"),
])
async def test_channels_one_may_not_listen_on_are_refused_before_the_stream_starts(
        client: httpx.AsyncClient, org: Org, other_org: Org, who: str, channel_of: Any, status: int) -> None:
    r = await client.get(RT, params={"channel": str(channel_of(org, other_org))}, headers=getattr(org, who).h)
    body = problem(r, status)
    assert body["channel"] == str(channel_of(org, other_org))


@pytest.mark.parametrize(("params", "headers", "field"), [
    pytest.param({}, {}, "channel", id="no-channel"),
    pytest.param({"channel": "pipeline"}, {}, "channel[0]", id="malformed"),
    pytest.param({"channel": "org:x:crm:rep:"}, {}, "channel[0]", id="empty-rep"),
    pytest.param({"channel": "org:" + "x" * 300 + ":crm:pipeline"}, {}, "channel[0]", id="too-long"),
    pytest.param({"channel": "ORG"}, {"Last-Event-ID": "evt_x"}, "channel[0]", id="channel-first"),
    pytest.param({"channel": "{pipe}"}, {"Last-Event-ID": "nope"}, "Last-Event-ID", id="bad-last-event-id"),
    pytest.param({"channel": "{pipe}", "last_event_id": "evt_1"}, {}, "Last-Event-ID", id="bad-query-id"),
])
async def test_malformed_requests_answer_422_naming_the_field(
        client: httpx.AsyncClient, org: Org, params: dict[str, str], headers: dict[str, str], field: str) -> None:
    params = {k: v.replace("{pipe}", str(pipeline(org.id))) for k, v in params.items()}
    body = problem(await client.get(RT, params=params, headers={**org.admin.h, **headers}), 422)
    assert field in {e["field"] for e in body["errors"]}


async def test_too_many_channels_are_refused(client: httpx.AsyncClient, org: Org) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = [("channel", str(pipeline(org.id)))] * 21
    body = problem(await client.get(RT, params=params, headers=org.admin.h), 422)
    assert body["errors"][0]["field"] == "channel"


async def test_no_key_no_stream(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(RT, params={"channel": str(pipeline(org.id))}), 401)


# --- resume with Last-Event-ID ------------------------------------------------------------------------

async def test_last_event_id_replays_what_was_missed_then_goes_live(
        live: Live, client: httpx.AsyncClient, org: Org) -> None:
    channel = str(pipeline(org.id))
    async with subscribe(live.url, org.rep, channel) as first:
        a = await deal(client, org.rep, title="A")
        await first.until(lambda s: bool(s.of("deal.created")))
    last = first.events[-1].id
    assert last is not None
    missed = [(await deal(client, org.rep, title=t))["id"] for t in ("B", "C")]
    hidden = (await deal(client, org.other_rep, title="Not mine"))["id"]
    async with subscribe(live.url, org.rep, channel, headers={"Last-Event-ID": last}) as second:
        await second.until(lambda s: len(s.of("deal.created")) >= 2)
        d = await deal(client, org.rep, title="D")
        await second.until(lambda s: len(s.of("deal.created")) >= 3)
        await asyncio.sleep(0.3)
    assert [subject_of(e) for e in second.of("deal.created")] == [*missed, d["id"]]
    received = {subject_of(e) for e in second.events}
    assert hidden not in received and a["id"] not in received
    ids = [e.id for e in second.events]
    assert len(ids) == len(set(ids))  # nothing sent twice (replayed and live)


async def test_the_query_parameter_resumes_too(live: Live, client: httpx.AsyncClient, org: Org) -> None:
    made = await deal(client, org.admin)
    async with subscribe(live.url, org.admin, str(pipeline(org.id)),
                         params={"last_event_id": "evt_" + "0" * 26}) as stream:
        await stream.until(lambda s: made["id"] in {subject_of(e) for e in s.of("deal.created")})


async def test_a_resume_that_missed_too_much_is_told_to_reload(settings: Settings, client: httpx.AsyncClient,
                                                               org: Org) -> None:
    with live_server(fast(settings, realtime_replay_limit=3)) as server:
        for _ in range(3):
            await deal(client, org.admin)  # 3 deals: more than 3 events with the pipeline stages etc.
        async with subscribe(server.url, org.admin, str(pipeline(org.id)),
                             headers={"Last-Event-ID": "evt_" + "0" * 26}) as stream:
            await stream.until(lambda s: bool(s.of("reset")))
            made = await deal(client, org.admin)
            await stream.until(lambda s: made["id"] in {subject_of(e) for e in s.events})
        assert stream.events[0].type == "reset" and stream.events[0].id is None


# --- subscribers come and go ------------------------------------------------------------------------------

async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_disconnecting_removes_the_subscriber_and_the_last_one_stops_the_tailer(
        live: Live, org: Org) -> None:
    async with subscribe(live.url, org.admin, str(pipeline(org.id))):
        async with subscribe(live.url, org.rep, str(pipeline(org.id))):
            assert live.broker.subscriber_count == 2 and live.broker.running
        await _until(lambda: live.broker.subscriber_count == 1)
        assert live.broker.running
    await _until(lambda: live.broker.subscriber_count == 0 and not live.broker.running)


# --- the broker itself: late commits and slow subscribers ------------------------------------------------

async def _record(db: Database, org: Org, deal_id: str) -> str:
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        return await uow.record(org.id, "deal.created", subject_type="deal", subject_id=deal_id,
                                actor_id=None, data={"after": {"id": deal_id}})


def _admin(org: Org) -> Actor:
    return Actor(org.id, org.admin.user_id, frozenset({"crm-admin"}), frozenset({org.admin.user_id}))


async def _next_subject(sub: Any, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = await sub.next(0.1)
        if m is not None:
            return str(orjson.loads(m.text.split(b"data: ", 1)[1])["data"]["after"]["id"])
    raise AssertionError("nothing published")


async def test_an_event_committed_late_with_a_smaller_id_is_still_published(db: Database, org: Org) -> None:
    broker = Broker(db, poll_seconds=0.02, sweep_seconds=0.2)
    sub = await broker.subscribe(_admin(org), [pipeline(org.id)])
    try:
        now_id = await _record(db, org, "deal_now")
        assert await _next_subject(sub) == "deal_now"  # the tailer's cursor is past now_id
        with clock.frozen(clock.now() - timedelta(seconds=5)):  # an id made 5 s ago, committed now
            late_id = await _record(db, org, "deal_late")
        assert late_id < now_id
        assert await _next_subject(sub) == "deal_late"
        assert await sub.next(0.5) is None  # published once
    finally:
        await broker.close()


async def test_a_new_subscriber_gets_only_what_commits_after_it_subscribed(db: Database, org: Org) -> None:
    await _record(db, org, "deal_before")
    broker = Broker(db, poll_seconds=0.02, sweep_seconds=0.1)
    sub = await broker.subscribe(_admin(org), [pipeline(org.id)])
    try:
        await _record(db, org, "deal_after")
        assert await _next_subject(sub) == "deal_after"
        assert await sub.next(0.4) is None  # two sweeps later, the older event is still not sent
    finally:
        await broker.close()


async def test_a_subscriber_that_falls_behind_is_ended_not_the_others(db: Database, org: Org) -> None:
    broker = Broker(db, poll_seconds=0.02, queue_size=2)
    slow = await broker.subscribe(_admin(org), [pipeline(org.id)])
    try:
        uow = UnitOfWork(db)
        async with uow.transaction(write=True):
            for i in range(3):
                await uow.record(org.id, "deal.created", subject_type="deal", subject_id=f"deal_{i}",
                                 actor_id=None, data={})
        await _until(lambda: slow.overflowed)
        fine = await broker.subscribe(_admin(org), [pipeline(org.id)])
        assert await slow.next(0.01) is None
        await _record(db, org, "deal_later")
        assert await _next_subject(fine) == "deal_later"
    finally:
        await broker.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_on_postgresql_a_notify_wakes_the_tailer_without_polling(db: Database, org: Org) -> None:
    from kith.realtime import broker as broker_module

    broker = Broker(db, poll_seconds=30, sweep_seconds=30)  # only a NOTIFY can wake it in time
    broker_module._BROKERS.discard(broker)  # …not this process's own after-commit wake-up
    sub = await broker.subscribe(_admin(org), [pipeline(org.id)])
    try:
        await _until(lambda: broker.listening)
        await asyncio.sleep(0.1)
        await _record(db, org, "deal_notified")
        assert await _next_subject(sub, timeout=5) == "deal_notified"
    finally:
        await broker.close()
