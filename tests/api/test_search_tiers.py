"""Tiered search (migration 0012): exact and prefix tiers from ordered indexes, full-text tiers
counted and, past ``BROAD`` candidates, served in index order; query plans that keep every tier
bounded; the migration upgrading a database that already holds records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from kith.core import migrate
from kith.core.db import Database, sync_url
from kith.search import service
from kith.search.query import parse
from tests.api.test_search import contact, found, listed
from tests.conftest import PG_DSN, Org, _pg_admin_url, _pg_exec, problem

A = "/api/v1"


async def pages(client: httpx.AsyncClient, who: Any, path: str, q: str, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": q, "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(f"{A}/{path}", params=params, headers=who.h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= limit
        out += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out


# --- ranking ------------------------------------------------------------------------------------

async def test_exact_name_first_then_names_then_emails_starting_with_the_query(client: httpx.AsyncClient,
                                                                             org: Org) -> None:
    by_email = await contact(client, org.admin, name="Aaron Zed", email="marta.z@example.test")
    last_name = await contact(client, org.admin, name="John Marlow", first_name="John", last_name="Marlow")
    titled = await contact(client, org.admin, name="Ben Title", title="Marketing lead")
    prefix_b = await contact(client, org.admin, name="Marx Brother")
    exact = await contact(client, org.admin, name="MAR")
    prefix_a = await contact(client, org.admin, name="Maria Lopez")
    hits = (await client.get(f"{A}/search", params={"q": "mar"}, headers=org.admin.h)).json()["data"]
    # exact name; names starting with the query; then emails (in email order: "Aaron" is no
    # earlier for it); a last name's word; the title
    assert [h["id"] for h in hits] == [exact["id"], prefix_a["id"], prefix_b["id"], by_email["id"],
                                       last_name["id"], titled["id"]]
    assert [h["rank"] for h in hits] == [0, 1, 1, 1, 2, 3]
    assert await listed(client, org.admin, "mar") == [h["id"] for h in hits]


async def test_a_name_starting_with_the_query_matches_even_when_the_words_split_differently(
        client: httpx.AsyncClient, org: Org) -> None:
    c = await contact(client, org.admin, name="O'Brien-Smythe")
    for q in ("o'brien", "o brien", "O'BRIEN-SM", "o'brien-smythe"):
        assert await listed(client, org.admin, q) == [c["id"]], q


# --- broad full-text tiers: index order, exact pagination -------------------------------------------

@pytest.mark.parametrize("broad", [0, 1, 1000])
async def test_full_text_tiers_page_exactly_in_either_order(client: httpx.AsyncClient, org: Org,
                                                           monkeypatch: pytest.MonkeyPatch, broad: int) -> None:
    monkeypatch.setattr(service, "BROAD", broad)
    made = []
    for i, (name, notes) in enumerate([("Zoe Quill", None), ("Amy Quillon", None), ("Bob Box", "quill pen"),
                                       ("Cy Dee", "Quilling"), ("Quill", None), ("Quillan Ray", None),
                                       ("Eve Fox", "quill")]):
        made.append(await contact(client, org.admin, name=name, notes=notes, email=f"p{i}@x.test"))
    await contact(client, org.admin, name="Nobody Here")
    full = await pages(client, org.admin, "contacts", "quill", 100)
    ids = [c["id"] for c in full]
    assert sorted(ids) == sorted(c["id"] for c in made)
    for limit in (1, 2, 3):
        assert [c["id"] for c in await pages(client, org.admin, "contacts", "quill", limit)] == ids, limit
        assert [h["id"] for h in await pages(client, org.admin, "search", "quill", limit)] == ids, limit
    names = [c["name"] for c in full]
    assert names[:2] == ["Quill", "Quillan Ray"]
    word, rest = names[2:4], names[4:]
    assert set(word) == {"Amy Quillon", "Zoe Quill"} and set(rest) == {"Bob Box", "Cy Dee", "Eve Fox"}
    if broad >= 3:  # by name
        assert word == ["Amy Quillon", "Zoe Quill"] and rest == ["Bob Box", "Cy Dee", "Eve Fox"]
    else:  # oldest first
        assert word == ["Zoe Quill", "Amy Quillon"] and rest == ["Bob Box", "Cy Dee", "Eve Fox"]


async def test_search_pages_merge_types_in_broad_tiers(client: httpx.AsyncClient, org: Org,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "BROAD", 1)
    for i in range(3):
        await contact(client, org.admin, name=f"Person {i}", notes="vela project")
        r = await client.post(f"{A}/companies", json={"name": f"Company {i}", "notes": "vela project"},
                              headers=org.admin.h)
        assert r.status_code == 201
    full = await found(client, org.admin, "vela")
    assert len(full) == 6
    for limit in (1, 2, 4):
        assert [h["id"] for h in await pages(client, org.admin, "search", "vela", limit)] == full, limit


async def test_cursors_of_another_shape_are_refused(client: httpx.AsyncClient, org: Org) -> None:
    from kith.core.listing import encode_cursor

    await contact(client, org.admin, name="Rae")
    for value in ([0, 0, 5], [4, 0, "x"], [1, 0, 3], [0, -1, "x"], [2, 0, 1.5], [2, 0, None]):
        cursor = encode_cursor("relevance", value, "contact_x")
        problem(await client.get(f"{A}/contacts", params={"q": "rae", "cursor": cursor}, headers=org.admin.h), 400)
    for positions in ([["contact", 0, 0, "x"]], [["deal", 0, 0, "x", "id"]], [["contact", 0, 0, "x", "a"]] * 2,
                      [], [["contact", 1, 0, 7, "id"]]):
        cursor = encode_cursor("search", positions, "contact_x")
        problem(await client.get(f"{A}/search", params={"q": "rae", "cursor": cursor}, headers=org.admin.h), 400)


def test_successor_bounds_every_string_with_the_prefix() -> None:
    assert service._successor("mar") == "mas"
    assert service._successor("a\U0010ffff") == "b"
    assert service._successor("\U0010ffff") is None
    assert service._successor("x\ud7ff") == "x\ue000"
    assert service._prefix_values(parse("o'brien")) == ["o brien", "o'brien"]
    assert service._prefix_values(parse("mar-")) == ["mar"]


# --- query plans ------------------------------------------------------------------------------------

def _capture(db: Database) -> tuple[list[tuple[str, Any]], Any]:
    engine = db.sync_engine if db.sync_engine is not None else db.engine.sync_engine
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    return seen, (engine, grab)


def _condition(sql: str, start: str) -> str:
    """The operator expression starting at ``start`` in ``sql``, to its balanced end."""
    i = sql.index(start) + len(start)
    depth, j = 0, i
    while j < len(sql):
        if sql[j] == "(":
            depth += 1
        elif sql[j] == ")":
            depth -= 1
            if depth == 0:
                return sql[sql.index(start): j + 1]
        j += 1
    raise AssertionError(sql)


def _plan(db: Database, sql: str, params: Any) -> str:
    engine = sa.create_engine(sync_url(db.url))
    try:
        with engine.connect() as conn:
            if db.backend == "sqlite":
                return "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            conn.exec_driver_sql("SET enable_seqscan = off")  # a handful of rows: make the index usable
            return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
    finally:
        engine.dispose()


async def test_every_tier_is_served_by_its_index(client: httpx.AsyncClient, db: Database, org: Org,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: the FTS table drives the join (``CROSS JOIN``; starting from contacts is seconds at 1M
    rows) and the name tier reads ``ix_contacts_name_search`` in order; PostgreSQL: the GIN index on
    the stored ``search_doc`` and the name index are usable."""
    for i in range(3):
        await contact(client, org.admin, name=f"Quinn {i}", notes="quasar")
    seen, (engine, grab) = _capture(db)
    try:
        assert len(await listed(client, org.admin, "qua")) == 3
        monkeypatch.setattr(service, "BROAD", 1)
        assert len(await listed(client, org.admin, "qua")) == 3
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    fts_stmts = [(s, p) for s, p in seen if "LIKE" not in s and (
        "contacts_fts MATCH" in s and "CROSS JOIN" in s or "search_doc @@" in s and "count" not in s)]
    name_stmts = [(s, p) for s, p in seen if "_tier" in s]
    assert len(fts_stmts) == 2 and name_stmts
    for sql, params in fts_stmts:
        if db.backend == "sqlite":
            plan = _plan(db, sql, params)
            assert plan.splitlines()[0].startswith("SCAN contacts_fts VIRTUAL TABLE"), plan
        else:  # the statement's full-text condition alone: the GIN index must serve it
            plan = _plan(db, "SELECT 1 FROM contacts WHERE " + _condition(sql, "contacts.search_doc @@ "), params)
            assert "Bitmap Index Scan on ix_contacts_search_doc" in plan, plan
    plan = _plan(db, *name_stmts[0])
    assert "ix_contacts_name_search" in plan, plan


