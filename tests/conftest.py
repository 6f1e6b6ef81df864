"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, the app, and personas.

Every storage-touching test runs twice, ``[sqlite]`` and ``[postgresql]``. Each test gets its own
database, copied from a template migrated once per session (a file copy on SQLite,
``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so no test sees another's rows.
Under ``CI=true`` an unreachable PostgreSQL fails the run; elsewhere those tests skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import os
import queue
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from kith.auth import keys
from kith.auth.model import Actor
from kith.config import Settings
from kith.core import migrate
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.entrypoints.app import create_app
from kith.orgs import service as orgs
from kith.orgs.schemas import ApiKeyCreate, UserCreate

# Passwords hash with argon2's cheapest profile in tests, here and in the server processes tests start
# (see kith.auth.keys): thousands of throwaway admins would otherwise cost minutes.
os.environ.setdefault("KITH_ARGON2_PROFILE", "CHEAPEST")
keys.use_profile(os.environ["KITH_ARGON2_PROFILE"])

# Property tests share the machine with other tests (and CI with other jobs): no per-example deadline.
hypothesis_settings.register_profile("kith", deadline=None)
hypothesis_settings.load_profile("kith")

PG_DSN = os.environ.get("KITH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Run every ``async def`` test on asyncio through anyio's plugin (marked before parametrization)."""
    if name.startswith("test") and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pg_admin_url(dbname: str) -> str:
    base = PG_DSN.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def _pg_exec(sql: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    try:
        _pg_exec("SELECT 1")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI but unreachable at {PG_DSN}: {exc}")
        yield None
        return
    name = f"kith_tmpl_{uuid.uuid4().hex[:10]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(_pg_admin_url(name))
        yield name
    finally:
        _close_pg_copies()
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


# Orgs a test's fresh database starts with: a test asking for the ``org`` / ``other_org`` fixtures gets a
# copy of a template in which Acme / Globex (with every persona) already exist, made once per session
# per backend, instead of creating them (~20 transactions) in every test. ``org`` then answers the
# personas recorded when the template was made (a copy each time: tests may add people).
_WANTED_ORGS = (("org", "Acme"), ("other_org", "Globex"))
_SEEDED = pytest.StashKey[dict[str, "Org"]]()


class _SeededTemplates:
    """(backend, org names) -> (template file or database, the orgs made in it)."""

    def __init__(self) -> None:
        self.made: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Org]]] = {}

    def get(self, request: pytest.FixtureRequest, backend: str, names: tuple[str, ...],
            base: str) -> tuple[str, dict[str, Org]]:
        key = (backend, names)
        if key not in self.made:
            if backend == "sqlite":
                target = str(Path(base).with_name(f"template-{'-'.join(names)}.db"))
                shutil.copy(base, target)
                url = f"sqlite:///{target}"
            else:
                target = f"kith_tmpl_{uuid.uuid4().hex[:10]}"
                _pg_exec(f'CREATE DATABASE "{target}" TEMPLATE "{base}"')
                url = _pg_admin_url(target)
            self.made[key] = (target, asyncio.run(_make_orgs(url, names)))
        return self.made[key]

    def drop(self) -> None:
        _close_pg_copies()
        for (backend, _), (target, _) in self.made.items():
            if backend == "postgresql":
                _pg_exec(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


async def _make_orgs(url: str, names: tuple[str, ...]) -> dict[str, Org]:
    database = Database(url)
    try:
        return {name: await make_org(database, name) for name in names}
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def seeded_templates() -> Iterator[_SeededTemplates]:
    templates = _SeededTemplates()
    try:
        yield templates
    finally:
        templates.drop()


class _PgCopies:
    """Fresh PostgreSQL copies of templates, made ahead (and dropped after use) by one background thread
    while tests run, so no test waits for ``CREATE DATABASE`` / ``DROP DATABASE`` (~0.1–0.2 s each)."""

    AHEAD = 2

    def __init__(self) -> None:
        self.ready: dict[str, queue.Queue[str | BaseException]] = {}
        self.jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="pg-copies", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3) as conn:
            while (job := self.jobs.get()) is not None:
                op, arg = job
                if op == "drop":
                    with contextlib.suppress(psycopg.Error):
                        conn.execute(f'DROP DATABASE IF EXISTS "{arg}" WITH (FORCE)')  # type: ignore[arg-type]
                    continue
                name = f"kith_t_{uuid.uuid4().hex[:12]}"
                try:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{arg}"')  # type: ignore[arg-type]
                except psycopg.Error as exc:
                    self.ready[arg].put(exc)
                else:
                    self.ready[arg].put(name)

    def take(self, template: str) -> str:
        """A fresh copy of ``template`` (the caller drops it with ``drop``)."""
        if template not in self.ready:
            self.ready[template] = queue.Queue()
            for _ in range(self.AHEAD):
                self.jobs.put(("make", template))
        got = self.ready[template].get(timeout=120)
        self.jobs.put(("make", template))
        if isinstance(got, BaseException):
            raise got
        return got

    def drop(self, name: str) -> None:
        self.jobs.put(("drop", name))

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=120)
        for q in self.ready.values():
            while not q.empty():
                got = q.get()
                if isinstance(got, str):
                    _pg_exec(f'DROP DATABASE IF EXISTS "{got}" WITH (FORCE)')


