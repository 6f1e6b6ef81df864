"""Backend follow-ups (brief H8): the caller's team is known for every role, and a plain PATCH of
a contact's owner tells the new owner exactly as the assign verb does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.core.db import Database
from kith.core.events import events
from kith.notifications.tables import notifications
from kith.orgs import service as orgs
from tests.conftest import Org, count_rows, problem

V1 = "/api/v1"


async def _rows(db: Database, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(sa.select(table).where(*where))]


# --- 2. authenticate fills the team whatever the roles ------------------------------------------------

@pytest.mark.parametrize("persona", ["admin", "manager", "rep", "viewer"])
async def test_authenticate_knows_the_team_of_every_role(db: Database, org: Org, persona: str) -> None:
    who = org.people[persona]
    actor = await orgs.authenticate(db, who.key)
    team = {who.user_id, org.rep.user_id} if persona == "manager" else {who.user_id}
    assert actor.team_ids == team and actor.user_id == who.user_id and actor.key_id == who.key_id


async def test_a_manager_with_all_grants_still_has_their_reports_as_team(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    """A crm-admin who manages someone has them in the team too (the realtime rep channels read it)."""
    r = await client.patch(f"{V1}/users/{org.other_rep.user_id}", json={"manager_id": org.admin.user_id},
                           headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert (await orgs.authenticate(db, org.admin.key)).team_ids == {org.admin.user_id, org.other_rep.user_id}
    # A manager losing a report loses them on the next request (nothing is cached).
    r = await client.patch(f"{V1}/users/{org.rep.user_id}", json={"manager_id": None}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    assert (await orgs.authenticate(db, org.manager.key)).team_ids == {org.manager.user_id}


async def test_bad_keys_are_still_refused(client: httpx.AsyncClient, org: Org) -> None:
    for key in ("nope", org.rep.key[:-2] + "xx"):
        problem(await client.get(f"{V1}/contacts", headers={"Authorization": f"Bearer {key}"}), 401)
    assert (await client.delete(f"{V1}/api-keys/{org.rep.key_id}", headers=org.admin.h)).status_code in (200, 204)
    problem(await client.get(f"{V1}/contacts", headers=org.rep.h), 401)


# --- 5. PATCH owner_id on a contact = the assign verb's event and notification -------------------------

async def _contact(client: httpx.AsyncClient, org: Org, **extra: Any) -> dict[str, Any]:
    r = await client.post(f"{V1}/contacts", json={"name": "Pat Owner", **extra}, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _assigned(db: Database, contact_id: str) -> list[dict[str, Any]]:
    return await _rows(db, events, events.c.type == "contact.assigned", events.c.subject_id == contact_id)


async def _told(db: Database, user_id: str) -> list[dict[str, Any]]:
    n = notifications.c
    return await _rows(db, notifications, n.user_id == user_id, n.type == "contact.assigned")


async def test_patching_the_owner_notifies_the_new_owner_like_assign(client: httpx.AsyncClient, db: Database,
                                                                     org: Org) -> None:
    c = await _contact(client, org, owner_id=org.rep.user_id)
    r = await client.patch(f"{V1}/contacts/{c['id']}", json={"owner_id": org.other_rep.user_id, "title": "CTO"},
                           headers=org.manager.h)
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == org.other_rep.user_id
    [event] = await _assigned(db, c["id"])
    assert event["actor_id"] == org.manager.user_id
    assert event["data"] == {"verb": "patch", "before": {"owner_id": org.rep.user_id},
                             "after": {"owner_id": org.other_rep.user_id}}
    [note] = await _told(db, org.other_rep.user_id)
    assert (note["subject_type"], note["subject_id"], note["title"]) == ("contact", c["id"],
                                                                         "Contact assigned to you: Pat Owner")
    assert note["data"] == {"contact_id": c["id"], "verb": "patch", "assigned_by": org.manager.user_id,
                            "previous_owner_id": org.rep.user_id}
    # The verb and the PATCH tell the same story: both notifications have the same shape.
    r = await client.post(f"{V1}/contacts/{c['id']}/reassign", json={"owner_id": org.rep.user_id},
                          headers=org.manager.h)
    assert r.status_code == 200, r.text
    [by_verb] = await _told(db, org.rep.user_id)
    assert (by_verb["type"], by_verb["title"], set(by_verb["data"])) == (note["type"], note["title"], set(note["data"]))


async def test_patching_to_the_same_owner_or_to_yourself_tells_nobody(client: httpx.AsyncClient, db: Database,
                                                                      org: Org) -> None:
    c = await _contact(client, org, owner_id=org.rep.user_id)
    r = await client.patch(f"{V1}/contacts/{c['id']}", json={"owner_id": org.rep.user_id}, headers=org.manager.h)
    assert r.status_code == 200 and r.json()["version"] == c["version"]
    assert await _assigned(db, c["id"]) == [] and await _told(db, org.rep.user_id) == []
    r = await client.patch(f"{V1}/contacts/{c['id']}", json={"owner_id": org.manager.user_id}, headers=org.manager.h)
    assert r.status_code == 200, r.text
    assert len(await _assigned(db, c["id"])) == 1 and await _told(db, org.manager.user_id) == []


async def test_clearing_the_owner_assigns_nobody(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    c = await _contact(client, org, owner_id=org.rep.user_id)
    r = await client.patch(f"{V1}/contacts/{c['id']}", json={"owner_id": None}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["owner_id"] is None, r.text
    assert await _assigned(db, c["id"]) == []  # contact.updated tells it
    [updated] = await _rows(db, events, events.c.type == "contact.updated", events.c.subject_id == c["id"])
    assert updated["data"]["after"] == {"owner_id": None}
    assert await _rows(db, notifications, notifications.c.type == "contact.assigned") == []


async def test_a_refused_owner_patch_writes_nothing(client: httpx.AsyncClient, db: Database, org: Org,
                                                    other_org: Org) -> None:
    c = await _contact(client, org, owner_id=org.rep.user_id)
    before = await count_rows(db)
    url = f"{V1}/contacts/{c['id']}"
    problem(await client.patch(url, json={"owner_id": org.other_rep.user_id}, headers=org.rep.h), 403)
    problem(await client.patch(url, json={"owner_id": other_org.rep.user_id}, headers=org.admin.h), 422)
    problem(await client.patch(url, json={"owner_id": org.other_rep.user_id}, headers=org.viewer.h), 403)
    problem(await client.patch(f"{V1}/contacts/{c['id']}", json={"owner_id": org.other_rep.user_id},
                               headers={**org.admin.h, "If-Match": '"v999"'}), 412)
    problem(await client.patch(url, json={"owner_id": org.rep.user_id}, headers=other_org.admin.h), 404)
    assert await count_rows(db) == before
