"""``Prepared``'s executemany parameters, built column by column (``params_many``), are exactly the
row-by-row ``params`` on both dialects, whatever repeats between rows (the same timestamp object,
``None``, equal but distinct dicts) — it only skips processing a value that is the very object of
the row before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from kith.core.db import JSONType, _json_dumps, prepared_insert
from kith.leads.tables import leads

DIALECTS = {"sqlite": sqlite.pysqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}
for d in DIALECTS.values():
    d._json_serializer = _json_dumps  # as the engines set it

T0 = datetime(2026, 1, 1, tzinfo=UTC)
stamps = st.one_of(st.just(T0), st.integers(0, 10**9).map(lambda s: T0 + timedelta(seconds=s)))
payloads = st.one_of(st.just({}), st.dictionaries(st.text(max_size=3), st.integers(-(2**63), 2**63 - 1), max_size=2))
KEYS = ("org_id", "id", "contact_id", "title", "score", "payload", "created_at", "updated_at", "converted_at")


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    shared_payload, shared_stamp = draw(payloads), draw(stamps)
    n = draw(st.integers(1, 6))
    return [{"org_id": "org_1", "id": f"lead_{i}", "contact_id": "contact_1", "title": draw(st.text(max_size=4)),
             "score": draw(st.integers(0, 100)),
             "payload": draw(st.one_of(st.just(shared_payload), payloads)),
             "created_at": draw(st.one_of(st.just(shared_stamp), stamps)),
             "updated_at": shared_stamp, "converted_at": draw(st.one_of(st.none(), stamps))} for i in range(n)]


def plain(params: list[Any]) -> str:
    return repr(params)  # psycopg's Jsonb wrappers compare by identity; their repr shows the value


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@settings(max_examples=150, deadline=None)
@given(rows=batches())
def test_params_many_is_params_of_each_row(dialect: str, rows: list[dict[str, Any]]) -> None:
    c = prepared_insert(leads, KEYS).compiled(DIALECTS[dialect])
    assert plain(c.params_many(rows)) == plain([c.params(r) for r in rows])


def test_json_type_is_processed() -> None:
    """The property above would be vacuous if nothing had a processor."""
    c = prepared_insert(leads, KEYS).compiled(DIALECTS["sqlite"])
    assert any(fn is not None for _, fn in c.binds) and JSONType is not None
