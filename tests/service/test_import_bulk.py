"""The import engine's bulk path (kith.imports.bulk): COPY on PostgreSQL writes exactly what an
INSERT would, a clash inside a COPY aborts the whole batch, key lookups probe the (org, key)
index with one statement per batch, and a growing table's statistics are refreshed."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.companies import service as company_service
from kith.contacts.tables import contacts
from kith.core.db import Database
from kith.core.errors import Conflict
from kith.core.uow import UnitOfWork
from kith.imports import bulk, engine, model, service
from kith.imports.tables import import_changes, imports
from tests.conftest import Org


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


async def go(db: Database, org: Org, path: Path, **kw: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"obj": "contacts", "mode": "create", "match": None, "overrides": {}, "dry_run": False}
    opts.update(kw)
    return await service.run_local(db, Actor.system(org.id), path=path, **opts)


def capture(db: Database) -> list[str]:
    seen: list[str] = []
    sa.event.listen(db.sync_engine or db.engine.sync_engine, "before_cursor_execute",
                    lambda *a: seen.append(a[2]))
    return seen


async def scalar(db: Database, stmt: Any) -> Any:
    uow = UnitOfWork(db)
    async with uow.transaction():
        return (await uow.execute(stmt)).scalar_one()


async def test_copied_rows_read_back_exactly_as_inserted_ones(db: Database, org: Org, tmp_path: Path) -> None:
    """Money, JSON, lists, booleans, datetimes and NULLs survive the COPY path (more rows than
    ``COPY_MIN_ROWS``) exactly as the executemany path (a one-row import) stores them."""
    head = ["name", "domain", "deal_value", "employee_count", "tags", "metadata", "notes"]
    row = ["Acme {}", "acme{}.dev", "1234.5", "12", "b;a;b", '{"k": [1, "x"], "n": null}', ""]
    many = [head, *([c.format(i) if "{}" in c else c for c in row] for i in range(bulk.COPY_MIN_ROWS + 4))]
    one = [head, [c.format("single") if "{}" in c else c for c in row]]
    seen = capture(db)
    r1 = await go(db, org, write_csv(tmp_path / "many.csv", many), obj="companies")
    r2 = await go(db, org, write_csv(tmp_path / "one.csv", one), obj="companies")
    assert (r1["created"], r2["created"]) == (bulk.COPY_MIN_ROWS + 4, 1)
    if db.backend == "postgresql":
        assert any(s.startswith("COPY companies") for s in seen)
    actor = Actor.system(org.id)
    page = await company_service.list_companies(UnitOfWork(db), actor, _all())
    by_name = {c["name"]: c for c in page.data}
    copied, inserted = by_name["Acme 3"], by_name["Acme single"]
    for c in (copied, inserted):
        assert (c["deal_value"], c["employee_count"], c["tags"], c["metadata"], c["notes"]) == (
            Decimal("1234.50"), 12, ["b", "a"], {"k": [1, "x"]}, None)  # merge-patch drops nulls
        assert c["created_at"].tzinfo is not None
    assert set(copied) == set(inserted)


def _all() -> Any:
    from kith.core.listing import ListQuery

    return ListQuery(limit=100)


async def test_contact_booleans_and_datetimes_round_trip_through_copy(db: Database, org: Org,
                                                                      tmp_path: Path) -> None:
    rows = [["name", "email", "automation_enabled", "last_contacted_at"],
            *([f"P{i}", f"p{i}@example.com", "no" if i % 2 else "yes", "2024-05-06T07:08:09+02:00"]
              for i in range(bulk.COPY_MIN_ROWS + 2))]
    await go(db, org, write_csv(tmp_path / "p.csv", rows))
    uow = UnitOfWork(db)
    async with uow.transaction():
        got = {r.email: (r.automation_enabled, r.last_contacted_at) for r in await uow.execute(
            sa.select(contacts.c.email, contacts.c.automation_enabled, contacts.c.last_contacted_at)
            .where(contacts.c.org_id == org.id))}
    when = datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC)
    assert got["p0@example.com"] == (True, when) and got["p1@example.com"] == (False, when)


async def test_a_clash_inside_a_copied_batch_aborts_that_whole_batch(
        db: Database, org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row the lookups did not foresee (as when another writer takes an email between a batch's
    lookup and its write) makes the unique index refuse the batch: none of its rows, nor its
    change log, nor its progress are in; the earlier batch stays, and a re-run completes it."""
    monkeypatch.setattr(model, "BATCH_ROWS", 20)
    rows = [["name", "email"], *([f"P{i}", f"p{i}@example.com"] for i in range(40))]
    path = write_csv(tmp_path / "p.csv", rows)
    real = engine.Runner.write
    calls = {"n": 0}

    async def racing(self: engine.Runner, uow: UnitOfWork, batch: engine.Batch) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            batch.creates[7] = {**batch.creates[7], "email": "p3@example.com"}  # batch 1 holds it
        await real(self, uow, batch)

    monkeypatch.setattr(engine.Runner, "write", racing)
    with pytest.raises(Conflict):
        await go(db, org, path)
    mine = contacts.c.org_id == org.id
    assert await scalar(db, sa.select(sa.func.count()).where(mine)) == 20
    assert await scalar(db, sa.select(sa.func.count()).select_from(import_changes)) == 20
    assert await scalar(db, sa.select(imports.c.rows_done)) == 20

    monkeypatch.setattr(engine.Runner, "write", real)
    result = await go(db, org, path)  # the same file again: resumes after batch 1
    assert (result["created"], result["errors"], result["rows_done"]) == (40, 0, 40)
    assert await scalar(db, sa.select(sa.func.count(sa.distinct(contacts.c.email))).where(mine)) == 40


