"""Record timelines (seed 004 §8 ``GET /contacts/:id/timeline`` "merged event history"; issue 4 point 7):
events and activities in one list, newest first, one cursor across both, each item tagged ``kind``;
activities shown only to whom may read them; both sources read by index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.core import clock
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.deals.records import KIND as DEAL
from kith.timeline import service as timeline
from tests.api.activity_helpers import V1, company, contact, deal, log
from tests.conftest import Org, Persona, problem

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def items(client: httpx.AsyncClient, who: Persona, url: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(url, params={"limit": 500, **params}, headers=who.h)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


async def walk(client: httpx.AsyncClient, who: Persona, url: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(url, params=params, headers=who.h)
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) <= limit
        seen += [i["id"] for i in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the timeline never ended")


async def history(client: httpx.AsyncClient, org: Org) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A contact with events and activities interleaved in time, one activity dated in the past."""
    with clock.frozen(T0):
        c = await contact(client, org.admin, owner_id=org.rep.user_id)
    acts = []
    for i in range(1, 5):
        with clock.frozen(T0 + timedelta(minutes=10 * i)):
            r = await client.patch(f"{V1}/contacts/{c['id']}", json={"lead_score": i}, headers=org.admin.h)
            assert r.status_code == 200
        with clock.frozen(T0 + timedelta(minutes=10 * i + 5)):
            acts.append(await log(client, org.rep, contact_id=c["id"], subject=f"call {i}"))
    with clock.frozen(T0 + timedelta(hours=2)):  # logged late, about something that happened early on
        acts.append(await log(client, org.rep, contact_id=c["id"], subject="backdated",
                              occurred_at=(T0 + timedelta(minutes=1)).isoformat()))
    return c, acts


async def test_events_and_activities_are_merged_newest_first(client: httpx.AsyncClient, org: Org) -> None:
    c, acts = await history(client, org)
    data = await items(client, org.admin, f"{V1}/contacts/{c['id']}/timeline")
    kinds = [(i["kind"], i["type"], i.get("subject")) for i in data]
    assert kinds == [
        ("activity", "call", "call 4"), ("event", "contact.updated", None),
        ("activity", "call", "call 3"), ("event", "contact.updated", None),
        ("activity", "call", "call 2"), ("event", "contact.updated", None),
        ("activity", "call", "call 1"), ("event", "contact.updated", None),
        ("activity", "call", "backdated"), ("event", "contact.created", None)]
    times = [datetime.fromisoformat(i["occurred_at"].replace("Z", "+00:00")) for i in data]
    assert times == sorted(times, reverse=True)
    assert data[0]["id"] == acts[3]["id"] and data[0]["actor_id"] == org.rep.user_id
    assert data[0]["status"] == "completed"
    # an activity is listed once: its own activity.* events are not indexed under the contact
    assert not any(i["type"].startswith("activity.") for i in data)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7])
async def test_one_cursor_pages_through_both_sources(client: httpx.AsyncClient, org: Org, limit: int) -> None:
    c, _acts = await history(client, org)
    url = f"{V1}/contacts/{c['id']}/timeline"
    assert await walk(client, org.admin, url, limit) == [i["id"] for i in await items(client, org.admin, url)]


async def test_a_page_boundary_among_items_of_the_same_moment_loses_nothing(client: httpx.AsyncClient,
                                                                           org: Org) -> None:
    with clock.frozen(T0):
        c = await contact(client, org.admin)
        for i in range(5):
            await log(client, org.admin, contact_id=c["id"], subject=f"s{i}")
            await client.patch(f"{V1}/contacts/{c['id']}", json={"lead_score": i + 1}, headers=org.admin.h)
    url = f"{V1}/contacts/{c['id']}/timeline"
    whole = [i["id"] for i in await items(client, org.admin, url)]
    assert len(whole) == 11 and len(set(whole)) == 11
    for limit in (1, 3, 4):
        assert await walk(client, org.admin, url, limit) == whole


async def test_activities_in_a_timeline_follow_the_readers_grant(client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.admin)
    mine = await log(client, org.rep, contact_id=c["id"], subject="rep's")
    await log(client, org.other_rep, contact_id=c["id"], subject="other rep's")
    url = f"{V1}/contacts/{c['id']}/timeline"

    def acts(data: list[dict[str, Any]]) -> set[str]:
        return {i["subject"] for i in data if i["kind"] == "activity"}

    assert acts(await items(client, org.admin, url)) == {"rep's", "other rep's"}
    assert acts(await items(client, org.support, url)) == {"rep's", "other rep's"}
    assert acts(await items(client, org.viewer, url)) == {"rep's", "other rep's"}
    assert acts(await items(client, org.rep, url)) == {"rep's"}
    market = await items(client, org.marketing, url)  # contact:read but no activity:read: events only
    assert acts(market) == set() and {i["kind"] for i in market} == {"event"}
    assert mine["id"] in {i["id"] for i in await items(client, org.manager, url)}


