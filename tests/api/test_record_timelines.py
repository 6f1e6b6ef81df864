"""Deal and lead timelines (issue 4 point 7): the same merged events + activities route as
contacts and companies, with the same visibility rules."""

from __future__ import annotations

import httpx

from tests.api._lead_helpers import new_lead, set_status
from tests.api.deal_support import deal
from tests.conftest import Org, problem

V1 = "/api/v1"


async def timeline(client: httpx.AsyncClient, who: object, path: str, **params: str) -> dict:  # type: ignore[type-arg]
    r = await client.get(f"{V1}/{path}/timeline", params=params, headers=who.h)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_deal_timeline_merges_its_events_and_activities_newest_first(
        client: httpx.AsyncClient, org: Org) -> None:
    d = await deal(client, org.rep, title="Big one")
    r = await client.post(f"{V1}/activities", headers=org.rep.h,
                          json={"type": "call", "subject": "Intro call", "deal_id": d["id"], "direction": "outbound"})
    assert r.status_code == 201, r.text
    page = await timeline(client, org.rep, f"deals/{d['id']}")
    kinds = [(item["kind"], item.get("type")) for item in page["data"]]
    assert ("activity", "call") in kinds
    assert ("event", "deal.created") in kinds
    assert kinds.index(("activity", "call")) < kinds.index(("event", "deal.created"))
    first = await timeline(client, org.rep, f"deals/{d['id']}", limit="1")
    assert len(first["data"]) == 1 and first["next_cursor"]
    rest = await timeline(client, org.rep, f"deals/{d['id']}", cursor=first["next_cursor"])
    assert first["data"] + rest["data"] == page["data"]


async def test_a_converted_lead_shows_its_conversion_on_its_timeline(
        client: httpx.AsyncClient, org: Org, db: object) -> None:
    lead = await new_lead(client, org.rep, score=50)
    await set_status(db, lead["id"], "qualified")  # type: ignore[arg-type]
    r = await client.post(f"{V1}/leads/{lead['id']}/convert", json={}, headers=org.rep.h)
    assert r.status_code in (200, 201), r.text
    types = [item.get("type") for item in (await timeline(client, org.rep, f"leads/{lead['id']}"))["data"]]
    assert "lead.converted" in types and "lead.created" in types


async def test_another_reps_deal_or_lead_timeline_is_not_found(client: httpx.AsyncClient, org: Org) -> None:
    d = await deal(client, org.other_rep, title="Theirs")
    lead = await new_lead(client, org.other_rep)
    for path in (f"deals/{d['id']}", f"leads/{lead['id']}"):
        problem(await client.get(f"{V1}/{path}/timeline", headers=org.rep.h), 404)
        assert (await client.get(f"{V1}/{path}/timeline", headers=org.manager.h)).status_code == 200  # ✓ all
        assert (await client.get(f"{V1}/{path}/timeline", headers=org.admin.h)).status_code == 200


async def test_another_orgs_deal_and_lead_timelines_are_not_found(
        client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    d = await deal(client, other_org.admin, title="Elsewhere")
    lead = await new_lead(client, other_org.admin)
    for path in (f"deals/{d['id']}", f"leads/{lead['id']}"):
        problem(await client.get(f"{V1}/{path}/timeline", headers=org.admin.h), 404)
    problem(await client.get(f"{V1}/deals/{d['id']}/timeline", params={"cursor": "garbage"},
                             headers=other_org.admin.h), 400)


async def test_a_deals_included_activities_follow_the_activity_read_grant(
        client: httpx.AsyncClient, org: Org) -> None:
    """``include=activities`` on a deal shows only the activities the caller may read: a rep who
    can read the deal (as the manager's team member's deal, here: the admin's) sees only theirs."""
    d = await deal(client, org.rep, title="Shared")
    for who in (org.rep, org.admin):
        r = await client.post(f"{V1}/activities", headers=who.h,
                              json={"type": "note", "subject": f"note by {who.name}", "deal_id": d["id"]})
        assert r.status_code == 201, r.text
    as_rep = (await client.get(f"{V1}/deals/{d['id']}", params={"include": "activities"}, headers=org.rep.h)).json()
    as_admin = (await client.get(f"{V1}/deals/{d['id']}", params={"include": "activities"},
                                 headers=org.admin.h)).json()
    assert [a["subject"] for a in as_rep["activities"]] == ["note by rep"]
    assert sorted(a["subject"] for a in as_admin["activities"]) == ["note by admin", "note by rep"]
