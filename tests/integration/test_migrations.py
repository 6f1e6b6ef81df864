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
