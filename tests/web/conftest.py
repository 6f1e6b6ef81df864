"""Web-app fixtures: a browser-like httpx client per persona, logged in through the login form,
and a statement counter for the fixed-queries-per-page assertions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import event

from kith.auth.model import Actor
from kith.config import Settings
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.entrypoints.app import create_app
from kith.orgs import service as orgs
from kith.orgs.schemas import UserPatch
from tests.conftest import Persona

PASSWORD = "web-test-password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF field"
    return m.group(1)


class Browser:
    """An httpx client keeping cookies, with the CSRF token of the last page it loaded."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.c = client
        self.csrf = ""

    async def get(self, url: str, **kw: object) -> httpx.Response:
        resp = await self.c.get(url, **kw)  # type: ignore[arg-type]
        if 'name="csrf_token"' in resp.text:
            self.csrf = csrf_of(resp.text)
        return resp

    async def post(self, url: str, data: dict[str, object] | list[tuple[str, str]] | None = None,
                   *, csrf: bool = True) -> httpx.Response:
        items = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            items.append(("csrf_token", self.csrf))
        return await self.c.post(url, content=urlencode(items),
                                 headers={"content-type": "application/x-www-form-urlencoded"})

    async def api(self, method: str, url: str, **kw: object) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}  # type: ignore[dict-item]
        return await self.c.request(method, url, headers=headers, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def web_app(db: Database, settings: Settings) -> AsyncIterator[object]:
    yield create_app(settings, db=db)


async def set_password(db: Database, persona: Persona) -> None:
    await orgs.update_user(UnitOfWork(db), Actor.system(persona.org_id), persona.user_id,
                           UserPatch(password=PASSWORD))


@pytest.fixture
async def web(db: Database, web_app: object) -> AsyncIterator[Callable[[Persona | None], Awaitable[Browser]]]:
    """``await web(org.rep)``: a client logged in as that persona (``None``: anonymous)."""
    clients: list[httpx.AsyncClient] = []

    async def make(persona: Persona | None) -> Browser:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app), base_url="http://kith.test")  # type: ignore[arg-type]
        clients.append(c)
        b = Browser(c)
        if persona is not None:
            await set_password(db, persona)
            page = await b.get("/login")
            user = await orgs.get_user(UnitOfWork(db), Actor.system(persona.org_id), persona.user_id)
            resp = await b.post("/login", {"email": user["email"], "password": PASSWORD})
            assert resp.status_code == 303, resp.text
            await b.get("/")
            assert page.status_code == 200
        return b

    yield make
    for c in clients:
        await c.aclose()


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement run while inside (Core and prepared driver-level ones alike)."""
    seen: list[str] = []

    def listener(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT")):
            seen.append(statement)

    engines = [db.engine.sync_engine] + ([db.sync_engine] if db.sync_engine is not None else [])
    for e in engines:
        event.listen(e, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", listener)
