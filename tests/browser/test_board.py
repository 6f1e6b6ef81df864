"""The pipeline board in a real browser: drag a deal across and see it persist after reload, a
drop on the lost stage asks for the reason, a rule failure puts the card back with a readable
message, the keyboard "Move to…" alternative, and another browser's move arriving live."""

from __future__ import annotations

import re
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


def _deal(server: Served, title: str, **extra: object) -> dict:
    return _api(server, "rep", "POST", "/api/v1/deals",
                json={"title": title, "value": {"amount": "2500", "currency": "USD"}, **extra})


def _drag(page: Page, deal_id: str, stage_id: str) -> None:
    card = page.locator(f'[data-deal="{deal_id}"]')
    card.locator(".meta").first.drag_to(page.locator(f'section[data-stage="{stage_id}"] .cards'))


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def test_drag_a_deal_across_the_board_and_it_persists(page: Page, server: Served, login, shot) -> None:
    stages = _stages(server)
    title = _unique("Dragged deal")
    deal = _deal(server, title, expected_close_date="2027-01-31")
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, "rep")
    page.get_by_role("link", name="Pipeline").click()
    expect(page).to_have_url(server.url + "/board")
    card = page.locator(f'[data-deal="{deal["id"]}"]')
    expect(page.locator(f'section[data-stage="{stages[0]["id"]}"]').locator(f'[data-deal="{deal["id"]}"]')).to_be_visible()
    shot(page, "board")
    _drag(page, deal["id"], stages[2]["id"])
    expect(page.locator("#board-msg")).to_contain_text("Moved " + title)
    page.reload()
    expect(page.locator(f'section[data-stage="{stages[2]["id"]}"]').locator(f'[data-deal="{deal["id"]}"]')).to_be_visible()
    assert _api(server, "admin", "GET", f"/api/v1/deals/{deal['id']}")["stage_id"] == stages[2]["id"]
    expect(card).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "board-phone")


def test_a_drop_on_lost_asks_for_the_reason(page: Page, server: Served, login) -> None:
    stages = _stages(server)
    lost = next(s for s in stages if s["outcome"] == "lost")
    title = _unique("Doomed deal")
    deal = _deal(server, title)
    login(page, "rep")
    page.goto(server.url + "/board")
    _drag(page, deal["id"], lost["id"])
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("Went with a competitor")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(page.locator("#board-msg")).to_contain_text("Moved " + title)
    expect(page.locator(f'[data-deal="{deal["id"]}"]')).to_have_count(0)  # closed deals leave the board
    got = _api(server, "admin", "GET", f"/api/v1/deals/{deal['id']}")
    assert got["status"] == "lost" and got["lost_reason"] == "Went with a competitor"


def test_cancelling_the_reason_leaves_the_deal(page: Page, server: Served, login) -> None:
    stages = _stages(server)
    lost = next(s for s in stages if s["outcome"] == "lost")
    deal = _deal(server, _unique("Undecided deal"))
    login(page, "rep")
    page.goto(server.url + "/board")
    _drag(page, deal["id"], lost["id"])
    page.locator("#lost-dialog").get_by_role("button", name="Cancel").click()
    expect(page.locator(f'section[data-stage="{stages[0]["id"]}"] [data-deal="{deal["id"]}"]')).to_be_visible()
    assert _api(server, "admin", "GET", f"/api/v1/deals/{deal['id']}")["status"] == "open"


def test_a_rule_failure_is_readable_and_the_card_returns(page: Page, server: Served, login) -> None:
    stages = _stages(server)
    won = next(s for s in stages if s["outcome"] == "won")
    deal = _deal(server, _unique("No close date"))  # winning needs an expected close date
    login(page, "rep")
    page.goto(server.url + "/board")
    _drag(page, deal["id"], won["id"])
    expect(page.locator("#board-msg")).to_contain_text("deal-won-requires-close-date")
    expect(page.locator(f'section[data-stage="{stages[0]["id"]}"] [data-deal="{deal["id"]}"]')).to_be_visible()
    assert _api(server, "admin", "GET", f"/api/v1/deals/{deal['id']}")["status"] == "open"


def test_keyboard_move(page: Page, server: Served, login) -> None:
    stages = _stages(server)
    title = _unique("Keyboard deal")
    deal = _deal(server, title)
    login(page, "rep")
    page.goto(server.url + "/board")
    card = page.locator(f'[data-deal="{deal["id"]}"]')
    card.focus()
    page.keyboard.press("Tab")  # the title link
    page.keyboard.press("Tab")  # the "Move to" select
    select = card.get_by_label(f"Move {title} to")
    expect(select).to_be_focused()
    select.select_option(stages[1]["id"])
    page.keyboard.press("Tab")  # the reason field is hidden while scripts run: a dialog asks instead
    expect(card.get_by_role("button", name="Move to…")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#board-msg")).to_contain_text("Moved " + title)
    expect(page.locator(f'section[data-stage="{stages[1]["id"]}"] [data-deal="{deal["id"]}"]')).to_be_visible()
    expect(page.locator(f'[data-deal="{deal["id"]}"]')).to_be_focused()
    assert _api(server, "admin", "GET", f"/api/v1/deals/{deal['id']}")["stage_id"] == stages[1]["id"]


def test_another_browsers_move_arrives_live(browser: Browser, server: Served) -> None:
    stages = _stages(server)
    title = _unique("Live deal")
    deal = _deal(server, title)
    watcher_ctx, mover_ctx = browser.new_context(), browser.new_context()
    try:
        watcher, mover = watcher_ctx.new_page(), mover_ctx.new_page()
        for page, persona in ((watcher, "manager"), (mover, "rep")):
            page.goto(server.url + "/login")
            page.get_by_label("Email").fill(server.email(persona))
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(server.url + "/")
            page.goto(server.url + "/board")
        expect(watcher.locator("[data-board]")).to_have_attribute("data-live", "open", timeout=10_000)
        watcher_card = watcher.locator(f'section[data-stage="{stages[3]["id"]}"] [data-deal="{deal["id"]}"]')
        expect(watcher_card).to_have_count(0)
        _drag(mover, deal["id"], stages[3]["id"])
        expect(mover.locator("#board-msg")).to_contain_text("Moved " + title)
        expect(watcher_card).to_be_visible(timeout=15_000)  # no reload in the watcher
        assert re.search(r"/board$", watcher.url)
    finally:
        watcher_ctx.close()
        mover_ctx.close()
