"""Admin pages in a real browser: an admin creates an API key and sees the secret once, edits a
stage, and the pages are screenshotted; a rep is denied."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from kith.core.db import Database
from kith.imports.service import step as imports_step
from tests.browser.conftest import Served


def test_an_admin_creates_an_api_key_and_sees_the_secret_once(page: Page, server: Served, login, shot) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, "admin")
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Administration: Acme")).to_be_visible()
    shot(page, "admin")
    page.get_by_role("link", name="API keys").first.click()
    page.get_by_label("Name").fill("browser key")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("[data-secret]").inner_text().strip()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    shot(page, "admin-api-key")
    resp = httpx.get(server.url + "/api/v1/contacts", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200
    page.goto(server.url + "/admin/api-keys")
    expect(page.locator("[data-secret]")).to_have_count(0)
    assert secret not in page.content()
    expect(page.get_by_role("cell", name="browser key")).to_be_visible()


def test_admin_pages_screenshots_and_a_stage_rename(page: Page, server: Served, login, shot) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, "admin")
    page.goto(server.url + "/admin/pipelines")
    shot(page, "admin-pipelines")
    name_input = page.locator('input[name="s1.name"]').first
    old = name_input.input_value()
    name_input.fill(old + " (renamed)")
    page.get_by_role("button", name="Save stages").first.click()
    expect(page.locator(".flash")).to_contain_text("Stages saved.")
    expect(page.locator('input[name="s1.name"]').first).to_have_value(old + " (renamed)")
    page.locator('input[name="s1.name"]').first.fill(old)
    page.get_by_role("button", name="Save stages").first.click()
    expect(page.locator(".flash")).to_contain_text("Stages saved.")
    for path, name in (("/admin/users", "admin-users"), ("/admin/widget", "admin-widget"),
                       ("/admin/webhooks", "admin-webhooks")):
        page.goto(server.url + path)
        shot(page, name)
    page.goto(server.url + "/admin/widget")
    expect(page.locator("#snippet")).to_contain_text('/widget.js" data-key="pk_')


def test_a_rep_is_denied_the_admin_pages(page: Page, server: Served, login) -> None:
    login(page, "rep")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    for path in ("/admin", "/admin/users", "/admin/api-keys"):
        resp = page.goto(server.url + path)
        assert resp is not None and resp.status == 403
        expect(page.get_by_role("alert")).to_be_visible()


@pytest.fixture
def import_worker(server: Served) -> Iterator[None]:
    """The worker's import step (what `kith worker` runs) looping in a thread on the served database."""
    stop = threading.Event()

    async def run() -> None:
        db = Database(server.db_url)
        try:
            while not stop.is_set():
                if not await imports_step(db):
                    await asyncio.sleep(0.1)
        finally:
            await db.dispose()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def test_the_import_wizard_dry_run_run_and_revert(page: Page, server: Served, login, shot, import_worker) -> None:
    tag = uuid.uuid4().hex[:6]
    csv = (f"Full name,E-mail,Ignored\nWizard One {tag},one-{tag}@wizard.test,x\n"
           f"Wizard Two {tag},two-{tag}@wizard.test,y\n")
    page.on("dialog", lambda d: d.accept())
    login(page, "admin")
    page.goto(server.url + "/admin/imports")
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    expect(page.locator("#imp-mapping input")).to_have_count(3)
    page.get_by_label("Field for column Full name (blank: ignore)").fill("name")
    page.get_by_label("Field for column E-mail (blank: ignore)").fill("email")
    page.get_by_label("Field for column Ignored (blank: ignore)").fill("")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#imp-status")).to_contain_text("Dry run done: 2 rows", timeout=20_000)
    found = httpx.get(server.url + "/api/v1/contacts", params={"q": f"Wizard One {tag}"},
                      headers={"Authorization": f"Bearer {server.org.people['admin'].key}"}).json()["data"]
    assert found == []
    page.get_by_role("button", name="Run import").click()
    expect(page.locator("#imp-status")).to_contain_text("Import done: 2 rows, 2 created", timeout=20_000)
    shot(page, "admin-import")
    found = httpx.get(server.url + "/api/v1/contacts", params={"q": f"Wizard One {tag}"},
                      headers={"Authorization": f"Bearer {server.org.people['admin'].key}"}).json()["data"]
    assert [c["email"] for c in found] == [f"one-{tag}@wizard.test"]
    page.get_by_role("button", name="Revert this import").click()
    expect(page.locator("#imp-status")).to_contain_text("reverted", timeout=20_000)
    found = httpx.get(server.url + "/api/v1/contacts", params={"q": f"Wizard One {tag}"},
                      headers={"Authorization": f"Bearer {server.org.people['admin'].key}"}).json()["data"]
    assert found == []