async def test_company_and_deal_timelines_show_their_activities(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    co = await company(client, org.admin)
    d = await deal(db, org, org.rep)
    a = await log(client, org.rep, company_id=co["id"], deal_id=d, subject="both")
    data = await items(client, org.rep, f"{V1}/companies/{co['id']}/timeline")
    assert [i["id"] for i in data if i["kind"] == "activity"] == [a["id"]]
    actor = Actor(org.id, org.rep.user_id, frozenset({"sales-rep"}), frozenset({org.rep.user_id}))
    page = await timeline.for_record(UnitOfWork(db), actor, DEAL, d, limit=10, cursor=None)
    assert [i["id"] for i in page.data if i["kind"] == "activity"] == [a["id"]]
    other = Actor(org.id, org.other_rep.user_id, frozenset({"sales-rep"}), frozenset({org.other_rep.user_id}))
    with pytest.raises(Exception) as exc:
        await timeline.for_record(UnitOfWork(db), other, DEAL, d, limit=10, cursor=None)
    assert type(exc.value).__name__ == "NotFound"


async def test_a_deleted_activity_leaves_the_timeline_but_its_deletion_shows(client: httpx.AsyncClient,
                                                                            org: Org) -> None:
    c = await contact(client, org.admin)
    a = await log(client, org.admin, contact_id=c["id"])
    assert (await client.delete(f"{V1}/activities/{a['id']}", headers=org.admin.h)).status_code == 204
    data = await items(client, org.admin, f"{V1}/contacts/{c['id']}/timeline")
    assert a["id"] not in {i["id"] for i in data}
    assert data[0]["kind"] == "event" and data[0]["type"] == "activity.deleted" and data[0]["subject_id"] == a["id"]


@pytest.mark.parametrize("cursor", [
    "garbage", "t1", "t1.", "t2..", "t1.abc.", "t1..123", "t1..123.", "t1..x.0123456789abcdefghjkmnpqrs",
    "t1." + "u" * 26 + ".", "t1.." + "9" * 19 + "." + "0" * 26, "evt_" + "0" * 26,
])
async def test_a_tampered_cursor_is_refused(client: httpx.AsyncClient, org: Org, cursor: str) -> None:
    c = await contact(client, org.admin)
    p = problem(await client.get(f"{V1}/contacts/{c['id']}/timeline", params={"cursor": cursor},
                                 headers=org.admin.h), 400)
    assert p["errors"][0]["field"] == "cursor"


async def test_an_extreme_but_wellformed_cursor_pages_without_error(client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.admin)
    await log(client, org.admin, contact_id=c["id"])
    for us in ("9" * 18, "-" + "9" * 18, "0"):
        cursor = f"t1.{'z' * 26}.{us}.{'z' * 26}"
        r = await client.get(f"{V1}/contacts/{c['id']}/timeline", params={"cursor": cursor}, headers=org.admin.h)
        assert r.status_code in (200, 400), r.text


async def test_the_timeline_reads_both_sources_by_index(db: Database, org: Org) -> None:
    """At 10,000 events per contact a timeline page must not sort or scan: each source is read in
    index order and stops at LIMIT (SQLite's plan shows no table scan and no temporary b-tree)."""
    if db.backend != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL's is shown by bench/timeline_bench.py")
    from kith.contacts.schemas import ContactCreate
    from kith.contacts.service import KIND as CONTACT
    from kith.records import crud

    actor = Actor.system(org.id)
    row = await crud.create(UnitOfWork(db), actor, CONTACT, ContactCreate(name="Plan"))
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "event_refs" in statement or "FROM activities" in statement:
            captured.append((statement, params))

    engine = db.sync_engine if db.sync_engine is not None else db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        cursor = timeline.encode("evt_" + "z" * 26, (T0, "activity_" + "z" * 26))
        await timeline.for_record(UnitOfWork(db), actor, CONTACT, row["id"], limit=50, cursor=cursor)
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    assert len(captured) == 2
    async with db.engine.connect() as conn:
        for statement, params in captured:
            plan = " | ".join(r[-1] for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                          tuple(params)))
            assert "TEMP B-TREE" not in plan, plan
            assert not any(f"SCAN {t}" in plan for t in ("event_refs", "events", "activities")), plan
