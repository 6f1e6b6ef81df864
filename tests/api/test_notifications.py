"""The in-app inbox (issue 4 point 9): each user reads and marks only their own notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kith.core import clock
from kith.core.db import Database
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.notifications.service import notify
from kith.notifications.tables import notifications
from tests.api.activity_helpers import PERSONAS, V1, log, select
from tests.conftest import Org, Persona, count_rows, problem

INBOX = f"{V1}/notifications"
T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


async def send(db: Database, org: Org, to: Persona, n: int = 1, type_: str = "deal.won") -> list[str]:
    made = []
    for i in range(n):
        uow = UnitOfWork(db)
        async with uow.transaction(write=True):
            nid = await notify(uow, org.id, to.user_id, type_, f"Note {i}", subject_type="deal",
                               subject_id=f"deal_{i}", data={"i": i})
        assert nid is not None
        made.append(nid)
    return made


async def inbox(client: httpx.AsyncClient, who: Persona, **params: Any) -> dict[str, Any]:
    r = await client.get(INBOX, params=params, headers=who.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_user_sees_only_their_own_notifications_newest_first(client: httpx.AsyncClient, db: Database,
                                                                     org: Org, other_org: Org) -> None:
    mine = await send(db, org, org.rep, 3)
    await send(db, org, org.other_rep, 2)
    await send(db, other_org, other_org.rep, 1)
    page = await inbox(client, org.rep)
    assert [n["id"] for n in page["data"]] == mine[::-1] and page["next_cursor"] is None
    first = page["data"][-1]
    assert (first["type"], first["title"], first["subject_type"], first["subject_id"], first["data"]) == (
        "deal.won", "Note 0", "deal", "deal_0", {"i": 0})
    assert first["read_at"] is None and "user_id" not in first
    assert (await inbox(client, org.viewer))["data"] == []


async def test_task_assignment_lands_in_the_assignees_inbox(client: httpx.AsyncClient, org: Org) -> None:
    t = await log(client, org.manager, type="task", subject="Call them back", assignee_id=org.rep.user_id)
    [n] = (await inbox(client, org.rep))["data"]
    assert n["type"] == "task.assigned" and n["subject_id"] == t["id"] and "Call them back" in n["title"]


async def test_marking_read_and_the_unread_filter_and_count(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    a, b, c = await send(db, org, org.rep, 3)
    r = await client.get(f"{INBOX}/unread-count", headers=org.rep.h)
    assert r.status_code == 200 and r.json() == {"unread": 3}
    with clock.frozen(T0):
        r = await client.post(f"{INBOX}/{b}/read", headers=org.rep.h)
    assert r.status_code == 200 and r.json()["id"] == b
    assert datetime.fromisoformat(r.json()["read_at"].replace("Z", "+00:00")) == T0
    with clock.frozen(T0 + timedelta(hours=1)):  # again: the first read_at stays
        r = await client.post(f"{INBOX}/{b}/read", headers=org.rep.h)
    assert datetime.fromisoformat(r.json()["read_at"].replace("Z", "+00:00")) == T0
    assert [n["id"] for n in (await inbox(client, org.rep, unread="true"))["data"]] == [c, a]
    assert (await client.get(f"{INBOX}/unread-count", headers=org.rep.h)).json() == {"unread": 2}
    r = await client.post(f"{INBOX}/read-all", headers=org.rep.h)
    assert r.status_code == 200 and r.json() == {"marked_read": 2}
    assert (await inbox(client, org.rep, unread="true"))["data"] == []
    assert (await client.post(f"{INBOX}/read-all", headers=org.rep.h)).json() == {"marked_read": 0}
    assert (await client.get(f"{INBOX}/unread-count", headers=org.rep.h)).json() == {"unread": 0}


async def test_read_all_touches_only_the_callers_notifications(client: httpx.AsyncClient, db: Database,
                                                               org: Org) -> None:
    await send(db, org, org.rep, 2)
    theirs = await send(db, org, org.other_rep, 1)
    assert (await client.post(f"{INBOX}/read-all", headers=org.rep.h)).json() == {"marked_read": 2}
    [row] = await select(db, notifications, notifications.c.id == theirs[0])
    assert row["read_at"] is None


async def test_someone_elses_notification_is_not_found_and_unchanged(client: httpx.AsyncClient, db: Database,
                                                                    org: Org, other_org: Org) -> None:
    [theirs] = await send(db, org, org.other_rep)
    [foreign] = await send(db, other_org, other_org.rep)
    before = await count_rows(db)
    for who, nid in ((org.rep, theirs), (org.admin, theirs), (org.rep, foreign), (org.admin, "ntf_nope")):
        problem(await client.post(f"{INBOX}/{nid}/read", headers=who.h), 404)
    assert await count_rows(db) == before
    rows = await select(db, notifications, notifications.c.id.in_([theirs, foreign]))
    assert [r["read_at"] for r in rows] == [None, None]


async def _read_events(db: Database, org: Org) -> list[dict[str, Any]]:
    rows = await select(db, events, events.c.org_id == org.id, events.c.type == "notification.read")
    return sorted(rows, key=lambda e: e["id"])


async def test_reading_writes_one_notification_read_event_per_notification_read(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    a, b = await send(db, org, org.rep, 2)
    with clock.frozen(T0):
        assert (await client.post(f"{INBOX}/{a}/read", headers=org.rep.h)).status_code == 200
    assert (await client.post(f"{INBOX}/{a}/read", headers=org.rep.h)).status_code == 200  # again: no event
    [e] = await _read_events(db, org)
    assert (e["subject_type"], e["subject_id"], e["actor_id"]) == ("notification", a, org.rep.user_id)
    assert e["data"] == {"notification_id": a, "type": "deal.won", "subject_type": "deal", "subject_id": "deal_0",
                         "read_at": T0.isoformat()}
    assert b  # still unread: read-all below marks it


async def test_read_all_writes_one_summarising_event_and_none_when_nothing_was_unread(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    await send(db, org, org.rep, 3)
    await send(db, org, org.other_rep, 1)
    with clock.frozen(T0):
        assert (await client.post(f"{INBOX}/read-all", headers=org.rep.h)).json() == {"marked_read": 3}
    assert (await client.post(f"{INBOX}/read-all", headers=org.rep.h)).json() == {"marked_read": 0}
    [e] = await _read_events(db, org)
    assert (e["subject_type"], e["subject_id"], e["actor_id"]) == ("user", org.rep.user_id, org.rep.user_id)
    assert e["data"] == {"all": True, "count": 3, "read_at": T0.isoformat()}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_every_persona_has_an_inbox(client: httpx.AsyncClient, db: Database, org: Org, persona: str) -> None:
    who = getattr(org, persona)
    [nid] = await send(db, org, who)
    assert [n["id"] for n in (await inbox(client, who))["data"]] == [nid]
    assert (await client.post(f"{INBOX}/{nid}/read", headers=who.h)).status_code == 200


async def test_the_inbox_pages_by_keyset(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    made = await send(db, org, org.rep, 7)
    seen: list[str] = []
    cursor = None
    while True:
        page = await inbox(client, org.rep, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [n["id"] for n in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    await client.post(f"{INBOX}/{made[5]}/read", headers=org.rep.h)
    page = await inbox(client, org.rep, limit=1, unread="true")
    page2 = await inbox(client, org.rep, limit=10, unread="true", cursor=page["next_cursor"])
    assert [n["id"] for n in page["data"] + page2["data"]] == [m for m in made[::-1] if m != made[5]]


@pytest.mark.parametrize(("params", "status"), [
    ({"limit": "0"}, 422), ({"limit": "501"}, 422), ({"limit": "x"}, 422), ({"unread": "maybe"}, 422),
    ({"cursor": "garbage!!"}, 400), ({"cursor": "x" * 2001}, 422),
])
async def test_bad_inbox_parameters(client: httpx.AsyncClient, org: Org, params: dict[str, str], status: int) -> None:
    problem(await client.get(INBOX, params=params, headers=org.rep.h), status)


async def test_the_inbox_needs_a_key(client: httpx.AsyncClient, org: Org) -> None:
    for method, url in (("GET", INBOX), ("GET", f"{INBOX}/unread-count"), ("POST", f"{INBOX}/read-all"),
                        ("POST", f"{INBOX}/ntf_x/read")):
        problem(await client.request(method, url), 401)
    problem(await client.post(f"{INBOX}/{'n' * 41}/read", headers=org.rep.h), 422)
