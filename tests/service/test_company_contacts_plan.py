"""A company's contacts are read from its links, not by walking the org's contacts in name order."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from kith.companies import service as companies
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from tests.conftest import Org


async def test_the_contacts_of_a_company_are_read_through_its_links(db: Database, org: Org) -> None:
    if db.backend != "sqlite":
        pytest.skip("the plan checked is SQLite's (the planner that chose the name index at 100k contacts)")
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "FROM contact_companies JOIN contacts" in statement:
            captured.append((statement, params))

    engine = db.sync_engine if db.sync_engine is not None else db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        uow = UnitOfWork(db)
        async with uow.transaction():
            assert await companies.contacts_of(uow, org.id, "company_missing") == []
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    assert len(captured) == 1
    statement, params = captured[0]
    async with db.engine.connect() as conn:
        plan = [r[-1] for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", tuple(params))]
    assert plan[0].startswith("SEARCH contact_companies USING") and "ix_contact_companies_company" in plan[0], plan
    assert not any("ix_contacts_name" in step for step in plan), plan
