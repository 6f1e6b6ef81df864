"""The web app in a real browser: log in, create a contact, link a company, log a call, convert a
lead, inline editing, search as you type, a lost-reason dialog, a rep denied an admin page, a
CSRF-less form refused, escaping; screenshots of the main pages go to docs/screenshots/."""

from __future__ import annotations

import importlib.util
import re

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Served


def _api(server: Served, persona: str, method: str, path: str, **kw: object) -> dict:
    key = server.org.people[persona].key
    resp = httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {key}"}, **kw)  # type: ignore[arg-type]
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def test_log_in_see_the_dashboard_and_log_out(page: Page, server: Served, shot) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(server.url + "/contacts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcontacts$"))
    shot(page, "login")
    page.get_by_label("Email").fill(server.email("rep"))
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("the email or password is not right")
    page.get_by_label("Password").fill("browser-test-password")
    page.get_by_label("Email").fill(server.email("rep"))
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/contacts")
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="My open tasks")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(server.url + "/login")
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_create_a_contact_link_a_company_and_log_a_call(page: Page, server: Served, login, shot) -> None:
    initech = _api(server, "rep", "POST", "/api/v1/companies", json={"name": "Initech"})
    login(page, "rep")
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="New contact").click()
    page.get_by_label("Name").fill("Alice Chen")
    page.get_by_label("Email").fill("alice@initech.dev")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("heading", name="Alice Chen")).to_be_visible()
    page.get_by_label("Link a company").fill(initech["id"])  # a picker now: <input list> of company ids
    page.get_by_label("Role").fill("Decision maker")
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#linked-companies")).to_contain_text("Initech")
    expect(page.locator("#linked-companies")).to_contain_text("Decision maker")
    page.get_by_text("Log a call, email, note or task").click()
    page.get_by_label("Type").select_option("call")
    page.get_by_label("Subject").fill("Intro call")
    page.get_by_label("Direction").select_option("outbound")
    page.get_by_role("button", name="Log it").click()
    expect(page.locator("#timeline")).to_contain_text("Intro call")
    expect(page.get_by_role("link", name="Communications")).to_have_attribute("aria-current", "page")
    shot(page, "contact")


def test_inline_edit_saves_through_the_api(page: Page, server: Served, login) -> None:
    contact = _api(server, "rep", "POST", "/api/v1/contacts", json={"name": "Bob Inline"})
    login(page, "rep")
    page.goto(f"{server.url}/contacts/{contact['id']}")
    cell = page.locator('[data-edit="title"]')
    cell.click()
    cell.locator("input").fill("Head of Sales")
    cell.locator("input").press("Enter")
    expect(page.locator(".msg-area")).to_contain_text("Saved title")
    page.reload()
    expect(page.locator('[data-edit="title"]')).to_have_text("Head of Sales")
    assert _api(server, "rep", "GET", f"/api/v1/contacts/{contact['id']}")["title"] == "Head of Sales"


def test_search_as_you_type(page: Page, server: Served, login, shot) -> None:
    for name in ("Carol Search", "Dave Other"):
        _api(server, "admin", "POST", "/api/v1/contacts", json={"name": name})
    login(page, "admin")
    page.goto(server.url + "/contacts")
    page.get_by_role("searchbox", name="Search").fill("carol")
    expect(page.locator("#rows")).to_contain_text("Carol Search")
    expect(page.locator("#rows")).not_to_contain_text("Dave Other")
    expect(page).to_have_url(re.compile(r"q=carol"))
    page.get_by_role("searchbox", name="Search").fill("")
    expect(page.locator("#rows")).to_contain_text("Dave Other")
    shot(page, "contacts")


