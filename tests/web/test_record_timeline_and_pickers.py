"""Record pages: "Load older" on the timeline (keyset, works without scripts; a partial for
fetch+append) and the search-as-you-type pickers that replace the 200-row selects."""

from __future__ import annotations

import re

from kith.core.db import Database
from tests.conftest import Org
from tests.web.conftest import Browser, count_statements

SUBJECT = re.compile(r"<strong>(A\d\d)</strong>")
OLDER = re.compile(r'href="([^"]+)"[^>]*data-load-older')


async def _post(client, persona, path: str, body: dict) -> dict:
    resp = await client.post(path, json=body, headers=persona.h)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _unescape(url: str) -> str:
    return url.replace("&amp;", "&")


async def test_load_older_pages_through_the_whole_timeline(web, org: Org, client) -> None:
    contact = await _post(client, org.rep, "/api/v1/contacts", {"name": "Busy Person"})
    for i in range(35):
        await _post(client, org.rep, "/api/v1/activities", {"type": "note", "subject": f"A{i:02}",
                                                            "contact_id": contact["id"]})
    b: Browser = await web(org.rep)
    first = (await b.get(f"/contacts/{contact['id']}?tab=communications")).text
    seen = SUBJECT.findall(first)
    assert seen[0] == "A34" and len(seen) <= 30
    link = OLDER.search(first)
    assert link, "no Load older link"
    # without scripts: the link is a whole page with the older items
    second = await b.get(_unescape(link.group(1)))
    assert second.status_code == 200 and "<html" in second.text
    # with scripts: the same URL + partial=timeline is only the items and the next link
    partial = await b.get(_unescape(link.group(1)).split("#")[0] + "&partial=timeline")
    assert partial.status_code == 200 and "<html" not in partial.text
    older = SUBJECT.findall(partial.text)
    assert older == SUBJECT.findall(second.text)
    everything = seen + older
    while (more := OLDER.search(partial.text)) is not None:
        partial = await b.get(_unescape(more.group(1)).split("#")[0] + "&partial=timeline")
        everything += SUBJECT.findall(partial.text)
    assert everything == [f"A{i:02}" for i in reversed(range(35))]


async def test_a_bad_cursor_or_another_orgs_record_is_refused(web, org: Org, other_org: Org, client) -> None:
    contact = await _post(client, org.rep, "/api/v1/contacts", {"name": "Mine"})
    b: Browser = await web(org.rep)
    bad = await b.get(f"/contacts/{contact['id']}?before=not-a-cursor&partial=timeline")
    assert bad.status_code == 400 and "cursor" in bad.text  # the timeline service's answer, as in the API
    stranger: Browser = await web(other_org.admin)
    assert (await stranger.get(f"/contacts/{contact['id']}?partial=timeline")).status_code == 404
    deal = await _post(client, org.rep, "/api/v1/deals", {"title": "Rep's own"})
    other_rep: Browser = await web(org.other_rep)  # may not read the rep's deals
    assert (await other_rep.get(f"/deals/{deal['id']}?partial=timeline")).status_code == 404
    assert (await b.get(f"/deals/{deal['id']}?partial=timeline")).status_code == 200


async def test_a_company_past_the_first_choices_can_be_found_and_linked(web, org: Org, client) -> None:
    for i in range(25):
        await _post(client, org.admin, "/api/v1/companies", {"name": f"Acme {i:03}"})
    far = await _post(client, org.admin, "/api/v1/companies", {"name": "Zyzzyva Ltd"})
    contact = await _post(client, org.admin, "/api/v1/contacts", {"name": "Picker"})
    b: Browser = await web(org.admin)
    page = (await b.get(f"/contacts/{contact['id']}")).text
    assert 'list="link-company-id-list"' in page and 'data-pick="/pick/companies"' in page
    assert far["id"] not in page  # not among the first choices rendered with the page
    found = (await b.get("/pick/companies?q=zyzz")).json()["data"]
    assert [c["id"] for c in found] == [far["id"]] and found[0]["label"].startswith("Zyzzyva Ltd")
    resp = await b.post(f"/contacts/{contact['id']}/companies", {"company_id": far["id"], "role": "Buyer"})
    assert resp.status_code == 303
    linked = (await client.get(f"/api/v1/contacts/{contact['id']}?include=companies", headers=org.admin.h)).json()
    assert [c["id"] for c in linked["companies"]] == [far["id"]]