# --- the migration --------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    try:
        _pg_exec("SELECT 1")
    except Exception:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}")
    name = f"kith_m_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_admin_url(name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_0012_upgrades_a_database_that_holds_records(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0011")
    engine = sa.create_engine(sync_url(empty_url))
    now: Any = "2026-01-01 00:00:00" if empty_url.startswith("sqlite") else datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO orgs (id, name, settings, widget_key, created_at, updated_at, version) "
                                 "VALUES ('org_1', 'Old', '{}', 'pk_1', :now, :now, 1)"), {"now": now})
            conn.execute(sa.text(
                "INSERT INTO contacts (org_id, id, name, email, stage, status, lead_score, tags, metadata, "
                "custom_fields, automation_enabled, created_at, updated_at, version) VALUES ('org_1', "
                "'contact_1', 'Alice Liddell', 'alice@wonder.test', 'lead', 'active', 0, '[\"tea\"]', '{}', '{}', "
                ":t, :now, :now, 1)"),
                {"now": now, "t": True})
        migrate.upgrade(empty_url, "0012")
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # the stored document was backfilled; name/email words have weight A, tags do not
                hit = "SELECT id FROM contacts WHERE search_doc @@ kith_search_tsquery_w(ARRAY[:w], :weights)"
                assert conn.execute(sa.text(hit), {"w": "lidd", "weights": "A"}).scalars().all() == ["contact_1"]
                assert conn.execute(sa.text(hit), {"w": "wonder", "weights": "A"}).scalars().all() == ["contact_1"]
                assert conn.execute(sa.text(hit), {"w": "tea", "weights": "A"}).scalars().all() == []
                assert conn.execute(sa.text(hit), {"w": "tea", "weights": ""}).scalars().all() == ["contact_1"]
            else:
                names = set(conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
                assert {"ix_contacts_name_search", "ix_companies_name_search"} <= names
                conn.execute(sa.text("INSERT INTO contacts_fts(contacts_fts, rank) VALUES('integrity-check', 1)"))
                hit = "SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH :m"
                assert len(conn.execute(sa.text(hit), {"m": '{name email} : "lidd"*'}).all()) == 1
        from alembic import command

        command.downgrade(migrate.alembic_config(empty_url), "0011")
        migrate.upgrade(empty_url, "0012")
    finally:
        engine.dispose()
