"""The ticket pages (SupportApp): the Tickets list with the generic list features (filters, search,
sort, keyset paging, saved views, bulk assign), the "new ticket" form, the record page with the
verbs as buttons and the assign form, navigation per role, refusals shown readably, escaping and a
fixed number of statements per page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kith.core.db import Database
from tests.conftest import Org, Persona, count_rows
from tests.web.conftest import Browser, count_statements


async def _post(client, persona: Persona, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body, headers=persona.h)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def _ticket(client, org: Org, **body: Any) -> dict[str, Any]:
    if "contact_id" not in body:
        body["contact_id"] = (await _post(client, org.admin, "/api/v1/contacts", {"name": "Reporter"}))["id"]
    body.setdefault("subject", "Printer on fire")
    return await _post(client, org.support, "/api/v1/tickets", body)


@pytest.mark.parametrize(("persona", "shown"), [
    pytest.param("support", True, id="support-agent"), pytest.param("admin", True, id="crm-admin"),
    pytest.param("rep", False, id="sales-rep"), pytest.param("manager", False, id="sales-manager"),
    pytest.param("viewer", False, id="viewer")])
async def test_the_tickets_tab_is_shown_to_roles_that_read_tickets(web, org: Org, persona: str, shown: bool) -> None:
    b: Browser = await web(getattr(org, persona))
    home = await b.get("/")
    assert ('href="/tickets"' in home.text) is shown
    page = await b.get("/tickets")
    assert page.status_code == (200 if shown else 403)


async def test_the_list_filters_searches_sorts_and_pages(web, client, org: Org) -> None:
    made = [await _ticket(client, org, subject=f"Issue {i}", priority="urgent" if i % 2 else "low")
            for i in range(5)]
    b: Browser = await web(org.support)
    page = await b.get("/tickets")
    assert page.status_code == 200 and all(t["subject"] in page.text for t in made)
    urgent = await b.get("/tickets?priority=urgent")
    assert "Issue 1" in urgent.text and "Issue 3" in urgent.text and "Issue 2" not in urgent.text
    found = await b.get(f"/tickets?q=%23{made[2]['number']}&partial=rows")
    assert "Issue 2" in found.text and "Issue 4" not in found.text and "<html" not in found.text
    bad = await b.get("/tickets?status=done")
    assert bad.status_code == 422 and "status" in bad.text
    seen: list[str] = []
    url = "/tickets?limit=2&sort=number"
    while url:
        resp = await b.get(url)
        seen += re.findall(r'href="/tickets/(tkt_[0-9a-z]+)"', resp.text)
        m = re.search(r'href="(\?[^"]*cursor=[^"]*)" rel="next"', resp.text)
        url = "/tickets" + m.group(1).replace("&amp;", "&") if m else ""
    assert seen == [t["id"] for t in made]


async def test_a_saved_view_of_tickets_is_the_users_own(web, org: Org) -> None:
    b: Browser = await web(org.support)
    await b.get("/tickets")
    resp = await b.post("/tickets/views", {"name": "Urgent", "query": "priority=urgent"})
    assert resp.status_code == 303 and "priority=urgent" in resp.headers["location"]
    assert "Urgent" in (await b.get("/tickets")).text
    admin: Browser = await web(org.admin)
    assert ">Urgent<" not in (await admin.get("/tickets")).text


async def test_bulk_assign_reports_each_ticket(web, client, org: Org, other_org: Org) -> None:
    mine = [await _ticket(client, org) for _ in range(2)]
    theirs = await _ticket(client, other_org)
    b: Browser = await web(org.support)
    await b.get("/tickets")
    ids = [("id", t["id"]) for t in mine] + [("id", theirs["id"])]
    resp = await b.post("/tickets/bulk", [("action", "owner"), ("owner_value", org.support.user_id), *ids])
    assert resp.status_code == 200 and resp.text.count("done") >= 2 and "does not exist" in resp.text
    for t in mine:
        got = (await client.get(f"/api/v1/tickets/{t['id']}", headers=org.admin.h)).json()
        assert got["assignee_id"] == org.support.user_id
    refused = await b.post("/tickets/bulk", [("action", "owner"), ("owner_value", org.rep.user_id),
                                             ("id", mine[0]["id"])])
    assert "ticket-assignee-must-handle-tickets" in refused.text
    untouched = await client.get(f"/api/v1/tickets/{theirs['id']}", headers=other_org.admin.h)
    assert untouched.json()["assignee_id"] is None


async def test_bulk_delete_needs_the_delete_permission(web, client, org: Org, db: Database) -> None:
    t = await _ticket(client, org)
    b: Browser = await web(org.support)
    await b.get("/tickets")
    before = await count_rows(db, "tickets", "events")
    resp = await b.post("/tickets/bulk", [("action", "delete"), ("id", t["id"])])
    assert "ticket:delete" in resp.text
    assert await count_rows(db, "tickets", "events") == before


async def test_opening_a_ticket_through_the_form(web, client, org: Org, db: Database) -> None:
    contact = await _post(client, org.admin, "/api/v1/contacts", {"name": "Grace", "email": "grace@example.com"})
    b: Browser = await web(org.support)
    form = await b.get("/tickets/new")
    assert form.status_code == 200 and "Grace" in form.text and '<label for="subject">' in form.text
    before = await count_rows(db, "tickets")
    bad = await b.post("/tickets/new", {"subject": "", "contact_id": contact["id"]})
    assert bad.status_code == 422 and "subject" in bad.text
    assert await count_rows(db, "tickets") == before
    resp = await b.post("/tickets/new", {"subject": "VPN down", "contact_id": contact["id"], "priority": "urgent",
                                         "channel": "phone"})
    assert resp.status_code == 303, resp.text
    page = await b.get(resp.headers["location"])
    assert "VPN down" in page.text and "urgent" in page.text and "Grace" in page.text


async def test_the_record_page_runs_the_verbs_and_shows_refusals(web, client, org: Org) -> None:
    t = await _ticket(client, org)
    b: Browser = await web(org.support)
    page = await b.get(f"/tickets/{t['id']}")
    assert page.status_code == 200 and f"#{t['number']}" in page.text
    assert 'id="verb-pending"' in page.text and 'id="verb-resolve"' in page.text and 'id="verb-close"' not in page.text
    assert 'data-edit="subject"' in page.text
    resp = await b.post(f"/tickets/{t['id']}/do/assign", {"assignee_id": org.support.user_id})
    assert resp.status_code == 303
    resp = await b.post(f"/tickets/{t['id']}/do/resolve", {"resolution": "Replaced toner"})
    assert resp.status_code == 303
    page = await b.get(f"/tickets/{t['id']}")
    assert "Replaced toner" in page.text and 'id="verb-close"' in page.text and "ticket.resolved" in page.text
    stale = await b.post(f"/tickets/{t['id']}/do/pending", {})
    assert stale.status_code == 409 and "cannot go from" in stale.text
    rule = await b.post(f"/tickets/{t['id']}/do/assign", {"assignee_id": org.rep.user_id})
    assert rule.status_code == 422 and "ticket-assignee-must-handle-tickets" in rule.text
    await b.post(f"/tickets/{t['id']}/do/close", {})
    closed = await b.get(f"/tickets/{t['id']}")
    assert 'data-edit="subject"' not in closed.text and 'id="verb-assign"' not in closed.text


async def test_a_verb_without_the_csrf_token_is_refused(web, client, org: Org, db: Database) -> None:
    t = await _ticket(client, org)
    b: Browser = await web(org.support)
    await b.get(f"/tickets/{t['id']}")
    before = await count_rows(db, "tickets", "events")
    resp = await b.post(f"/tickets/{t['id']}/do/resolve", {}, csrf=False)
    assert resp.status_code == 403
    assert await count_rows(db, "tickets", "events") == before


async def test_another_orgs_ticket_and_other_roles_are_refused(web, client, org: Org, other_org: Org) -> None:
    theirs = await _ticket(client, other_org)
    b: Browser = await web(org.support)
    assert (await b.get(f"/tickets/{theirs['id']}")).status_code == 404
    await b.get("/tickets")
    assert (await b.post(f"/tickets/{theirs['id']}/do/resolve", {})).status_code == 404
    rep: Browser = await web(org.rep)
    mine = await _ticket(client, org)
    assert (await rep.get(f"/tickets/{mine['id']}")).status_code == 403
    assert (await rep.get("/tickets/new")).status_code == 403


async def test_subjects_are_escaped(web, client, org: Org) -> None:
    t = await _ticket(client, org, subject="<script>alert(1)</script>")
    b: Browser = await web(org.support)
    for url in ("/tickets", f"/tickets/{t['id']}"):
        text = (await b.get(url)).text
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@pytest.mark.parametrize("path", ["list", "record"])
async def test_ticket_pages_run_a_fixed_number_of_queries(web, client, org: Org, db: Database, path: str) -> None:
    company = await _post(client, org.admin, "/api/v1/companies", {"name": "Acme"})
    first = await _ticket(client, org, company_id=company["id"])
    url = "/tickets" if path == "list" else f"/tickets/{first['id']}"
    b: Browser = await web(org.support)
    with count_statements(db) as few:
        assert (await b.get(url)).status_code == 200
    for i in range(12):
        await _ticket(client, org, contact_id=first["contact_id"], subject=f"T{i}")
        await client.patch(f"/api/v1/tickets/{first['id']}", json={"subject": f"S{i}"}, headers=org.support.h)
    with count_statements(db) as many:
        assert (await b.get(url)).status_code == 200
    assert len(many) == len(few) <= 12, many


async def test_the_export_link_downloads_the_filtered_view(web, client, org: Org) -> None:
    urgent = await _ticket(client, org, subject="Urgent one", priority="urgent")
    await _ticket(client, org, subject="Low one", priority="low")
    b: Browser = await web(org.support)
    page = await b.get("/tickets?priority=urgent")
    href = re.search(r'href="(/api/v1/exports\?object=tickets[^"]*)"', page.text)
    assert href is not None, page.text
    resp = await b.get(href.group(1).replace("&amp;", "&"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv"), resp.text
    assert urgent["id"] in resp.text and "Low one" not in resp.text
