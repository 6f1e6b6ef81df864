"""Issue 7 follow-ups in a real browser: the board's keyboard alternative reached by Tab (and the
no-script form), search-as-you-type pickers, "Load older" on a timeline, and the show-once secret
surviving no reload."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, Served


def _api(server: Served, persona: str, method: str, path: str, **kw: object) -> dict:
    key = server.org.people[persona].key
    resp = httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {key}"}, **kw)  # type: ignore[arg-type]
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _stages(server: Served) -> list[dict]:
    data = _api(server, "admin", "GET", "/api/v1/pipelines")["data"]
    return next(p for p in data if p["is_default"])["stages"]


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def _focused_deal(page: Page) -> str | None:
    return page.evaluate("() => document.activeElement && document.activeElement.dataset.deal || null")  # type: ignore[no-any-return]


def test_tab_to_a_card_and_move_it_with_the_keyboard(page: Page, server: Served, login) -> None:
    stages = _stages(server)
    title = _unique("Tabbed deal")
    deal = _api(server, "rep", "POST", "/api/v1/deals", json={"title": title, "stage_id": stages[0]["id"]})
    login(page, "rep")
    page.goto(server.url + "/board")
    for _ in range(400):  # Tab from the top of the page until the card has focus
        page.keyboard.press("Tab")
        if _focused_deal(page) == deal["id"]:
            break
    assert _focused_deal(page) == deal["id"], "Tab never reached the card"
    card = page.locator(f'[data-deal="{deal["id"]}"]')
    page.keyboard.press("Tab")  # the title link
    page.keyboard.press("Tab")  # the "Move to" select, shown while the card has focus
    select = card.get_by_label(f"Move {title} to")
    expect(select).to_be_focused()
    page.keyboard.press("ArrowDown")  # the next stage
    expect(select).to_have_value(stages[1]["id"])
    page.keyboard.press("Tab")
    expect(card.get_by_role("button", name="Move to…")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#board-msg")).to_contain_text("Moved " + title)
    page.reload()  # the move persists
    expect(page.locator(f'section[data-stage="{stages[1]["id"]}"] [data-deal="{deal["id"]}"]')).to_be_visible()
    assert _api(server, "admin", "GET", f"/api/v1/deals/{deal['id']}")["stage_id"] == stages[1]["id"]


def test_without_scripts_the_move_form_posts_and_comes_back(browser: Browser, server: Served) -> None:
    stages = _stages(server)
    title = _unique("No-script deal")
    deal = _api(server, "rep", "POST", "/api/v1/deals", json={"title": title, "stage_id": stages[0]["id"]})
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(server.email("rep"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(server.url + "/board")
    card = page.locator(f'[data-deal="{deal["id"]}"]')
    card.focus()
    card.get_by_label(f"Move {title} to").select_option(stages[1]["id"])
    card.get_by_role("button", name="Move to…").click()
    page.wait_for_url(server.url + "/board")
    expect(page.locator(f'section[data-stage="{stages[1]["id"]}"] [data-deal="{deal["id"]}"]')).to_be_visible()
    context.close()


def test_the_company_picker_finds_a_company_by_typing(page: Page, server: Served, login) -> None:
    name = _unique("Zyzzyva")
    company = _api(server, "admin", "POST", "/api/v1/companies", json={"name": name})
    contact = _api(server, "admin", "POST", "/api/v1/contacts", json={"name": _unique("Picky")})
    login(page, "admin")
    page.goto(server.url + f"/contacts/{contact['id']}")
    field = page.get_by_label("Link a company")
    field.press_sequentially(name.split()[1][:5], delay=30)  # the unique suffix: only this company matches
    expect(page.locator(f'#link-company-id-list option[value="{company["id"]}"]')).to_have_count(1)
    field.fill(company["id"])  # what choosing the suggestion puts in the field
    field.dispatch_event("change")
    expect(page.locator("#link-company-id-hint")).to_contain_text(name)
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#linked-companies")).to_contain_text(name)


def test_load_older_appends_the_next_timeline_page_in_place(page: Page, server: Served, login) -> None:
    contact = _api(server, "rep", "POST", "/api/v1/contacts", json={"name": _unique("Chatty")})
    for i in range(34):
        _api(server, "rep", "POST", "/api/v1/activities",
             json={"type": "note", "subject": f"Note {i:02}", "contact_id": contact["id"]})
    login(page, "rep")
    url = server.url + f"/contacts/{contact['id']}"
    page.goto(url)
    items = page.locator("#timeline > li")
    before = items.count()
    expect(page.get_by_text("Note 00", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Load older").click()
    expect(page.get_by_text("Note 00", exact=True)).to_be_visible()
    assert page.url == url  # appended in place, no navigation
    assert items.count() > before
    expect(page.get_by_role("link", name="Load older")).to_have_count(0)  # that was the end


def test_reloading_after_creating_an_api_key_makes_no_second_key(page: Page, server: Served, login) -> None:
    login(page, "admin")
    page.goto(server.url + "/admin/api-keys")
    name = _unique("reload key")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("[data-secret]")).to_be_visible()
    page.reload()
    expect(page.locator("[data-secret]")).to_have_count(0)
    expect(page.locator("#already-shown")).to_be_visible()
    admin = server.org.people["admin"].user_id
    keys = _api(server, "admin", "GET", f"/api/v1/users/{admin}/api-keys")
    rows = keys["data"] if isinstance(keys, dict) else keys
    assert [k["name"] for k in rows].count(name) == 1
