"""Browser tests: the app served by uvicorn in a thread on a free port, against a fresh migrated
SQLite database holding one org (the personas of tests/conftest.py, each with password
``PASSWORD``), driven by Playwright through Debian's Chromium (/usr/bin/chromium).

Run them in their own pytest process (pytest-playwright and the async tests do not mix):
``pytest tests --ignore=tests/browser && pytest tests/browser``. Under ``CI=true`` a missing
Chromium fails the run; elsewhere these tests skip with a message.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from kith.auth.model import Actor
from kith.config import Settings
from kith.core import migrate
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.entrypoints.app import create_app
from kith.orgs import service as orgs
from kith.orgs.schemas import UserPatch
from tests.conftest import Org, make_org

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser-test-password"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium; required under CI=true)")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class Served:
    url: str
    org: Org
    db_url: str

    def email(self, persona: str) -> str:
        return f"{persona}@acme.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(db_url: str) -> Org:
    db = Database(db_url)
    try:
        org = await make_org(db, "Acme")
        for p in org.people.values():
            await orgs.update_user(UnitOfWork(db), Actor.system(org.id), p.user_id, UserPatch(password=PASSWORD))
        return org
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'kith.db'}"
    migrate.upgrade(db_url)
    # Playwright's sync API keeps an event loop running in this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        org = pool.submit(asyncio.run, _seed(db_url)).result()
    port = _free_port()
    app = create_app(Settings(database_url=db_url))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", org, db_url)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def login(server: Served) -> Callable[[Any, str], None]:
    """``login(page, "rep")``: log that persona in through the login form."""

    def go(page: Any, persona: str) -> None:
        page.goto(server.url + "/login")
        page.get_by_label("Email").fill(server.email(persona))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(server.url + "/")

    return go


@pytest.fixture
def shot() -> Callable[[Any, str], None]:
    """``shot(page, "dashboard")`` saves docs/screenshots/dashboard.png (full page)."""

    def take(page: Any, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture(scope="session")
def base_url(server: Served) -> str:
    """Replaces pytest-base-url's fixture (deprecated form under pytest 9): the served app's URL."""
    return server.url
