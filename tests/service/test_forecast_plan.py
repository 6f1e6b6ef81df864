"""The forecast reads its groups from ix_deals_analytics_month in group order: no sort of the deals.

Before migration 0025 the index held the close date, and both databases sorted every open and won
deal by the computed month (~240,000 rows at 300,000 deals, over the 500 ms aim). The query must
name the month exactly as the index does (constants inline), else the planner cannot match them.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from kith.analytics import repo
from kith.analytics.repo import Scope
from kith.analytics.tables import FORECAST_INDEX
from kith.core.db import Database, sync_url
from tests.conftest import Org

SCOPES = {
    "all time": lambda org_id: Scope(org_id),
    "a window": lambda org_id: Scope(org_id, start=date(2026, 1, 15), end=date(2026, 3, 31)),
    "a team": lambda org_id: Scope(org_id, visible=frozenset({"user_x", "user_y"})),
    "one owner": lambda org_id: Scope(org_id, owner_id="user_x"),
    "one pipeline": lambda org_id: Scope(org_id, pipeline_id="pipe_x"),
}


@pytest.mark.parametrize("which", sorted(SCOPES))
async def test_the_forecast_groups_in_index_order(db: Database, db_url: str, org: Org, which: str) -> None:
    query = repo.forecast_query(SCOPES[which](org.id), db.backend)
    engine = sa.create_engine(sync_url(db_url))
    try:
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            if db.backend == "sqlite":
                plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
                assert any(f"COVERING INDEX {FORECAST_INDEX}" in step for step in plan), plan
                if which != "one owner":  # SQLite sorts one owner's groups (a twentieth of the deals, say)
                    assert not any("TEMP B-TREE" in step for step in plan), plan
            else:
                # a test database is tiny: forbid the full scan and the sort, so the plan shows
                # whether the index can serve the GROUP BY at all (it cannot if the expressions differ)
                conn.exec_driver_sql("SET enable_seqscan = off")
                conn.exec_driver_sql("SET enable_sort = off")
                conn.exec_driver_sql("SET enable_hashagg = off")
                plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}")]
                text = "\n".join(plan)
                assert f"Index Only Scan using {FORECAST_INDEX}" in text, text
                assert "Sort" not in text, text
    finally:
        engine.dispose()
