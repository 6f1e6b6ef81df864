"""POST /hooks/telephony: signed calls become call activities on the contact with that number,
once per call id; unsigned, wrongly signed, stale or malformed requests write nothing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from kith.activities.tables import activities
from kith.core.db import Database
from kith.core.events import events
from kith.telephony.model import e164
from kith.webhooks.model import signature_header
from tests.conftest import Org, count_rows, problem

V1 = "/api/v1"
HOOK = "/hooks/telephony"
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")
WATCHED = ("activities", "telephony_calls", "contacts", "events", "leads")


async def new_secret(client: httpx.AsyncClient, org: Org) -> str:
    r = await client.post(f"{V1}/telephony/secret", headers=org.admin.h)
    assert r.status_code == 201, r.text
    assert r.json()["url"] == f"{HOOK}?org_id={org.id}"
    return r.json()["secret"]  # type: ignore[no-any-return]


def call(**over: Any) -> dict[str, Any]:
    body = {"call_id": "CA100", "direction": "inbound", "from": "+1 (555) 010-2030", "to": "+15550009999",
            "started_at": "2026-12-01T10:00:00Z", "duration_seconds": 125, "status": "answered"}
    body.update(over)
    return body


async def send(client: httpx.AsyncClient, org_id: str | None, secret: str, body: Any, *, t: int | None = None,
               raw: bytes | None = None, header: str | None = None) -> httpx.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    sig = header if header is not None else signature_header(secret, t if t is not None else int(time.time()), data)
    params = {"org_id": org_id} if org_id is not None else {}
    return await client.post(HOOK, content=data, params=params,
                             headers={"Kith-Signature": sig, "content-type": "application/json"})


async def contact(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Caller")
    r = await client.post(f"{V1}/contacts", json=body, headers=org.admin.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def activity(db: Database, activity_id: str) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(sa.select(activities).where(activities.c.id == activity_id))).one()


# --- logging calls -------------------------------------------------------------------------------------------

async def test_an_inbound_call_is_logged_once_on_the_contact_with_that_number(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    secret = await new_secret(client, org)
    ann = await contact(client, org, name="Ann", phone="+1 555 010 2030")
    body = call(recording_url="https://rec.example/CA100.mp3", notes="asked for a demo")
    r = await send(client, org.id, secret, body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out == {"call_id": "CA100", "activity_id": out["activity_id"], "contact_id": ann["id"], "matched": True,
                   "duplicate": False}
    row = await activity(db, out["activity_id"])
    assert (row.type, row.channel, row.direction, row.outcome, row.contact_id) == (
        "call", "phone", "inbound", "answered", ann["id"])
    assert row.body == "asked for a demo" and row.completed_at is not None
    assert row.subject == "Inbound call from +15550102030 (answered, 2m05s)"
    assert row.metadata["telephony"]["recording_url"] == "https://rec.example/CA100.mp3"
    listed = (await client.get(f"{V1}/contacts/{ann['id']}/activities", headers=org.admin.h)).json()["data"]
    assert [a["id"] for a in listed] == [out["activity_id"]]

    before = await count_rows(db, *WATCHED)
    again = await send(client, org.id, secret, call(status="missed"))
    assert again.status_code == 200 and again.json() == {**out, "duplicate": True}
    assert await count_rows(db, *WATCHED) == before
    refreshed = (await client.get(f"{V1}/contacts/{ann['id']}", headers=org.admin.h)).json()
    assert refreshed["last_contacted_at"] is None  # inbound calls are not outreach


async def test_an_outbound_call_matches_the_mobile_and_counts_as_contact_made(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    secret = await new_secret(client, org)
    bob = await contact(client, org, name="Bob", phone="555 1234 999", mobile="+44 (0)20 7946 0958")
    lead = (await client.post(f"{V1}/leads", json={"contact_id": bob["id"], "title": "Bob's interest"},
                              headers=org.admin.h)).json()
    body = call(call_id="CA200", direction="outbound", **{"from": "+15550009999"}, to="0044 20 7946 0958",
                agent_email="REP@acme.test", duration_seconds=60)
    r = await send(client, org.id, secret, body)
    assert r.status_code == 201 and r.json()["contact_id"] == bob["id"]
    row = await activity(db, r.json()["activity_id"])
    assert row.direction == "outbound" and row.actor_id == org.rep.user_id
    after = (await client.get(f"{V1}/contacts/{bob['id']}", headers=org.admin.h)).json()
    assert after["last_contacted_at"] == "2026-12-01T10:01:00Z"  # when the call ended
    assert (await client.get(f"{V1}/leads/{lead['id']}", headers=org.admin.h)).json()["status"] == "contacted"


async def test_an_unknown_number_is_logged_without_a_contact(client: httpx.AsyncClient, db: Database,
                                                            org: Org) -> None:
    secret = await new_secret(client, org)
    before = await count_rows(db, "contacts")
    r = await send(client, org.id, secret, call(call_id="CA300", **{"from": "+49 30 1234567"}, status="voicemail",
                                                agent_user_id="user_nobody"))
    assert r.status_code == 201
    assert r.json()["matched"] is False and r.json()["contact_id"] is None
    row = await activity(db, r.json()["activity_id"])
    assert row.contact_id is None and row.actor_id is None
    assert row.metadata["telephony"]["matched"] is False and row.metadata["telephony"]["number"] == "+49301234567"
    assert await count_rows(db, "contacts") == before


async def test_the_oldest_live_contact_wins_and_trashed_ones_never_match(client: httpx.AsyncClient, db: Database,
                                                                         org: Org) -> None:
    secret = await new_secret(client, org)
    gone = await contact(client, org, name="Gone", phone="+1 555 010 2030")
    first = await contact(client, org, name="First", mobile="+15550102030")
    await contact(client, org, name="Second", phone="+1-555-010-2030")
    assert (await client.delete(f"{V1}/contacts/{gone['id']}", headers=org.admin.h)).status_code == 204
    r = await send(client, org.id, secret, call())
    assert r.json()["contact_id"] == first["id"]


async def test_contacts_of_another_org_are_never_matched(client: httpx.AsyncClient, org: Org,
                                                         other_org: Org) -> None:
    secret = await new_secret(client, org)
    await contact(client, other_org, name="Theirs", phone="+1 555 010 2030")
    r = await send(client, org.id, secret, call())
    assert r.status_code == 201 and r.json()["matched"] is False


async def test_the_same_call_sent_twice_at_once_is_logged_once(client: httpx.AsyncClient, db: Database,
                                                               org: Org) -> None:
    secret = await new_secret(client, org)
    await contact(client, org, phone="+1 555 010 2030")
    before = await count_rows(db, "activities")
    answers = await asyncio.gather(*(send(client, org.id, secret, call(call_id="CA-race")) for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 201]
    assert len({a.json()["activity_id"] for a in answers}) == 1
    assert await count_rows(db, "activities") == {"activities": before["activities"] + 1}


# --- authentication ------------------------------------------------------------------------------------------

async def test_unsigned_wrongly_signed_stale_or_misaddressed_calls_answer_401_and_write_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, other_org: Org) -> None:
    secret = await new_secret(client, org)
    other_secret = await new_secret(client, other_org)
    await contact(client, org, phone="+1 555 010 2030")
    before = await count_rows(db, *WATCHED)
    now = int(time.time())
    cases = [
        await send(client, org.id, secret, call(), header=""),
        await send(client, org.id, secret, call(), header="garbage"),
        await send(client, org.id, "not-the-secret", call()),
        await send(client, org.id, other_secret, call()),  # another org's secret
        await send(client, other_org.id, secret, call()),  # signed for org, addressed to other_org
        await send(client, org.id, secret, call(), t=now - 301),
        await send(client, org.id, secret, call(), t=now + 301),
        await send(client, None, secret, call()),
        await send(client, "org_unknown", secret, call()),
        await send(client, "x" * 41, secret, call()),
    ]
    for resp in cases:
        assert resp.status_code in (401, 422), resp.text
        problem(resp, resp.status_code)
    assert [r.status_code for r in cases] == [401] * 9 + [422]
    assert "replay" in cases[5].json()["detail"]
    assert await count_rows(db, *WATCHED) == before


async def test_an_org_without_a_secret_accepts_no_calls(client: httpx.AsyncClient, org: Org) -> None:
    problem(await send(client, org.id, "whatever", call()), 401)


async def test_rotating_the_secret_retires_the_old_one_at_once(client: httpx.AsyncClient, db: Database,
                                                               org: Org) -> None:
    old = await new_secret(client, org)
    new = await new_secret(client, org)
    assert old != new and new.startswith("tlsec_")
    problem(await send(client, org.id, old, call()), 401)
    assert (await send(client, org.id, new, call())).status_code == 201
    async with db.engine.connect() as conn:
        rotated = list(await conn.execute(sa.select(events.c.data).where(events.c.type == "telephony.secret-rotated")))
    assert len(rotated) == 2 and all(old not in json.dumps(e.data) and new not in json.dumps(e.data) for e in rotated)


@pytest.mark.parametrize("persona", PERSONAS)
async def test_only_crm_admins_issue_the_secret(client: httpx.AsyncClient, org: Org, persona: str) -> None:
    r = await client.post(f"{V1}/telephony/secret", headers=getattr(org, persona).h)
    if persona == "admin":
        assert r.status_code == 201 and r.json()["secret"]
    else:
        problem(r, 403)
    problem(await client.post(f"{V1}/telephony/secret"), 401)


# --- bad bodies ----------------------------------------------------------------------------------------------

BAD_BODIES = [
    pytest.param(call(call_id=""), "call_id", id="empty-call-id"),
    pytest.param({k: v for k, v in call().items() if k != "call_id"}, "call_id", id="no-call-id"),
    pytest.param(call(direction="sideways"), "direction", id="direction"),
    pytest.param(call(status="busy"), "status", id="status"),
    pytest.param(call(**{"from": "(555) 010-2030"}), "from", id="national-number"),
    pytest.param(call(direction="outbound", to="12"), "to", id="short-callee"),
    pytest.param(call(started_at="2026-12-01T10:00:00"), "started_at", id="naive-time"),
    pytest.param(call(started_at="2999-01-01T00:00:00Z"), "started_at", id="future"),
    pytest.param(call(duration_seconds=-1), "duration_seconds", id="negative-duration"),
    pytest.param(call(duration_seconds=10**12), "duration_seconds", id="huge-duration"),
    pytest.param(call(recording_url="ftp://x"), "recording_url", id="recording-url"),
    pytest.param(call(call_id="CA\u0000"), "call_id", id="nul"),
    pytest.param(call(notes=7), "notes", id="notes-type"),
    pytest.param([call()], "body", id="array"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_a_bad_body_answers_422_naming_the_field(client: httpx.AsyncClient, db: Database, org: Org,
                                                       body: Any, field: str) -> None:
    secret = await new_secret(client, org)
    before = await count_rows(db, *WATCHED)
    err = problem(await send(client, org.id, secret, body), 422)
    assert field in {e["field"] for e in err["errors"]}, err
    assert await count_rows(db, *WATCHED) == before


async def test_a_body_that_is_not_json_answers_400(client: httpx.AsyncClient, org: Org) -> None:
    secret = await new_secret(client, org)
    err = problem(await send(client, org.id, secret, None, raw=b"{not json"), 400)
    assert err["errors"][0]["field"] == "body"


async def test_unknown_keys_from_a_provider_are_ignored(client: httpx.AsyncClient, org: Org) -> None:
    secret = await new_secret(client, org)
    r = await send(client, org.id, secret, call(provider="acme-voice", AccountSid="AC1"))
    assert r.status_code == 201


# --- numbers -------------------------------------------------------------------------------------------------

@given(digits=st.text("0123456789", min_size=7, max_size=14), first=st.sampled_from("123456789"))
def test_an_e164_number_normalises_to_itself_however_it_is_written(digits: str, first: str) -> None:
    number = f"+{first}{digits}"
    if len(set(first + digits)) == 1:
        assert e164(number) is None  # one digit repeated is a placeholder, never a person
        return
    spaced = " ".join([f"+{first}", digits[:3], digits[3:]])
    assert e164(number) == number
    assert e164(spaced) == number
    assert e164(f"00{first}{digits}") == number
    assert e164(f"{first}{digits}") is None  # no country code given: not matched