_copies: _PgCopies | None = None


def _pg_copies() -> _PgCopies:
    global _copies
    if _copies is None:
        _copies = _PgCopies()
    return _copies


def _close_pg_copies() -> None:
    """Stop making copies (before any template is dropped: a copy in the making holds its template)."""
    global _copies
    if _copies is not None:
        _copies.close()
        _copies = None


@contextmanager
def template_copy(request: pytest.FixtureRequest, backend: str, directory: Path,
                  orgs: tuple[str, ...] = ()) -> Iterator[str]:
    """A URL to a fresh copy of the migrated template of ``backend`` (a file in ``directory`` on
    SQLite, a database dropped on exit on PostgreSQL), holding the orgs named in ``orgs`` (their
    personas are in ``request.node.stash[_SEEDED]``). Templates are asked for lazily, so a SQLite
    test never needs PostgreSQL."""
    if backend == "sqlite":
        source = str(request.getfixturevalue("sqlite_template"))
    else:
        template = request.getfixturevalue("pg_template")
        if template is None:
            pytest.skip(f"PostgreSQL not reachable at {PG_DSN} (required under CI=true)")
        source = template
    if orgs:
        source, made = request.getfixturevalue("seeded_templates").get(request, backend, orgs, source)
        request.node.stash[_SEEDED] = made
    if backend == "sqlite":
        path = directory / "kith.db"
        shutil.copy(source, path)
        yield f"sqlite:///{path}"
        return
    copies = _pg_copies()
    name = copies.take(source)
    try:
        yield _pg_admin_url(name)
    finally:
        copies.drop(name)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a fresh, migrated database of the parametrized backend: empty, but for the orgs of the
    ``org`` / ``other_org`` fixtures when the test asks for them."""
    wanted = tuple(name for fixture, name in _WANTED_ORGS if fixture in request.fixturenames)
    with template_copy(request, request.param, tmp_path, wanted) as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, max_body_bytes=64 * 1024)


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kith.test") as c:
        yield c


@dataclass
class Persona:
    name: str
    user_id: str
    key: str
    key_id: str
    roles: tuple[str, ...]
    org_id: str

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Org:
    id: str
    widget_key: str
    people: dict[str, Persona] = field(default_factory=dict)

    def __getattr__(self, item: str) -> Persona:
        try:
            return self.__dict__["people"][item]
        except KeyError:
            raise AttributeError(item) from None


# name -> (roles, manager persona name)
PERSONAS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "manager": (("sales-manager",), None),
    "rep": (("sales-rep",), "manager"),
    "other_rep": (("sales-rep",), None),
    "support": (("support-agent",), None),
    "marketing": (("marketing",), None),
    "viewer": (("viewer",), None),
}


async def make_org(db: Database, name: str) -> Org:
    res = await orgs.create_org(UnitOfWork(db), name=name, admin_email=f"admin@{name.lower()}.test",
                                admin_password="correct horse battery")
    org = Org(res.org_id, res.widget_key)
    keys = await orgs.list_api_keys(UnitOfWork(db), Actor.system(res.org_id), res.user_id)
    org.people["admin"] = Persona("admin", res.user_id, res.api_key, keys[0]["id"], ("crm-admin",), res.org_id)
    system = Actor.system(res.org_id)
    for pname, (roles, manager) in PERSONAS.items():
        user = await orgs.create_user(UnitOfWork(db), system, UserCreate(
            email=f"{pname}@{name.lower()}.test", name=pname.replace("_", " ").title(), roles=list(roles),
            manager_id=org.people[manager].user_id if manager else None))
        row, key = await orgs.create_api_key(UnitOfWork(db), system, user["id"], ApiKeyCreate(name=pname))
        org.people[pname] = Persona(pname, user["id"], key, row["id"], roles, res.org_id)
    return org


def _seeded_org(request: pytest.FixtureRequest, name: str) -> Org | None:
    made = request.node.stash.get(_SEEDED, {}).get(name)
    return copy.deepcopy(made) if made is not None else None


@pytest.fixture
async def org(request: pytest.FixtureRequest, db: Database) -> Org:
    return _seeded_org(request, "Acme") or await make_org(db, "Acme")


@pytest.fixture
async def other_org(request: pytest.FixtureRequest, db: Database) -> Org:
    return _seeded_org(request, "Globex") or await make_org(db, "Globex")


async def count_rows(db: Database, *tables: str) -> dict[str, int]:
    """Row counts of ``tables`` (all tables when none given): the "nothing changed" assertion."""
    import sqlalchemy as sa

    from kith.tables import metadata

    names = tables or tuple(sorted(metadata.tables))
    # One statement for all tables (a round trip per table made this a third of some tests' time).
    # The names come from our own metadata or the test's literals, never from input.
    sql = " UNION ALL ".join(f"SELECT {i} AS i, COUNT(*) AS n FROM \"{n}\"" for i, n in enumerate(names))
    async with db.engine.connect() as conn:
        counts = {int(i): int(n) for i, n in (await conn.execute(sa.text(sql))).all()}
    return {n: counts[i] for i, n in enumerate(names)}


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``resp`` is an RFC 9457 problem with ``status`` and return its body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    return body
