"""Tickets over HTTP (seed 004 SupportApp, docs/tickets.md): create with per-org numbers, SLA due
dates and the reporter's company, list filters and keyset pages, patch, delete, assign, the ticket
machine's verbs (every illegal pair answers 409 and writes nothing), permissions per persona,
another org's ids and bad input. A refused call changes nothing: every table's row count and the
ticket as read are compared before and after.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.core.db import Database
from kith.tickets.model import DEFAULT_SLA_HOURS, STATUSES, TRANSITIONS, VERBS
from kith.tickets.tables import tickets
from tests.api._lead_helpers import PERSONAS, V1, events_of, new_contact
from tests.conftest import Org, Persona, count_rows, problem

TICKETS = f"{V1}/tickets"
HANDLERS = {"admin", "support"}  # ticket:read/create/assign/resolve/update: crm-admin and support-agent


async def new_ticket(client: httpx.AsyncClient, org: Org, who: Persona | None = None, contact_id: str | None = None,
                     **body: Any) -> dict[str, Any]:
    if contact_id is None:
        contact_id = (await new_contact(client, org.admin))["id"]
    body.setdefault("subject", "Cannot log in")
    r = await client.post(TICKETS, json={"contact_id": contact_id, **body}, headers=(who or org.support).h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def get(client: httpx.AsyncClient, org: Org, ticket_id: str) -> dict[str, Any]:
    r = await client.get(f"{TICKETS}/{ticket_id}", headers=org.admin.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def set_status(db: Database, ticket_id: str, status: str) -> None:
    """Put a ticket straight into ``status`` (test setup, no event)."""
    async with db.engine.begin() as conn:
        await conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(status=status))


async def unchanged(client: httpx.AsyncClient, db: Database, org: Org, ticket_id: str) -> tuple[Any, ...]:
    r = await client.get(f"{TICKETS}/{ticket_id}", headers=org.admin.h)
    body = r.json()
    body.pop("overdue", None)
    return await count_rows(db), r.status_code, body


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- create ------------------------------------------------------------------------------------------


async def test_opening_a_ticket_numbers_it_sets_its_sla_and_records_the_event(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    contact = await new_contact(client, org.admin, email="ada@example.com")
    r = await client.post(TICKETS, json={"contact_id": contact["id"], "subject": "Export fails", "priority": "high",
                                         "channel": "email", "description": "CSV export times out", "tags": ["vip"]},
                          headers=org.support.h)
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert r.headers["location"] == f"{TICKETS}/{ticket['id']}" and r.headers["etag"] == '"v1"'
    assert ticket["id"].startswith("tkt_") and ticket["number"] == 1
    assert (ticket["status"], ticket["priority"], ticket["channel"]) == ("open", "high", "email")
    assert ticket["created_by"] == org.support.user_id and ticket["assignee_id"] is None
    assert when(ticket["due_at"]) - when(ticket["created_at"]) == timedelta(hours=DEFAULT_SLA_HOURS["high"])
    assert ticket["overdue"] is False and ticket["tags"] == ["vip"]
    assert await get(client, org, ticket["id"]) == ticket
    [event] = await events_of(db, "ticket.created", ticket["id"])
    assert event["actor_id"] == org.support.user_id and event["data"]["after"]["number"] == 1
    r = await client.get(f"{V1}/contacts/{contact['id']}/timeline", headers=org.admin.h)
    assert "ticket.created" in [e["type"] for e in r.json()["data"]]


async def test_numbers_count_up_per_org(client: httpx.AsyncClient, org: Org, other_org: Org) -> None:
    numbers = [(await new_ticket(client, org))["number"] for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert (await new_ticket(client, other_org))["number"] == 1


async def test_concurrent_opens_get_distinct_numbers(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    made = await asyncio.gather(*[new_ticket(client, org, contact_id=contact["id"], subject=f"S{i}")
                                  for i in range(8)])
    assert sorted(t["number"] for t in made) == list(range(1, 9))


async def test_the_company_defaults_to_the_reporters_primary_company(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    company = (await client.post(f"{V1}/companies", json={"name": "Acme Ltd"}, headers=org.admin.h)).json()
    r = await client.post(f"{V1}/contacts/{contact['id']}/companies", json={"company_id": company["id"],
                                                                           "is_primary": True}, headers=org.admin.h)
    assert r.status_code in (200, 201), r.text
    assert (await new_ticket(client, org, contact_id=contact["id"]))["company_id"] == company["id"]
    other = (await client.post(f"{V1}/companies", json={"name": "Other"}, headers=org.admin.h)).json()
    explicit = await new_ticket(client, org, contact_id=contact["id"], company_id=other["id"])
    assert explicit["company_id"] == other["id"]
    alone = await new_ticket(client, org)
    assert alone["company_id"] is None


BAD_BODIES = [
    pytest.param({"subject": ""}, "subject", id="empty-subject"),
    pytest.param({"subject": "x" * 301}, "subject", id="long-subject"),
    pytest.param({"subject": None}, "subject", id="null-subject"),
    pytest.param({"priority": "critical"}, "priority", id="unknown-priority"),
    pytest.param({"channel": "fax"}, "channel", id="unknown-channel"),
    pytest.param({"contact_id": None}, "contact_id", id="no-contact"),
    pytest.param({"contact_id": "contact_nope"}, "contact_id", id="unknown-contact"),
    pytest.param({"company_id": "company_nope"}, "company_id", id="unknown-company"),
    pytest.param({"assignee_id": "user_nope"}, "assignee_id", id="unknown-assignee"),
    pytest.param({"due_at": "2030-01-01T00:00:00"}, "due_at", id="naive-due"),
    pytest.param({"tags": ["a,b"]}, "tags", id="comma-tag"),
    pytest.param({"status": "closed"}, "status", id="status-not-writable"),
    pytest.param({"subject": "nul\x00"}, "subject", id="nul-byte"),
]


@pytest.mark.parametrize(("change", "field"), BAD_BODIES)
async def test_bad_input_is_refused_naming_the_field(client: httpx.AsyncClient, db: Database, org: Org,
                                                     change: dict[str, Any], field: str) -> None:
    contact = await new_contact(client, org.admin)
    before = await count_rows(db)
    body = {"contact_id": contact["id"], "subject": "Help", **change}
    if body["contact_id"] is None:  # absent, not null
        del body["contact_id"]
    r = await client.post(TICKETS, json=body, headers=org.support.h)
    err = problem(r, 422)
    assert field in {e["field"].split(".")[0] for e in err.get("errors", [])} or err.get("field") == field, err
    assert await count_rows(db) == before


async def test_a_malformed_body_is_a_400(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.post(TICKETS, content=b"{not json", headers={**org.support.h, "content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


# --- permissions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
async def test_who_may_read_and_open_tickets(client: httpx.AsyncClient, db: Database, org: Org, persona: str) -> None:
    """ticket:read/create — ✓ crm-admin, support-agent; — everyone else (403, nothing written)."""
    ticket = await new_ticket(client, org)
    contact = await new_contact(client, org.admin)
    who = getattr(org, persona)
    before = await count_rows(db)
    reads = [await client.get(TICKETS, headers=who.h), await client.get(f"{TICKETS}/{ticket['id']}", headers=who.h),
             await client.get(f"{TICKETS}/{ticket['id']}/timeline", headers=who.h),
             await client.get(f"{V1}/contacts/{contact['id']}/tickets", headers=who.h)]
    created = await client.post(TICKETS, json={"contact_id": contact["id"], "subject": "x"}, headers=who.h)
    if persona in HANDLERS:
        assert [r.status_code for r in reads] == [200, 200, 200, 200] and created.status_code == 201
        return
    for r in (*reads, created):
        assert problem(r, 403)["permission"].startswith("ticket:")
    assert await count_rows(db) == before


WRITES = [
    pytest.param("patch", {"subject": "New"}, HANDLERS, id="patch"),
    pytest.param("assign", None, HANDLERS, id="assign"),
    pytest.param("pending", None, HANDLERS, id="pending"),
    pytest.param("resolve", {"resolution": "Reset"}, HANDLERS, id="resolve"),
    pytest.param("delete", None, {"admin"}, id="delete"),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("action", "body", "allowed"), WRITES)
async def test_who_may_change_tickets(client: httpx.AsyncClient, db: Database, org: Org, persona: str, action: str,
                                      body: dict[str, Any] | None, allowed: set[str]) -> None:
    ticket = await new_ticket(client, org)
    who = getattr(org, persona)
    before = await unchanged(client, db, org, ticket["id"])
    url = f"{TICKETS}/{ticket['id']}"
    if action == "patch":
        r = await client.patch(url, json=body, headers=who.h)
    elif action == "delete":
        r = await client.delete(url, headers=who.h)
    elif action == "assign":
        r = await client.post(f"{url}/assign", json={"assignee_id": org.support.user_id}, headers=who.h)
    else:
        r = await client.post(f"{url}/{action}", json=body, headers=who.h)
    if persona in allowed:
        assert r.status_code in (200, 204), r.text
    else:
        problem(r, 403)
        assert await unchanged(client, db, org, ticket["id"]) == before


# --- another org's ids -------------------------------------------------------------------------------


async def test_another_orgs_ticket_is_not_found_for_any_verb(client: httpx.AsyncClient, db: Database, org: Org,
                                                             other_org: Org) -> None:
    theirs = await new_ticket(client, other_org)
    before = await count_rows(db)
    url = f"{TICKETS}/{theirs['id']}"
    calls = [client.get(url, headers=org.admin.h), client.get(f"{url}/timeline", headers=org.admin.h),
             client.patch(url, json={"subject": "x"}, headers=org.admin.h),
             client.delete(url, headers=org.admin.h),
             client.post(f"{url}/assign", json={"assignee_id": org.support.user_id}, headers=org.admin.h),
             *[client.post(f"{url}/{v}", headers=org.admin.h) for v in VERBS]]
    for call in calls:
        problem(await call, 404)
    listed = await client.get(TICKETS, headers=org.admin.h)
    assert theirs["id"] not in {t["id"] for t in listed.json()["data"]}
    problem(await client.get(f"{V1}/contacts/{theirs['contact_id']}/tickets", headers=org.admin.h), 404)
    assert await count_rows(db) == before


async def test_another_orgs_contact_company_and_agent_are_refused(client: httpx.AsyncClient, db: Database, org: Org,
                                                                  other_org: Org) -> None:
    contact = await new_contact(client, org.admin)
    their_contact = await new_contact(client, other_org.admin)
    their_company = (await client.post(f"{V1}/companies", json={"name": "G"}, headers=other_org.admin.h)).json()
    ticket = await new_ticket(client, org, contact_id=contact["id"])
    before = await unchanged(client, db, org, ticket["id"])
    for body, field in (({"contact_id": their_contact["id"]}, "contact_id"),
                        ({"contact_id": contact["id"], "company_id": their_company["id"]}, "company_id"),
                        ({"contact_id": contact["id"], "assignee_id": other_org.support.user_id}, "assignee_id")):
        err = problem(await client.post(TICKETS, json={"subject": "x", **body}, headers=org.support.h), 422)
        assert [e["field"] for e in err["errors"]] == [field]
    err = problem(await client.patch(f"{TICKETS}/{ticket['id']}", json={"company_id": their_company["id"]},
                                     headers=org.support.h), 422)
    assert err["errors"][0]["field"] == "company_id"
    r = await client.post(f"{TICKETS}/{ticket['id']}/assign", json={"assignee_id": other_org.support.user_id},
                          headers=org.support.h)
    assert problem(r, 422)["errors"][0]["field"] == "assignee_id"
    assert await unchanged(client, db, org, ticket["id"]) == before


# --- the machine -------------------------------------------------------------------------------------


async def test_a_ticket_goes_pending_open_resolved_and_closed(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    ticket = await new_ticket(client, org)
    url = f"{TICKETS}/{ticket['id']}"
    pending = (await client.post(f"{url}/pending", headers=org.support.h)).json()
    assert pending["status"] == "pending" and pending["first_response_at"] is not None
    reopened = (await client.post(f"{url}/reopen", headers=org.support.h)).json()
    assert reopened["status"] == "open" and reopened["first_response_at"] == pending["first_response_at"]
    resolved = (await client.post(f"{url}/resolve", json={"resolution": "Reset the password"},
                                  headers=org.support.h)).json()
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "Reset the password")
    assert resolved["resolved_at"] is not None and resolved["version"] == 4
    again = (await client.post(f"{url}/reopen", headers=org.admin.h)).json()
    assert again["resolved_at"] is None
    await client.post(f"{url}/resolve", headers=org.support.h)
    closed = (await client.post(f"{url}/close", headers=org.support.h)).json()
    assert closed["status"] == "closed" and closed["closed_at"] is not None and closed["overdue"] is False
    types = [e["type"] for e in (await client.get(f"{url}/timeline", headers=org.support.h)).json()["data"]]
    assert types == ["ticket.closed", "ticket.resolved", "ticket.reopened", "ticket.resolved", "ticket.reopened",
                     "ticket.marked-pending", "ticket.created"]
    [ev] = await events_of(db, "ticket.closed", ticket["id"])
    assert ev["data"]["before"]["status"] == "resolved" and ev["data"]["after"]["status"] == "closed"


PAIRS = [pytest.param(status, verb, id=f"{status}-{verb}") for status in STATUSES for verb in VERBS]


@pytest.mark.parametrize(("status", "verb"), PAIRS)
async def test_every_illegal_transition_is_a_409_that_writes_nothing(
        client: httpx.AsyncClient, db: Database, org: Org, status: str, verb: str) -> None:
    ticket = await new_ticket(client, org)
    await set_status(db, ticket["id"], status)
    before = await unchanged(client, db, org, ticket["id"])
    r = await client.post(f"{TICKETS}/{ticket['id']}/{verb}", headers=org.admin.h)
    target = VERBS[verb][0]
    if target in TRANSITIONS[status]:
        assert r.status_code == 200 and r.json()["status"] == target, r.text
        assert len(await events_of(db, VERBS[verb][1], ticket["id"])) == 1
    else:
        assert problem(r, 409)["type"].endswith("invalid-transition")
        assert await unchanged(client, db, org, ticket["id"]) == before


async def test_a_closed_ticket_only_takes_tags(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    ticket = await new_ticket(client, org)
    await set_status(db, ticket["id"], "closed")
    url = f"{TICKETS}/{ticket['id']}"
    before = await unchanged(client, db, org, ticket["id"])
    problem(await client.patch(url, json={"subject": "Changed"}, headers=org.admin.h), 409)
    problem(await client.post(f"{url}/assign", json={"assignee_id": org.support.user_id}, headers=org.admin.h), 409)
    assert await unchanged(client, db, org, ticket["id"]) == before
    r = await client.patch(url, json={"tags": ["followup"]}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["tags"] == ["followup"]


# --- assign ------------------------------------------------------------------------------------------


async def test_assigning_hands_the_ticket_to_an_agent_and_null_unassigns(client: httpx.AsyncClient, db: Database,
                                                                          org: Org) -> None:
    ticket = await new_ticket(client, org)
    url = f"{TICKETS}/{ticket['id']}/assign"
    r = await client.post(url, json={"assignee_id": org.support.user_id}, headers=org.admin.h)
    assert r.status_code == 200 and r.json()["assignee_id"] == org.support.user_id
    same = await client.post(url, json={"assignee_id": org.support.user_id}, headers=org.admin.h)
    assert same.json()["version"] == r.json()["version"]  # no change, no event
    [ev] = await events_of(db, "ticket.assigned", ticket["id"])
    assert ev["data"] == {"before": {"assignee_id": None}, "after": {"assignee_id": org.support.user_id}}
    r = await client.post(url, json={"assignee_id": None}, headers=org.support.h)
    assert r.json()["assignee_id"] is None


async def test_only_users_who_handle_tickets_can_be_assigned(client: httpx.AsyncClient, db: Database,
                                                             org: Org) -> None:
    ticket = await new_ticket(client, org)
    before = await unchanged(client, db, org, ticket["id"])
    r = await client.post(f"{TICKETS}/{ticket['id']}/assign", json={"assignee_id": org.rep.user_id},
                          headers=org.admin.h)
    assert problem(r, 422)["rule"] == "ticket-assignee-must-handle-tickets"
    problem(await client.post(f"{TICKETS}/{ticket['id']}/assign", json={}, headers=org.admin.h), 422)
    assert await unchanged(client, db, org, ticket["id"]) == before


# --- patch / delete ----------------------------------------------------------------------------------


async def test_a_priority_change_moves_the_due_date_unless_one_is_given(client: httpx.AsyncClient, db: Database,
                                                                        org: Org) -> None:
    ticket = await new_ticket(client, org)
    url = f"{TICKETS}/{ticket['id']}"
    urgent = (await client.patch(url, json={"priority": "urgent"}, headers=org.support.h)).json()
    assert when(urgent["due_at"]) - when(ticket["created_at"]) == timedelta(hours=DEFAULT_SLA_HOURS["urgent"])
    [ev] = await events_of(db, "ticket.updated", ticket["id"])
    assert set(ev["data"]["after"]) == {"priority", "due_at"}
    low = (await client.patch(url, json={"priority": "low", "due_at": "2031-01-01T00:00:00Z"},
                              headers=org.support.h)).json()
    assert when(low["due_at"]) == when("2031-01-01T00:00:00+00:00")


async def test_a_past_due_open_ticket_is_overdue_and_filterable(client: httpx.AsyncClient, org: Org) -> None:
    late = await new_ticket(client, org, due_at="2020-01-01T00:00:00Z")
    fine = await new_ticket(client, org)
    assert late["overdue"] is True and fine["overdue"] is False
    r = await client.get(TICKETS, params={"overdue": "true"}, headers=org.admin.h)
    assert [t["id"] for t in r.json()["data"]] == [late["id"]]


async def test_patch_with_a_stale_if_match_is_a_412(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    ticket = await new_ticket(client, org)
    url = f"{TICKETS}/{ticket['id']}"
    ok = await client.patch(url, json={"subject": "A"}, headers={**org.support.h, "If-Match": '"v1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"v2"'
    before = await unchanged(client, db, org, ticket["id"])
    problem(await client.patch(url, json={"subject": "B"}, headers={**org.support.h, "If-Match": '"v1"'}), 412)
    problem(await client.patch(url, json={"subject": None}, headers=org.support.h), 422)
    assert await unchanged(client, db, org, ticket["id"]) == before


async def test_deleting_erases_the_ticket_and_keeps_the_event(client: httpx.AsyncClient, db: Database,
                                                              org: Org) -> None:
    ticket = await new_ticket(client, org, tags=["x"])
    r = await client.delete(f"{TICKETS}/{ticket['id']}", headers=org.admin.h)
    assert r.status_code == 204
    problem(await client.get(f"{TICKETS}/{ticket['id']}", headers=org.admin.h), 404)
    [ev] = await events_of(db, "ticket.deleted", ticket["id"])
    assert ev["data"]["before"]["number"] == ticket["number"]
    assert (await client.get(TICKETS, params={"tag": "x"}, headers=org.admin.h)).json()["data"] == []


async def test_erasing_the_contact_erases_its_tickets(client: httpx.AsyncClient, db: Database, org: Org) -> None:
    ticket = await new_ticket(client, org)
    r = await client.delete(f"{V1}/contacts/{ticket['contact_id']}", params={"permanent": "true"}, headers=org.admin.h)
    assert r.status_code == 204, r.text
    async with db.engine.connect() as conn:
        left = (await conn.execute(sa.select(sa.func.count()).select_from(tickets))).scalar_one()
    assert left == 0


# --- lists -------------------------------------------------------------------------------------------


async def test_lists_filter_search_sort_and_page(client: httpx.AsyncClient, org: Org) -> None:
    contact = await new_contact(client, org.admin)
    made = [await new_ticket(client, org, contact_id=contact["id"], subject=f"Issue {i}",
                             priority="urgent" if i % 2 else "low", tags=["vip"] if i == 3 else [])
            for i in range(5)]
    await client.post(f"{TICKETS}/{made[0]['id']}/assign", json={"assignee_id": org.support.user_id},
                      headers=org.admin.h)

    async def ids(**params: Any) -> list[str]:
        r = await client.get(TICKETS, params=params, headers=org.support.h)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["data"]]

    assert await ids() == [t["id"] for t in reversed(made)]
    assert await ids(priority="urgent", sort="number") == [made[1]["id"], made[3]["id"]]
    assert await ids(tag="vip") == [made[3]["id"]]
    assert await ids(assignee_id=org.support.user_id) == [made[0]["id"]]
    assert len(await ids(unassigned="true")) == 4
    assert await ids(q=f"#{made[2]['number']}") == [made[2]["id"]]
    assert await ids(q="issue 4") == [made[4]["id"]]
    assert await ids(number=str(made[1]["number"])) == [made[1]["id"]]
    pages, cursor = [], None
    while True:
        params = {"limit": 2, "sort": "due_at", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(TICKETS, params=params, headers=org.support.h)).json()
        pages.append([t["id"] for t in body["data"]])
        if not (cursor := body["next_cursor"]):
            break
    flat = [i for p in pages for i in p]
    assert sorted(flat) == sorted(t["id"] for t in made) and len(pages) == 3
    r = await client.get(f"{V1}/contacts/{contact['id']}/tickets", params={"status": "open"}, headers=org.support.h)
    assert len(r.json()["data"]) == 5


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"status": "done"}, "status", id="bad-status"),
    pytest.param({"colour": "red"}, "colour", id="unknown-filter"),
    pytest.param({"sort": "priority"}, "sort", id="unsortable"),
    pytest.param({"number": "12a"}, "number", id="bad-number"),
    pytest.param({"overdue": "maybe"}, "overdue", id="bad-bool"),
    pytest.param({"created_after": "yesterday"}, "created_after", id="bad-date"),
    pytest.param({"limit": "0"}, "limit", id="bad-limit"),
])
async def test_bad_list_parameters_are_refused(client: httpx.AsyncClient, org: Org, params: dict[str, str],
                                               field: str) -> None:
    err = problem(await client.get(TICKETS, params=params, headers=org.support.h), 422)
    assert field in [e["field"].split(".")[-1] for e in err["errors"]]


async def test_a_forged_cursor_is_a_400(client: httpx.AsyncClient, org: Org) -> None:
    problem(await client.get(TICKETS, params={"cursor": "garbage!"}, headers=org.support.h), 400)
    problem(await client.get(f"{TICKETS}/tkt_x/timeline", params={"cursor": "nope"}, headers=org.support.h), 400)


async def test_the_orgs_sla_hours_set_due_dates_and_bad_ones_are_refused(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch("/api/v1/org", headers=org.admin.h,
                           json={"settings": {"ticket_sla_hours": {"urgent": 2, "low": 100}}})
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["ticket_sla_hours"] == {"urgent": 2, "low": 100}
    urgent = await new_ticket(client, org, priority="urgent")
    assert when(urgent["due_at"]) - when(urgent["created_at"]) == timedelta(hours=2)
    normal = await new_ticket(client, org, priority="normal")  # left out: the default
    assert when(normal["due_at"]) - when(normal["created_at"]) == timedelta(hours=DEFAULT_SLA_HOURS["normal"])
    # null restores one priority's default; the others stay
    r = await client.patch("/api/v1/org", headers=org.admin.h,
                           json={"settings": {"ticket_sla_hours": {"urgent": None}}})
    assert r.status_code == 200 and r.json()["settings"]["ticket_sla_hours"] == {"low": 100}
    urgent = await new_ticket(client, org, priority="urgent")
    assert when(urgent["due_at"]) - when(urgent["created_at"]) == timedelta(hours=DEFAULT_SLA_HOURS["urgent"])
    for bad in ({"urgent": 0}, {"urgent": 24 * 365 + 1}, {"someday": 5}, {"low": 2.5}, ["urgent"]):
        r = await client.patch("/api/v1/org", headers=org.admin.h, json={"settings": {"ticket_sla_hours": bad}})
        assert any("ticket_sla_hours" in e["field"] for e in problem(r, 422)["errors"]), (bad, r.text)
    assert (await client.get("/api/v1/org", headers=org.admin.h)).json()["settings"]["ticket_sla_hours"] == {"low": 100}
