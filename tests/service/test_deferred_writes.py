"""Writes whose result nobody reads (``uow.insert``, events, ``uow.send``) may wait, on PostgreSQL, to
travel with the transaction's next statement or its COMMIT (kith.core.db.PgWork). On both backends:
every later statement sees them, in order; their errors are still conflicts that write nothing; work
on the connection itself (COPY) comes after them; a failed write leaves the connection clean."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kith.companies.tables import companies
from kith.core import clock, ids
from kith.core.db import Database, Prepared
from kith.core.errors import Conflict
from kith.core.events import event_refs, events
from kith.core.uow import UnitOfWork
from tests.conftest import Org

_BY_ID = Prepared(sa.select(companies.c.id, companies.c.name).where(
    companies.c.org_id == sa.bindparam("org_id"), companies.c.id == sa.bindparam("id")))
_RENAME = Prepared(companies.update().where(companies.c.org_id == sa.bindparam("org_id"),
                                            companies.c.id == sa.bindparam("id"))
                   .values(name=sa.bindparam("name")))


def _company(org_id: str, name: str) -> dict[str, object]:
    now = clock.now()
    return {"org_id": org_id, "id": ids.new("company"), "name": name, "metadata": {}, "custom_fields": {},
            "tags": [], "is_placeholder": False, "created_at": now, "updated_at": now, "version": 1}


async def _names(db: Database, org_id: str) -> list[str]:
    async with db.engine.connect() as conn:
        q = sa.select(companies.c.name).where(companies.c.org_id == org_id).order_by(companies.c.name)
        return [r[0] for r in await conn.execute(q)]


async def test_later_statements_see_waiting_writes_in_order(db: Database, org: Org) -> None:
    org_id = org.admin.org_id
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        first = _company(org_id, "Alpha")
        await uow.insert(companies, [first])
        # a prepared read, a prepared update (its rowcount) and a Core read all come after the insert
        assert await uow.row(_BY_ID, {"org_id": org_id, "id": first["id"]}) == {"id": first["id"], "name": "Alpha"}
        await uow.insert(companies, [_company(org_id, "Beta"), _company(org_id, "Gamma")])
        assert await uow.run(_RENAME, {"org_id": org_id, "id": first["id"], "name": "Alpha 2"}) == 1
        count = sa.select(sa.func.count()).select_from(companies).where(companies.c.org_id == org_id)
        assert (await uow.execute(count)).scalar_one() == 3
        await uow.record(org_id, "company.created", subject_type="company", subject_id=str(first["id"]),
                         actor_id=None, actor_type="system")
        await uow.flush_events()
        seen = sa.select(sa.func.count()).select_from(event_refs).where(
            event_refs.c.org_id == org_id, event_refs.c.record_id == first["id"])
        assert (await uow.execute(seen)).scalar_one() == 1
    assert await _names(db, org_id) == ["Alpha 2", "Beta", "Gamma"]


async def test_a_waiting_write_that_fails_is_a_conflict_and_the_connection_stays_usable(
        db: Database, org: Org) -> None:
    org_id = org.admin.org_id
    row = _company(org_id, "Once")
    async with UnitOfWork(db).transaction(write=True) as uow:
        await uow.insert(companies, [row])
    before = await _names(db, org_id)
    with pytest.raises(Conflict):
        async with UnitOfWork(db).transaction(write=True) as uow:
            await uow.insert(companies, [_company(org_id, "Lost")])
            await uow.insert(companies, [row])  # same primary key: fails with the statement after it
            await uow.record(org_id, "company.created", subject_type="company", subject_id=str(row["id"]),
                             actor_id=None, actor_type="system")
    assert await _names(db, org_id) == before
    # every pooled connection still works, in and out of transactions
    for _ in range(3):
        async with UnitOfWork(db).transaction(autocommit=True) as uow:
            assert await uow.row(_BY_ID, {"org_id": org_id, "id": row["id"]}) is not None
        async with UnitOfWork(db).transaction() as uow:
            assert (await uow.execute(sa.select(sa.literal(1)))).scalar_one() == 1
        async with UnitOfWork(db).transaction(write=True) as uow:
            await uow.insert(companies, [_company(org_id, "After")])
    assert (await _names(db, org_id)).count("After") == 3


async def test_an_error_after_waiting_writes_sends_none_of_them(db: Database, org: Org) -> None:
    org_id = org.admin.org_id
    with pytest.raises(RuntimeError):
        async with UnitOfWork(db).transaction(write=True) as uow:
            await uow.insert(companies, [_company(org_id, "Never")])
            await uow.record(org_id, "company.created", subject_type="company", subject_id="x",
                             actor_id=None, actor_type="system")
            raise RuntimeError("boom")
    assert await _names(db, org_id) == []
    async with db.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(events).where(events.c.org_id == org_id,
                                                                 events.c.subject_id == "x")
        assert (await conn.execute(q)).scalar_one() == 0


async def test_work_on_the_connection_itself_comes_after_waiting_writes(db: Database, org: Org) -> None:
    org_id = org.admin.org_id
    async with UnitOfWork(db).transaction(write=True) as uow:
        await uow.insert(companies, [_company(org_id, "Before Direct")])
        if not db.is_sqlite:
            with pytest.raises(RuntimeError):
                uow.conn  # noqa: B018  (writes are waiting: the connection is not handed out as is)
            conn = await uow.connection()
            raw = (await conn.get_raw_connection()).driver_connection
            cur = await raw.execute("SELECT count(*) FROM companies WHERE org_id = %s", (org_id,))
            assert (await cur.fetchone())[0] == 1
    assert await _names(db, org_id) == ["Before Direct"]