async def test_a_batch_looks_each_key_up_with_one_statement_on_postgresql(
        db: Database, org: Org, tmp_path: Path) -> None:
    if db.backend != "postgresql":
        pytest.skip("SQLite runs in-process: IN lists of 1,000 are its fast path")
    rows = [["name", "email"], *([f"P{i}", f"p{i}@example.com"] for i in range(bulk.IN_CHUNK * 2 + 10))]
    seen = capture(db)
    await go(db, org, write_csv(tmp_path / "p.csv", rows))
    lookups = [s for s in seen if s.startswith("SELECT contacts.id")]
    assert len(lookups) == 2  # two batches of up to 2,000 keys; no external ids in the file: no lookup
    assert all("unnest" in s and " IN " not in s for s in lookups)


async def test_key_lookups_probe_the_org_key_index_once_statistics_are_fresh(
        db: Database, org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import refreshes its table's statistics as it grows, and the lookup then probes the
    (org, email) index per key instead of reading every contact of the org."""
    if db.backend != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    monkeypatch.setattr(bulk, "ANALYZE_FIRST_ROWS", 500)
    monkeypatch.setattr(model, "BATCH_ROWS", 300)
    n = 1500
    await go(db, org, write_csv(tmp_path / "p.csv", [["name", "email"],
                                                     *([f"P{i}", f"p{i}@example.com"] for i in range(n))]))
    tuples = await scalar(db, sa.text("SELECT reltuples FROM pg_class WHERE relname = 'contacts'"))
    assert tuples >= 1000  # analysed after 600 and 1,200 rows (batches of 300), not left as the template had it
    uow = UnitOfWork(db)
    async with uow.transaction():
        (q,) = bulk.keyed(uow, contacts, contacts.c.email, [contacts.c.id],
                          [f"p{i}@example.com" for i in range(0, n, 300)])
        q = q.where(contacts.c.org_id == org.id, contacts.c.deleted_at.is_(None))
        compiled = q.compile(dialect=uow.conn.dialect, compile_kwargs={"render_postcompile": True})
        raw: Any = (await uow.conn.get_raw_connection()).driver_connection
        plan = "\n".join(r[0] for r in await (await raw.execute("EXPLAIN " + compiled.string,
                                                                 compiled.params)).fetchall())
    assert "ux_contacts_email" in plan and "Seq Scan on contacts" not in plan, plan


async def test_small_batches_use_executemany_and_dry_runs_write_nothing(
        db: Database, org: Org, tmp_path: Path) -> None:
    seen = capture(db)
    rows = [["name", "email"], *([f"P{i}", f"p{i}@example.com"] for i in range(bulk.COPY_MIN_ROWS + 5))]
    result = await go(db, org, write_csv(tmp_path / "p.csv", rows), dry_run=True)
    assert (result["created"], result["errors"]) == (bulk.COPY_MIN_ROWS + 5, 0)  # would be created
    assert not [s for s in seen if s.startswith(("COPY", "INSERT INTO contacts", "INSERT INTO import_changes"))]
    seen.clear()
    await go(db, org, write_csv(tmp_path / "q.csv", rows[:3]))
    assert [s for s in seen if s.startswith("INSERT INTO contacts")] and not [s for s in seen if s.startswith("COPY")]
