"""The unit of work's transaction on the hot write path (kith.core.db.connect_inline on SQLite: the
driver's own BEGIN IMMEDIATE / COMMIT), on both backends: a write commits everything it ran, Core
and prepared statements alike; a failure rolls back everything; reads see committed rows only."""

from __future__ import annotations

import sqlalchemy as sa

from kith.companies.tables import companies
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.errors import Conflict
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.customfields import repo as custom_repo
from tests.conftest import Org


def _company(org_id: str, name: str) -> dict[str, object]:
    now = clock.now()
    return {"org_id": org_id, "id": ids.new("company"), "name": name, "metadata": {}, "custom_fields": {},
            "tags": [], "is_placeholder": False, "created_at": now, "updated_at": now, "version": 1}


async def _count(db: Database, table: sa.Table, org_id: str) -> int:
    async with db.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(table).where(table.c.org_id == org_id)
        return int((await conn.execute(q)).scalar_one())


async def test_a_write_commits_its_core_and_prepared_statements_and_events(db: Database, org: Org) -> None:
    uow = UnitOfWork(db)
    org_id = org.admin.org_id
    before = await _count(db, events, org_id)
    async with uow.transaction(write=True):
        first = _company(org_id, "Prepared Inc")
        await uow.insert(companies, [first])
        await uow.execute(companies.insert(), _company(org_id, "Core Inc"))
        await uow.record(org_id, "company.created", subject_type="company", subject_id=str(first["id"]),
                         actor_id=None, actor_type="system")
    assert await _count(db, companies, org_id) == 2
    assert await _count(db, events, org_id) == before + 1


async def test_an_error_inside_a_write_rolls_back_every_statement(db: Database, org: Org) -> None:
    uow = UnitOfWork(db)
    org_id = org.admin.org_id
    before = await _count(db, events, org_id)
    try:
        async with uow.transaction(write=True):
            await uow.insert(companies, [_company(org_id, "Gone Inc")])
            await uow.execute(companies.insert(), _company(org_id, "Gone Too"))
            await uow.record(org_id, "company.created", subject_type="company", subject_id="x",
                             actor_id=None, actor_type="system")
            await uow.flush_events()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert await _count(db, companies, org_id) == 0
    assert await _count(db, events, org_id) == before
    # the connection went back clean: the next write on it commits normally
    async with uow.transaction(write=True):
        await uow.insert(companies, [_company(org_id, "Next Inc")])
    assert await _count(db, companies, org_id) == 1


async def test_a_constraint_violation_is_a_conflict_and_writes_nothing(db: Database, org: Org) -> None:
    uow = UnitOfWork(db)
    org_id = org.admin.org_id
    row = _company(org_id, "Twice Inc")
    async with uow.transaction(write=True):
        await uow.insert(companies, [row])
    try:
        async with uow.transaction(write=True):
            await uow.insert(companies, [_company(org_id, "Other Inc")])
            await uow.insert(companies, [row])  # same primary key
        raise AssertionError("expected a Conflict")
    except Conflict:
        pass
    assert await _count(db, companies, org_id) == 1


async def test_reads_outside_a_write_see_only_committed_rows(db: Database, org: Org) -> None:
    org_id = org.admin.org_id
    writer, reader = UnitOfWork(db), UnitOfWork(db)
    q = sa.select(sa.func.count()).select_from(companies).where(companies.c.org_id == org_id)
    async with reader.transaction():
        start = (await reader.execute(q)).scalar_one()
    async with writer.transaction(write=True):
        await writer.insert(companies, [_company(org_id, "Pending Inc")])
        if db.is_sqlite:  # a WAL reader on another connection does not see the open write
            async with reader.transaction():
                assert (await reader.execute(q)).scalar_one() == start
    async with reader.transaction():
        assert (await reader.execute(q)).scalar_one() == start + 1


async def test_custom_field_definitions_read_through_the_prepared_statement(db: Database, org: Org) -> None:
    org_id = org.admin.org_id
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        assert await custom_repo.definitions(uow, org_id, "contact") == {}
        from kith.customfields.tables import custom_field_definitions as cfd

        await uow.execute(cfd.insert(), {"org_id": org_id, "id": ids.new("cfd"), "object": "contact",
                                         "name": "plan", "label": "Plan", "type": "select",
                                         "options": ["free", "pro"], "required": True,
                                         "created_at": clock.now(), "updated_at": clock.now()})
        for locked in (False, True):
            defs = await custom_repo.definitions(uow, org_id, "contact", share_lock=locked)
            assert list(defs) == ["plan"]
            assert defs["plan"].options == ("free", "pro") and defs["plan"].required is True
        assert await custom_repo.definitions(uow, "org_other", "contact") == {}