async def test_pickers_show_only_what_the_caller_may_see(web, org: Org, other_org: Org, client) -> None:
    mine = await _post(client, org.rep, "/api/v1/contacts", {"name": "Quokka Mine"})
    await _post(client, org.other_rep, "/api/v1/contacts", {"name": "Quokka Theirs"})  # not the rep's team
    await _post(client, other_org.admin, "/api/v1/contacts", {"name": "Quokka Elsewhere"})
    rep: Browser = await web(org.rep)
    visible = {c["id"] for c in (await client.get("/api/v1/contacts?q=quokka", headers=org.rep.h)).json()["data"]}
    picked = {c["id"] for c in (await rep.get("/pick/contacts?q=quokka")).json()["data"]}
    assert picked == visible and mine["id"] in picked
    stranger: Browser = await web(other_org.admin)
    elsewhere = (await stranger.get("/pick/contacts?q=quokka")).json()["data"]
    assert [c["label"] for c in elsewhere] == ["Quokka Elsewhere"]


async def test_the_user_picker_searches_names_and_emails_of_active_users(web, org: Org) -> None:
    b: Browser = await web(org.admin)
    by_name = (await b.get("/pick/users?q=rep")).json()["data"]
    assert {u["id"] for u in by_name} == {org.rep.user_id, org.other_rep.user_id}  # "Rep", "Other Rep"
    by_email = (await b.get("/pick/users?q=other_rep@")).json()["data"]
    assert [u["id"] for u in by_email] == [org.other_rep.user_id]
    assert (await b.get("/pick/users?q=%25")).json()["data"] == []  # LIKE wildcards are literal


async def test_bad_picker_requests(web, org: Org) -> None:
    anonymous: Browser = await web(None)
    assert (await anonymous.c.get("/pick/contacts?q=a")).status_code == 303
    b: Browser = await web(org.rep)
    assert (await b.get("/pick/passwords")).status_code == 404
    assert (await b.get("/pick/contacts?q=" + "x" * 101)).status_code == 422


async def test_a_new_deal_can_name_any_contact_by_id(web, org: Org, client) -> None:
    for i in range(22):
        await _post(client, org.rep, "/api/v1/contacts", {"name": f"Aaron {i:02}"})
    last = await _post(client, org.rep, "/api/v1/contacts", {"name": "Zoe Last"})
    b: Browser = await web(org.rep)
    form = (await b.get("/deals/new")).text
    assert 'data-pick="/pick/contacts"' in form and last["id"] not in form
    resp = await b.post("/deals/new", {"title": "Far pick", "contact_id": last["id"]})
    assert resp.status_code == 303
    deal_id = resp.headers["location"].rsplit("/", 1)[1]
    deal = (await client.get(f"/api/v1/deals/{deal_id}", headers=org.rep.h)).json()
    assert deal["contact_id"] == last["id"]
    unknown = await b.post("/deals/new", {"title": "Bad pick", "contact_id": "contact_nope"})
    assert unknown.status_code in (404, 422) and "contact_nope" in unknown.text


async def test_the_record_page_reads_no_unbounded_user_list(web, org: Org, client, db: Database) -> None:
    contact = await _post(client, org.rep, "/api/v1/contacts", {"name": "Bounded"})
    b: Browser = await web(org.admin)
    with count_statements(db) as seen:
        assert (await b.get(f"/contacts/{contact['id']}")).status_code == 200
    user_reads = [s for s in seen if re.search(r"\bFROM users\b", s) and "web_sessions" not in s]
    assert user_reads, seen
    for s in user_reads:
        assert "LIMIT" in s.upper() or " IN (" in s.upper() or "users.id =" in s, s
