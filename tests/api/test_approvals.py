"""High-value approvals over HTTP (DESIGN §5.3, seed 004 rule ``high-value-deal-approval``):
requesting, answering, notifications both ways, winning only with an approved request for the
deal's current value, per-currency thresholds, permissions and another org."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kith.core.db import Database
from tests.api.deal_support import (
    PERSONAS,
    V1,
    deal,
    events_of,
    notifications_of,
    ok,
    snapshot,
    verb,
)
from tests.conftest import Org, problem

BIG = {"amount": "60000", "currency": "USD"}


async def big_deal(client: httpx.AsyncClient, org: Org, who: Any = None, **body: Any) -> dict[str, Any]:
    body.setdefault("value", BIG)
    return await deal(client, who or org.rep, expected_close_date="2026-12-31", **body)


async def ask(client: httpx.AsyncClient, who: Any, deal_id: str, **body: Any) -> dict[str, Any]:
    return await ok(await verb(client, who, deal_id, "approval-requests", body or None), 201)  # type: ignore[no-any-return]


async def answer(client: httpx.AsyncClient, who: Any, approval_id: str, verdict: str, **body: Any) -> httpx.Response:
    return await client.post(f"{V1}/approvals/{approval_id}/{verdict}", json=body or None, headers=who.h)


async def test_winning_a_high_value_deal_needs_an_approved_request(client: httpx.AsyncClient, db: Database,
                                                                   org: Org) -> None:
    d = await big_deal(client, org)
    before = await snapshot(client, db, org, [f"{V1}/deals/{d['id']}"])
    body = problem(await verb(client, org.rep, d["id"], "won"), 422)
    assert body["rule"] == "high-value-deal-approval"
    assert await snapshot(client, db, org, [f"{V1}/deals/{d['id']}"]) == before
    req = await ask(client, org.rep, d["id"], note="Please, it is the big one")
    assert req["status"] == "pending" and req["value"] == {"amount": "60000.00", "currency": "USD"}
    assert req["requested_by"] == org.rep.user_id
    problem(await verb(client, org.rep, d["id"], "won"), 422)  # pending is not approved
    done = await ok(await answer(client, org.manager, req["id"], "approve", comment="go"))
    assert done["status"] == "approved" and done["decided_by"] == org.manager.user_id and done["comment"] == "go"
    won = await ok(await verb(client, org.rep, d["id"], "won"))
    assert won["status"] == "won"
    assert len(await events_of(db, "approval.requested", req["id"])) == 1
    assert len(await events_of(db, "approval.approved", req["id"])) == 1


async def test_a_deal_just_below_the_threshold_needs_no_approval(client: httpx.AsyncClient, org: Org) -> None:
    d = await big_deal(client, org, value={"amount": "49999.99"})
    await ok(await verb(client, org.rep, d["id"], "won"))
    d2 = await big_deal(client, org, value={"amount": "10"})
    body = problem(await verb(client, org.rep, d2["id"], "approval-requests"), 409)
    assert body["rule"] == "high-value-deal-approval"


async def test_the_request_notifies_the_owners_manager_and_the_answer_the_requester(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    d = await big_deal(client, org)
    req = await ask(client, org.rep, d["id"])
    [note] = await notifications_of(db, org.manager.user_id, "approval.requested")
    assert note["subject_id"] == req["id"] and note["data"]["deal_id"] == d["id"]
    await ok(await answer(client, org.manager, req["id"], "reject", comment="too cheap"))
    [back] = await notifications_of(db, org.rep.user_id, "approval.answered")
    assert back["data"]["status"] == "rejected" and back["data"]["comment"] == "too cheap"
    assert len(await events_of(db, "approval.rejected", req["id"])) == 1
    problem(await verb(client, org.rep, d["id"], "won"), 422)


async def test_without_a_manager_every_sales_manager_is_asked(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    second = await ok(await client.post(f"{V1}/users", json={"email": "m2@acme.test", "name": "M2",
                                                             "roles": ["sales-manager"]}, headers=org.admin.h), 201)
    d = await big_deal(client, org, org.other_rep)
    await ask(client, org.other_rep, d["id"])
    assert len(await notifications_of(db, org.manager.user_id, "approval.requested")) == 1
    assert len(await notifications_of(db, second["id"], "approval.requested")) == 1


async def test_changing_the_value_after_approval_invalidates_it(client: httpx.AsyncClient, db: Database,
                                                                org: Org) -> None:
    d = await big_deal(client, org)
    req = await ask(client, org.rep, d["id"])
    await ok(await answer(client, org.manager, req["id"], "approve"))
    await ok(await client.patch(f"{V1}/deals/{d['id']}", json={"value": {"amount": "70000"}}, headers=org.rep.h))
    got = await ok(await client.get(f"{V1}/approvals/{req['id']}", headers=org.rep.h))
    assert got["status"] == "cancelled"
    assert len(await events_of(db, "approval.cancelled", req["id"])) == 1
    assert problem(await verb(client, org.rep, d["id"], "won"), 422)["rule"] == "high-value-deal-approval"
    problem(await answer(client, org.manager, req["id"], "approve"), 409)
    again = await ask(client, org.rep, d["id"])
    assert again["value"]["amount"] == "70000.00"
    await ok(await answer(client, org.manager, again["id"], "approve"))
    await ok(await client.patch(f"{V1}/deals/{d['id']}", json={"title": "renamed only"}, headers=org.rep.h))
    await ok(await verb(client, org.rep, d["id"], "won"))


async def test_a_deal_in_another_currency_uses_that_currencys_threshold_or_needs_approval(
        client: httpx.AsyncClient, org: Org) -> None:
    jpy = await big_deal(client, org, value={"amount": "1000", "currency": "JPY"})
    assert problem(await verb(client, org.rep, jpy["id"], "won"), 422)["rule"] == "high-value-deal-approval"
    await ok(await client.patch(f"{V1}/org", json={"settings": {"high_value_thresholds": {"JPY": "7000000"}}},
                                headers=org.admin.h))
    await ok(await verb(client, org.rep, jpy["id"], "won"))
    rules = (await ok(await client.get(f"{V1}/rules", headers=org.rep.h)))["data"]
    high = next(r for r in rules if r["id"] == "high-value-deal-approval")
    assert high["value"]["by_currency"] == {"JPY": "7000000.00"}
    await ok(await client.patch(f"{V1}/org", json={"settings": {"high_value_thresholds": {"JPY": None}}},
                                headers=org.admin.h))
    rules = (await ok(await client.get(f"{V1}/rules", headers=org.rep.h)))["data"]
    assert next(r for r in rules if r["id"] == "high-value-deal-approval")["value"]["by_currency"] == {}


async def test_the_threshold_is_the_orgs(client: httpx.AsyncClient, org: Org) -> None:
    await ok(await client.patch(f"{V1}/org", json={"settings": {"high_value_threshold": {"amount": "100000",
                                                                                         "currency": "USD"}}},
                                headers=org.admin.h))
    d = await big_deal(client, org)
    await ok(await verb(client, org.rep, d["id"], "won"))
    rules = {r["id"]: r for r in (await ok(await client.get(f"{V1}/rules", headers=org.viewer.h)))["data"]}
    assert rules["high-value-deal-approval"]["value"]["default"] == {"amount": "100000.00", "currency": "USD"}
    assert set(rules) == {"deal-won-requires-close-date", "deal-lost-requires-reason", "high-value-deal-approval",
                          "lead-qualify-score-threshold", "contact-reassign-manager-only"}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_who_may_answer_a_request(client: httpx.AsyncClient, db: Database, org: Org, persona: str) -> None:
    d = await big_deal(client, org)
    req = await ask(client, org.rep, d["id"])
    who = getattr(org, persona)
    before = await snapshot(client, db, org, [f"{V1}/approvals/{req['id']}"])
    r = await answer(client, who, req["id"], "approve")
    if persona in ("admin", "manager"):
        assert (await ok(r))["status"] == "approved"
    else:
        problem(r, 403)
        assert await snapshot(client, db, org, [f"{V1}/approvals/{req['id']}"]) == before


ASK = {"admin": 201, "manager": 201, "rep": 201, "other_rep": 404, "support": 403, "marketing": 403, "viewer": 403}


@pytest.mark.parametrize("persona", PERSONAS)
async def test_who_may_ask_for_approval_on_a_reps_deal(client: httpx.AsyncClient, db: Database, org: Org,
                                                       persona: str) -> None:
    d = await big_deal(client, org)
    before = await snapshot(client, db, org, [])
    r = await verb(client, getattr(org, persona), d["id"], "approval-requests")
    assert r.status_code == ASK[persona], r.text
    if r.status_code != 201:
        problem(r, r.status_code)
        assert await snapshot(client, db, org, []) == before


async def test_nobody_but_an_admin_answers_their_own_request(client: httpx.AsyncClient, org: Org) -> None:
    d = await big_deal(client, org, org.manager)
    req = await ask(client, org.manager, d["id"])
    problem(await answer(client, org.manager, req["id"], "approve"), 403)
    d2 = await big_deal(client, org, org.admin)
    req2 = await ask(client, org.admin, d2["id"])
    await ok(await answer(client, org.admin, req2["id"], "approve"))


async def test_a_request_is_answered_once_and_one_at_a_time(client: httpx.AsyncClient, db: Database,
                                                            org: Org) -> None:
    d = await big_deal(client, org)
    req = await ask(client, org.rep, d["id"])
    body = problem(await verb(client, org.rep, d["id"], "approval-requests"), 409)
    assert body["approval_id"] == req["id"]
    await ok(await answer(client, org.manager, req["id"], "reject"))
    for verdict in ("approve", "reject"):
        assert problem(await answer(client, org.admin, req["id"], verdict), 409)["type"].endswith("invalid-transition")
    again = await ask(client, org.rep, d["id"])
    assert again["id"] != req["id"]
    closed = await big_deal(client, org, value={"amount": "10"})
    await ok(await verb(client, org.rep, closed["id"], "abandon"))
    problem(await verb(client, org.rep, closed["id"], "approval-requests"), 409)


async def test_listing_requests(client: httpx.AsyncClient, org: Org) -> None:
    mine = await ask(client, org.rep, (await big_deal(client, org))["id"])
    theirs = await ask(client, org.other_rep, (await big_deal(client, org, org.other_rep))["id"])
    await ok(await answer(client, org.manager, theirs["id"], "approve"))

    async def ids(who: Any, **params: Any) -> list[str]:
        return [x["id"] for x in (await ok(await client.get(f"{V1}/approvals", params=params, headers=who.h)))["data"]]

    assert await ids(org.manager, status="pending") == [mine["id"]]
    assert await ids(org.manager) == [theirs["id"], mine["id"]]
    assert await ids(org.manager, sort="created_at") == [mine["id"], theirs["id"]]
    assert await ids(org.rep) == [mine["id"]]
    problem(await client.get(f"{V1}/approvals/{theirs['id']}", headers=org.rep.h), 404)
    problem(await client.get(f"{V1}/approvals", headers=org.support.h), 403)
    problem(await client.get(f"{V1}/approvals", params={"status": "maybe"}, headers=org.manager.h), 422)
    problem(await client.get(f"{V1}/approvals", params={"nope": "1"}, headers=org.manager.h), 422)
    page = await ok(await client.get(f"{V1}/approvals", params={"limit": 1}, headers=org.manager.h))
    rest = await ok(await client.get(f"{V1}/approvals", params={"limit": 1, "cursor": page["next_cursor"]},
                                     headers=org.manager.h))
    assert [x["id"] for x in page["data"] + rest["data"]] == [theirs["id"], mine["id"]]


async def test_bad_bodies_and_another_orgs_requests(client: httpx.AsyncClient, db: Database, org: Org,
                                                    other_org: Org) -> None:
    d = await big_deal(client, org)
    problem(await verb(client, org.rep, d["id"], "approval-requests", {"note": "x" * 2001}), 422)
    problem(await verb(client, org.rep, d["id"], "approval-requests", {"nope": 1}), 422)
    req = await ask(client, org.rep, d["id"])
    problem(await answer(client, org.manager, req["id"], "approve", comment=5), 422)
    problem(await answer(client, other_org.admin, req["id"], "approve"), 404)
    problem(await client.get(f"{V1}/approvals/{req['id']}", headers=other_org.admin.h), 404)
    assert (await ok(await client.get(f"{V1}/approvals", headers=other_org.admin.h)))["data"] == []
    problem(await answer(client, org.manager, "approval_nope", "approve"), 404)
