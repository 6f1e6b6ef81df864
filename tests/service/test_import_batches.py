"""The import engine in-process: batches, resume after a crash, duplicates across batches, a fixed
number of statements per batch, events, revert of typed columns, and bounded memory."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.companies.tables import companies
from kith.contacts.tables import contacts
from kith.core.db import Database
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.imports import engine, model, service
from kith.imports.tables import import_changes, imports
from tests.conftest import Org


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def people(n: int, start: int = 0) -> list[list[Any]]:
    return [["name", "email", "lead_score"], *([f"Person {i}", f"p{i}@example.com", i % 100]
                                               for i in range(start, start + n))]


async def count(db: Database, table: sa.Table, *where: Any) -> int:
    uow = UnitOfWork(db)
    async with uow.transaction():
        return int((await uow.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one())


async def go(db: Database, org: Org, path: Path, **kw: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"obj": "contacts", "mode": "create", "match": None, "overrides": {}, "dry_run": False}
    opts.update(kw)
    return await service.run_local(db, Actor.system(org.id), path=path, **opts)


async def test_rows_go_in_by_batches_and_duplicates_across_batches_are_caught(
        db: Database, org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "BATCH_ROWS", 3)
    rows = people(7)
    rows.append(["Again", "p1@example.com", 1])  # batch 3 repeats row 3's email (batch 1)
    result = await go(db, org, write_csv(tmp_path / "p.csv", rows))
    assert (result["status"], result["rows_done"], result["created"], result["errors"]) == ("done", 8, 7, 1)
    imp = await service.get_import(UnitOfWork(db), Actor.system(org.id), result["id"])
    assert imp["errors"] == [{"row": 9, "field": "email",
                              "message": "duplicate email 'p1@example.com' in the file: row 3 already imported it"}]
    assert await count(db, contacts, contacts.c.org_id == org.id) == 7


async def test_an_import_killed_mid_way_leaves_whole_batches_and_a_rerun_completes_it(
        db: Database, org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "BATCH_ROWS", 4)
    path = write_csv(tmp_path / "p.csv", people(10))
    real = engine.Runner.commit
    calls = {"n": 0}

    async def dying(self: engine.Runner, items: list[Any], rows_done: int) -> engine.Batch:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies inside the second batch
        return await real(self, items, rows_done)

    monkeypatch.setattr(engine.Runner, "commit", dying)
    with pytest.raises(KeyboardInterrupt):
        await go(db, org, path)
    assert await count(db, contacts, contacts.c.org_id == org.id) == 4  # batch 1 only, whole
    uow = UnitOfWork(db)
    async with uow.transaction():
        (status, done), = (await uow.execute(sa.select(imports.c.status, imports.c.rows_done))).all()
    assert (status, done) == ("running", 4)

    monkeypatch.setattr(engine.Runner, "commit", real)
    result = await go(db, org, path)  # the same file again: resumes the unfinished import
    assert result["id"] and (result["status"], result["rows_done"], result["created"]) == ("done", 10, 10)
    assert await count(db, contacts, contacts.c.org_id == org.id) == 10
    assert await count(db, imports) == 1


async def test_a_batch_costs_the_same_statements_whatever_its_size(db: Database, org: Org, tmp_path: Path) -> None:
    def statements(db: Database) -> list[str]:
        seen: list[str] = []
        engine_ = db.sync_engine or db.engine.sync_engine
        sa.event.listen(engine_, "before_cursor_execute", lambda *a: seen.append(a[2]))
        return seen

    seen = statements(db)
    await go(db, org, write_csv(tmp_path / "a.csv", people(20)))
    small = len(seen)
    seen.clear()
    await go(db, org, write_csv(tmp_path / "b.csv", people(400, start=1000)))
    assert len(seen) == small


async def test_small_imports_write_an_event_per_record_large_ones_only_the_summary(
        db: Database, org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await go(db, org, write_csv(tmp_path / "a.csv", people(3)))
    assert await count(db, events, events.c.type == "contact.created") == 3
    monkeypatch.setattr(model, "RECORD_EVENTS_MAX_ROWS", 5)
    result = await go(db, org, write_csv(tmp_path / "b.csv", people(6, start=100)))
    assert result["record_events"] is False
    assert await count(db, events, events.c.type == "contact.created") == 3
    assert await count(db, events, events.c.type == "import.completed") == 2


async def test_revert_restores_typed_company_columns_and_removes_created_ones(
        db: Database, org: Org, tmp_path: Path) -> None:
    from decimal import Decimal

    from kith.companies import service as company_service
    from kith.companies.schemas import CompanyCreate

    actor = Actor.system(org.id)
    acme = await company_service.create_company(UnitOfWork(db), actor, CompanyCreate(
        name="Acme", domain="acme.dev", deal_value=Decimal("1234.50"), stage="lead", tags=["a"]))
    rows = [["name", "domain", "deal_value", "stage", "tags"], ["Acme Inc", "acme.dev", "99", "Customer", "b;c"],
            ["Globex", "globex.com", "10.5", "", ""]]
    result = await go(db, org, write_csv(tmp_path / "c.csv", rows), obj="companies", mode="upsert")
    assert (result["created"], result["updated"], result["errors"]) == (1, 1, 0), result
    after = await company_service.get_company(UnitOfWork(db), actor, acme["id"])
    assert (after["name"], after["deal_value"], after["stage"], after["tags"]) == (
        "Acme Inc", Decimal("99.00"), "Customer", ["b", "c"])
    await service.revert(UnitOfWork(db), actor, result["id"])
    back = await company_service.get_company(UnitOfWork(db), actor, acme["id"])
    assert (back["name"], back["deal_value"], back["stage"], back["tags"]) == ("Acme", Decimal("1234.50"), "Lead",
                                                                              ["a"])
    assert back["version"] == 3
    assert await count(db, companies, companies.c.org_id == org.id) == 1
    assert await count(db, import_changes) == 0


async def test_a_50k_row_import_runs_in_bounded_memory(db: Database, org: Org, tmp_path: Path,
                                                       db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("memory is the engine's, not the backend's: measured once, on SQLite")
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "email", "title", "notes"])
        for i in range(50_000):
            w.writerow([f"Person {i}", f"p{i}@example.com", "Engineer", "x" * 200])
    tracemalloc.start()
    try:
        result = await go(db, org, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result["status"], result["created"]) == ("done", 50_000)
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
