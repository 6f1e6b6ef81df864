"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kith.analytics.tables import FORECAST_INDEX
from kith.core.db import sync_url
from kith.search.ddl import include_name
from kith.tables import metadata


# The forecast's index is on a per-backend expression, made by its migration (0025), not declared:
# SQLAlchemy warns that it cannot reflect it, and include_name leaves it out of the comparison.
@pytest.mark.filterwarnings(f"ignore:Skipped unsupported reflection of expression-based index {FORECAST_INDEX}")
def test_migrated_schema_matches_the_tables_in_code(db_url: str) -> None:
    engine = sa.create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}), metadata)
    finally:
        engine.dispose()
    assert diff == [], f"write a migration for: {diff}"


def test_the_forecast_index_is_made_on_either_backend(db_url: str) -> None:
    engine = sa.create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"),
                                   {"n": FORECAST_INDEX}).scalar_one()
                assert "substr(expected_close_date, 1, 7)" in sql
            else:
                sql = conn.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                                   {"n": FORECAST_INDEX}).scalar_one()
                assert "date_trunc('month'" in sql and "INCLUDE" in sql
            assert "deleted_at IS NULL" in sql
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from kith.core.db import Database
    from kith.core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'wal.db'}"
    upgrade(url)

    async def pragmas() -> tuple[str, int]:
        db = Database(url)
        async with db.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        await db.dispose()
        return mode, fks

    assert asyncio.run(pragmas()) == ("wal", 1)


def test_an_analysed_sqlite_database_gets_statistics_for_the_forecast_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without them SQLite's planner overrates the new index: rep-performance's closed-deal scan took
    it (a table lookup per deal) instead of its covering index, ~10× slower at 300k deals."""
    from alembic import command

    from kith.core import migrate

    url = f"sqlite:///{tmp_path / 'k.db'}"
    command.upgrade(migrate.alembic_config(url), "0024")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:  # one live deal (foreign keys are off on this plain engine)
            cols = [(r[1], r[2]) for r in conn.exec_driver_sql("PRAGMA table_info(deals)") if r[3] and r[4] is None]
            values = {name: (0 if "INT" in type_.upper() else "2026-01-01") for name, type_ in cols}
            names = ", ".join(values)
            conn.execute(sa.text(f"INSERT INTO deals ({names}) VALUES ({', '.join(':' + n for n in values)})"), values)
            conn.exec_driver_sql("ANALYZE")
        migrate.upgrade(url)
        with engine.connect() as conn:
            stat = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE idx = ?", (FORECAST_INDEX,)).all()
        assert len(stat) == 1, stat
    finally:
        engine.dispose()
