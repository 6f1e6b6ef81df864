"""Create-forms that make a secret answer POST-redirect-GET: the secret shows once on the GET,
a reload says "already shown" and makes nothing, another session cannot open it, and the database
never holds it in clear."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from kith.config import Settings
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.web.reveal import web_reveals
from tests.conftest import Org, count_rows
from tests.web.conftest import Browser


@pytest.fixture
def settings(db_url: str) -> Settings:
    # webhook and call_webhook targets on loopback, as in test_admin.py
    return Settings(database_url=db_url, max_body_bytes=64 * 1024, webhooks_allow_private=True)


SECRET = re.compile(r"data-secret>([^<]+)<")

CREATES = [
    pytest.param("/admin/api-keys", {"name": "zapier"}, "api_keys", id="api-key"),
    pytest.param("/admin/webhooks", {"url": "http://127.0.0.1:9/kith", "events": "deal.*"}, "webhooks", id="webhook"),
    pytest.param("/admin/automations", {
        "name": "Ping", "trigger": "contact.qualified",
        "actions": '[{"type": "call_webhook", "url": "http://127.0.0.1:9/hook", "payload": {}}]'},
        "automations", id="automation-with-webhook"),
]


async def _sealed_rows(db: Database) -> list[str]:
    uow = UnitOfWork(db)
    async with uow.transaction():
        return [r.sealed for r in await uow.execute(sa.select(web_reveals.c.sealed))]


@pytest.mark.parametrize("path,data,table", CREATES)
async def test_reloading_after_a_create_shows_already_shown_and_makes_nothing(
        web, org: Org, db: Database, path: str, data: dict[str, str], table: str) -> None:
    b: Browser = await web(org.admin)
    await b.get(path)
    before = (await count_rows(db, table))[table]
    posted = await b.post(path, data)
    assert posted.status_code == 303, posted.text.split('id="main"')[-1][:800]
    target = posted.headers["location"]
    assert target.startswith(path) and "shown=" in target
    assert (await count_rows(db, table))[table] == before + 1
    sealed = await _sealed_rows(db)
    shown = await b.get(target)
    assert shown.status_code == 200
    secret = SECRET.search(shown.text).group(1).strip()  # type: ignore[union-attr]
    assert secret not in target and all(secret not in s for s in sealed)  # never in a URL or in clear
    reload = await b.get(target)
    assert reload.status_code == 200 and "already shown" in reload.text and "data-secret" not in reload.text
    assert secret not in reload.text
    assert (await count_rows(db, table))[table] == before + 1
    assert await _sealed_rows(db) == []  # taken: nothing left behind


async def test_another_session_cannot_open_the_reveal(web, org: Org, db: Database) -> None:
    mine: Browser = await web(org.admin)
    theirs: Browser = await web(org.admin)  # the same user, another browser
    await mine.get("/admin/api-keys")
    target = (await mine.post("/admin/api-keys", {"name": "k"})).headers["location"]
    stolen = await theirs.get(target)
    assert "data-secret" not in stolen.text and "already shown" in stolen.text
    assert "data-secret" in (await mine.get(target)).text  # still there for its own session


async def test_another_orgs_admin_cannot_open_the_reveal(web, org: Org, other_org: Org) -> None:
    mine: Browser = await web(org.admin)
    await mine.get("/admin/api-keys")
    target = (await mine.post("/admin/api-keys", {"name": "k"})).headers["location"]
    other: Browser = await web(other_org.admin)
    assert "data-secret" not in (await other.get(target)).text


async def test_a_bogus_reveal_id_says_already_shown(web, org: Org) -> None:
    b: Browser = await web(org.admin)
    for rid in ("nope", "x" * 500, ""):
        resp = await b.get(f"/admin/webhooks?shown={rid}")
        assert resp.status_code == 200 and "data-secret" not in resp.text
