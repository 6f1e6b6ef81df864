"""Full-text search stays right when many changes share one transaction.

On SQLite the FTS5 index is kept by triggers (``kith.search.ddl``); on PostgreSQL by a generated
document. The property: whatever mix of creates, renames, tag changes and erasures one transaction
makes (the same row touched several times included), after it commits every live contact is found
by its current words and by no old one, an erased one by none, and (SQLite) FTS5's own integrity
check passes. A rolled-back transaction leaves nothing indexed; rows another program inserts with
plain SQL are searchable at once.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.auth.model import Actor
from kith.contacts import service as contacts
from kith.contacts.schemas import ContactCreate, ContactPatch
from kith.contacts.tables import contacts as contacts_table
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from tests.conftest import Org

_run = itertools.count()

OPS = st.lists(st.tuples(st.sampled_from(["add", "rename", "tag", "erase"]), st.integers(0, 5)),
               min_size=1, max_size=14)


async def _found(client: httpx.AsyncClient, org: Org, word: str) -> set[str]:
    r = await client.get("/api/v1/contacts", params={"q": word, "limit": 100}, headers=org.admin.h)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["data"]}


def _sqlite_path(db: Database) -> Path | None:
    return Path(sa.make_url(db.url).database or "") if db.is_sqlite else None


def _check_sqlite_index(db: Database) -> None:
    path = _sqlite_path(db)
    if path is None:
        return
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES('integrity-check', 1)")
        raw.execute("INSERT INTO companies_fts(companies_fts, rank) VALUES('integrity-check', 1)")


@pytest.mark.anyio
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_every_change_in_one_transaction_is_searchable_after_commit(
        db: Database, client: httpx.AsyncClient, org: Org, ops: list[tuple[str, int]]) -> None:
    run = next(_run)
    actor = Actor.system(org.admin.org_id)
    ids: dict[int, str] = {}
    words: dict[int, str] = {}  # slot -> its contact's current unique word
    old_words: list[str] = []
    erased: list[str] = []
    serial = itertools.count()
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        for op, slot in ops:
            word = f"qz{run}x{next(serial)}w"
            if op == "add" or slot not in ids:
                if slot in ids:  # a second contact in the slot: the first one stays, unwatched
                    old_words.append(words[slot])
                    ids.pop(slot)
                row = await contacts.create_contact(uow, actor, ContactCreate(name=f"Person {word}", tags=["t"]))
                ids[slot], words[slot] = row["id"], word
            elif op == "rename":
                await contacts.update_contact(uow, actor, ids[slot], ContactPatch(name=f"Renamed {word}"))
                old_words.append(words[slot])
                words[slot] = word
            elif op == "tag":  # re-indexes the row; the name's word stays
                await contacts.update_contact(uow, actor, ids[slot], ContactPatch(tags=[f"tag{word}"]))
            else:
                await uow.execute(contacts_table.delete().where(
                    contacts_table.c.org_id == org.admin.org_id, contacts_table.c.id == ids[slot]))
                erased.append(words.pop(slot))
                ids.pop(slot)
    for slot, word in words.items():
        assert await _found(client, org, word) == {ids[slot]}, (ops, slot)
    for word in erased:
        assert await _found(client, org, word) == set(), ops
    live_ids = set(ids.values())
    for word in old_words:
        assert not (await _found(client, org, word)) & live_ids, ops
    _check_sqlite_index(db)


async def test_a_rolled_back_transaction_leaves_nothing_indexed(
        db: Database, client: httpx.AsyncClient, org: Org) -> None:
    actor = Actor.system(org.admin.org_id)
    uow = UnitOfWork(db)
    with pytest.raises(RuntimeError):
        async with uow.transaction(write=True):
            await contacts.create_contact(uow, actor, ContactCreate(name="Person qzrolledback"))
            raise RuntimeError("boom")
    assert await _found(client, org, "qzrolledback") == set()
    _check_sqlite_index(db)
    # the next write transaction is unaffected
    row = await contacts.create_contact(UnitOfWork(db), actor, ContactCreate(name="Person qzafter"))
    assert await _found(client, org, "qzafter") == {row["id"]}
    _check_sqlite_index(db)


async def test_rows_written_outside_kith_are_searchable(
        db: Database, client: httpx.AsyncClient, org: Org) -> None:
    """Another program inserting with plain SQL: the triggers index its rows (SQLite)."""
    actor = Actor.system(org.admin.org_id)
    first = await contacts.create_contact(UnitOfWork(db), actor, ContactCreate(name="Person qzfirst"))
    path = _sqlite_path(db)
    if path is not None:
        with sqlite3.connect(path) as raw:
            raw.execute(
                "INSERT INTO contacts (org_id, id, name, stage, status, lead_score, tags, metadata, custom_fields, "
                "automation_enabled, created_at, updated_at, version) SELECT org_id, 'contact_outside', "
                "'Person qzoutside', stage, status, 0, '[]', '{}', '{}', 1, created_at, updated_at, 1 "
                "FROM contacts WHERE id = ?", (first["id"],))
        assert await _found(client, org, "qzoutside") == {"contact_outside"}
    assert await _found(client, org, "qzfirst") == {first["id"]}
    _check_sqlite_index(db)