def test_convert_a_lead(page: Page, server: Served, login, shot) -> None:
    contact = _api(server, "rep", "POST", "/api/v1/contacts", json={"name": "Erin Lead", "email": "erin@x.dev"})
    lead = _api(server, "rep", "POST", "/api/v1/leads", json={"contact_id": contact["id"], "title": "Erin's project",
                                                              "score": 70})
    login(page, "rep")
    page.goto(f"{server.url}/leads/{lead['id']}")
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.locator("#record-error")).to_be_visible()  # a new lead cannot be converted yet
    page.get_by_role("button", name="Contacted", exact=True).click()
    page.get_by_role("button", name="Qualify", exact=True).click()
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page).to_have_url(re.compile(r"/deals/deal_"))
    expect(page.get_by_role("heading", name="Erin's project")).to_be_visible()
    shot(page, "deal")


def test_losing_a_deal_asks_for_the_reason(page: Page, server: Served, login) -> None:
    deal = _api(server, "rep", "POST", "/api/v1/deals", json={"title": "Lost cause", "value": {"amount": "500.00"}})
    login(page, "rep")
    page.goto(f"{server.url}/deals/{deal['id']}")
    page.get_by_role("button", name="Lost…").click()
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Mark lost").click()
    expect(page.locator("#record-error")).to_contain_text("deal-lost-requires-reason")
    page.get_by_role("button", name="Lost…").click()
    page.get_by_label("Why was it lost?").fill("Budget cut")
    page.locator("#lost-dialog").get_by_role("button", name="Mark lost").click()
    expect(page.locator(".flash")).to_contain_text("Done: lost")
    assert _api(server, "rep", "GET", f"/api/v1/deals/{deal['id']}")["status"] == "lost"


def test_a_rep_is_denied_an_admin_page(page: Page, server: Served, login) -> None:
    login(page, "rep")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    resp = page.goto(server.url + "/admin")
    assert resp is not None
    assert resp.status == (403 if importlib.util.find_spec("kith.web.admin") else 404)
    resp = page.goto(server.url + "/deals")  # and a support agent is denied the deals list
    assert resp is not None and resp.status == 200


def test_a_support_agent_is_denied_the_deals_list(page: Page, server: Served, login) -> None:
    login(page, "support")
    expect(page.get_by_role("link", name="Deals")).to_have_count(0)
    resp = page.goto(server.url + "/deals")
    assert resp is not None and resp.status == 403
    expect(page.get_by_role("alert")).to_contain_text("deal:read")


def test_a_form_post_without_the_csrf_token_is_refused(page: Page, server: Served, login) -> None:
    login(page, "rep")
    page.goto(server.url + "/contacts/new")
    page.evaluate("document.querySelector('form[action=\"/contacts/new\"] input[name=csrf_token]').remove()")
    page.get_by_label("Name").fill("Mallory Forged")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    found = _api(server, "admin", "GET", "/api/v1/contacts", params={"q": "Mallory"})
    assert found["data"] == []


def test_names_are_shown_as_text_never_run(page: Page, server: Served, login) -> None:
    contact = _api(server, "admin", "POST", "/api/v1/contacts", json={"name": "<script>alert(1)</script>"})
    fired: list[str] = []
    page.on("dialog", lambda d: (fired.append(d.message), d.dismiss()))
    login(page, "admin")
    page.goto(f"{server.url}/contacts/{contact['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("<script>alert(1)</script>")
    page.goto(server.url + "/contacts")
    expect(page.locator("#rows")).to_contain_text("<script>alert(1)</script>")
    assert fired == []


def test_dashboard_at_desktop_and_phone_width(page: Page, server: Served, login, shot) -> None:
    _api(server, "manager", "POST", "/api/v1/deals", json={"title": "Big deal", "value": {"amount": "25000.00"}})
    _api(server, "rep", "POST", "/api/v1/deals", json={"title": "Rep deal", "value": {"amount": "4000.00"}})
    _api(server, "manager", "POST", "/api/v1/activities", json={"type": "task", "subject": "Review the forecast"})
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, "manager")
    expect(page.locator("#funnel-h")).to_be_visible()
    expect(page.locator("#team")).to_contain_text("Rep")
    shot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    shot(page, "dashboard-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways at phone width ({width}px)"
    shot(page, "dashboard-phone")
