"""Lists: filters, search, sort, columns, paging, saved views, bulk actions, export link, escaping."""

from __future__ import annotations

import re

import pytest

from kith.core.db import Database
from tests.conftest import Org, count_rows
from tests.web.conftest import Browser, count_statements


async def _contact(client, persona, **body) -> dict:
    resp = await client.post("/api/v1/contacts", json=body, headers=persona.h)
    assert resp.status_code == 201, resp.text
    return resp.json()


@pytest.mark.parametrize("path", ["/contacts", "/companies", "/leads", "/deals", "/activities"])
async def test_every_list_renders_for_an_admin(web, org: Org, path: str) -> None:
    b: Browser = await web(org.admin)
    resp = await b.get(path)
    assert resp.status_code == 200, resp.text
    assert "<table" in resp.text and 'name="csrf_token"' in resp.text


async def test_a_list_filters_searches_and_sorts_through_the_service(web, client, org: Org) -> None:
    await _contact(client, org.admin, name="Alice Chen", email="alice@acme.dev", stage="qualified")
    await _contact(client, org.admin, name="Bob Stone", email="bob@acme.dev")
    b: Browser = await web(org.admin)
    page = await b.get("/contacts?stage=qualified")
    assert "Alice Chen" in page.text and "Bob Stone" not in page.text
    rows = await b.get("/contacts?q=bob&partial=rows")
    assert rows.status_code == 200 and "Bob Stone" in rows.text and "Alice Chen" not in rows.text
    assert "<html" not in rows.text  # the partial is only the table
    by_name = await b.get("/contacts?sort=name")
    assert by_name.text.index("Alice Chen") < by_name.text.index("Bob Stone")
    by_name_desc = await b.get("/contacts?sort=-name")
    assert by_name_desc.text.index("Bob Stone") < by_name_desc.text.index("Alice Chen")


async def test_an_unknown_filter_is_shown_not_ignored(web, org: Org) -> None:
    b: Browser = await web(org.admin)
    resp = await b.get("/contacts?colour=red")
    assert resp.status_code == 422
    assert "unknown filter" in resp.text and "colour" in resp.text


async def test_a_rep_sees_only_the_team_s_leads(web, client, org: Org) -> None:
    mine = await _contact(client, org.rep, name="Mine")
    theirs = await _contact(client, org.other_rep, name="Theirs")
    for persona, contact, title in ((org.rep, mine, "My lead"), (org.other_rep, theirs, "Their lead")):
        r = await client.post("/api/v1/leads", json={"contact_id": contact["id"], "title": title}, headers=persona.h)
        assert r.status_code == 201, r.text
    b: Browser = await web(org.rep)
    page = await b.get("/leads")
    assert "My lead" in page.text and "Their lead" not in page.text


async def test_a_support_agent_is_refused_the_deals_list(web, org: Org) -> None:
    b: Browser = await web(org.support)
    resp = await b.get("/deals")
    assert resp.status_code == 403
    assert "deal:read" in resp.text
    nav = (await b.get("/")).text
    assert 'href="/deals"' not in nav and 'href="/contacts"' in nav and "SupportApp" in nav


async def test_columns_can_be_chosen(web, client, org: Org) -> None:
    await _contact(client, org.admin, name="Alice", email="alice@acme.dev", phone="+1 555 0100")
    b: Browser = await web(org.admin)
    page = await b.get("/contacts?col=name&col=phone")
    assert "+1 555 0100" in page.text and "alice@acme.dev" not in page.text


async def test_keyset_paging_walks_every_row_once(web, client, org: Org) -> None:
    for i in range(5):
        await _contact(client, org.admin, name=f"Person {i}")
    b: Browser = await web(org.admin)
    seen: list[str] = []
    url = "/contacts?limit=2&sort=name"
    while url:
        page = await b.get(url)
        seen += re.findall(r">(Person \d)</a>", page.text)
        m = re.search(r'<a href="(\?[^"]+)" rel="next">', page.text)
        url = "/contacts" + m.group(1).replace("&amp;", "&") if m else ""
    assert seen == [f"Person {i}" for i in range(5)]


async def test_saved_views_are_per_user(web, org: Org, db: Database) -> None:
    admin: Browser = await web(org.admin)
    await admin.get("/contacts")
    resp = await admin.post("/contacts/views", {"name": "Qualified", "query": "stage=qualified&sort=name"})
    assert resp.status_code == 303 and "stage=qualified" in resp.headers["location"]
    page = await admin.get("/contacts")
    assert "Qualified" in page.text and "stage=qualified&amp;sort=name" in page.text
    manager: Browser = await web(org.manager)
    assert "Qualified" not in (await manager.get("/contacts")).text
    view_id = re.search(r"/contacts/views/(view_\w+)/delete", page.text).group(1)  # type: ignore[union-attr]
    refused = await manager.post(f"/contacts/views/{view_id}/delete")
    assert refused.status_code == 404
    assert (await count_rows(db, "saved_views"))["saved_views"] == 1
    assert (await admin.post(f"/contacts/views/{view_id}/delete")).status_code == 303
    assert (await count_rows(db, "saved_views"))["saved_views"] == 0


async def test_saving_a_view_without_the_csrf_token_is_refused(web, org: Org, db: Database) -> None:
    b: Browser = await web(org.admin)
    resp = await b.post("/contacts/views", {"name": "X", "query": ""}, csrf=False)
    assert resp.status_code == 403
    assert (await count_rows(db, "saved_views"))["saved_views"] == 0


async def test_bulk_actions_report_each_record(web, client, org: Org) -> None:
    mine = await _contact(client, org.rep, name="Mine")
    theirs = await _contact(client, org.other_rep, name="Theirs")
    b: Browser = await web(org.rep)
    await b.get("/contacts")
    resp = await b.post("/contacts/bulk", [("action", "tag"), ("tag_value", "vip"),
                                           ("id", mine["id"]), ("id", theirs["id"])])
    assert resp.status_code == 200
    assert "1 of 2 done" in resp.text
    assert "only on records you or your team own" in resp.text
    got = (await client.get(f"/api/v1/contacts/{mine['id']}", headers=org.admin.h)).json()
    assert got["tags"] == ["vip"]
    assert (await client.get(f"/api/v1/contacts/{theirs['id']}", headers=org.admin.h)).json()["tags"] == []


async def test_bulk_delete_needs_the_delete_permission(web, client, org: Org, db: Database) -> None:
    c = await _contact(client, org.manager, name="Keep me")
    b: Browser = await web(org.manager)
    await b.get("/contacts")
    resp = await b.post("/contacts/bulk", [("action", "delete"), ("id", c["id"])])
    assert "0 of 1 done" in resp.text and "contact:delete" in resp.text
    admin: Browser = await web(org.admin)
    await admin.get("/contacts")
    resp = await admin.post("/contacts/bulk", [("action", "delete"), ("id", c["id"])])
    assert "1 of 1 done" in resp.text
    assert (await client.get(f"/api/v1/contacts/{c['id']}", headers=org.admin.h)).status_code == 404


async def test_bulk_assign_owner_and_another_org_s_ids(web, client, org: Org, other_org: Org) -> None:
    c = await _contact(client, org.admin, name="Alice")
    foreign = await _contact(client, other_org.admin, name="Foreign")
    b: Browser = await web(org.manager)
    await b.get("/contacts")
    resp = await b.post("/contacts/bulk", [("action", "owner"), ("owner_value", org.rep.user_id),
                                           ("id", c["id"]), ("id", foreign["id"])])
    assert "1 of 2 done" in resp.text and "does not exist" in resp.text
    assert (await client.get(f"/api/v1/contacts/{c['id']}", headers=org.admin.h)).json()["owner_id"] == org.rep.user_id
    assert (await client.get(f"/api/v1/contacts/{foreign['id']}", headers=other_org.admin.h)).json()["owner_id"] \
        != org.rep.user_id


@pytest.mark.parametrize("form,message", [
    pytest.param([("action", "explode")], "choose a bulk action", id="unknown-action"),
    pytest.param([("action", "tag"), ("tag_value", "x")], "select at least one record", id="nothing-selected"),
    pytest.param([("action", "owner"), ("id", "contact_x")], "choose the owner", id="missing-value"),
])
async def test_bad_bulk_requests_are_refused_readably(web, org: Org, form, message: str) -> None:
    b: Browser = await web(org.admin)
    await b.get("/contacts")
    resp = await b.post("/contacts/bulk", form)
    if message == "choose the owner":
        assert resp.status_code == 200 and message in resp.text  # per-row failure
    else:
        assert resp.status_code == 422 and message in resp.text


async def test_the_export_link_carries_the_view_s_filters(web, org: Org) -> None:
    b: Browser = await web(org.admin)
    page = await b.get("/contacts?stage=lead&sort=name&col=name")
    assert 'href="/api/v1/exports?object=contacts&amp;stage=lead&amp;sort=name"' in page.text


async def test_names_are_escaped_in_lists(web, client, org: Org) -> None:
    await _contact(client, org.admin, name="<script>alert(1)</script>")
    b: Browser = await web(org.admin)
    page = await b.get("/contacts")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


@pytest.mark.parametrize("path", ["/contacts", "/companies", "/leads", "/deals", "/activities"])
async def test_a_list_page_runs_a_fixed_number_of_queries(web, client, org: Org, db: Database, path: str) -> None:
    for i in range(3):
        await _contact(client, org.admin, name=f"P{i}")
    b: Browser = await web(org.admin)
    with count_statements(db) as few:
        assert (await b.get(path)).status_code == 200
    for i in range(3, 30):
        await _contact(client, org.admin, name=f"P{i}")
    with count_statements(db) as many:
        assert (await b.get(path)).status_code == 200
    assert len(many) == len(few) <= 12, many
