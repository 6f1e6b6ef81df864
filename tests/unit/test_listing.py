"""Keyset pagination helpers (kith.core.listing): cursors round-trip exactly, tampered cursors are
refused, sort parsing names the field."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from kith.core.db import UTCDateTime
from kith.core.errors import BadRequest, ValidationFailed
from kith.core.listing import ListQuery, decode_cursor, encode_cursor, keyset, page, parse_sort

aware = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1),
                     timezones=st.sampled_from([UTC, __import__("zoneinfo").ZoneInfo("Asia/Kolkata")]))
values = st.one_of(
    st.text(max_size=100),
    st.integers(min_value=-(2**53), max_value=2**53),
    aware,
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**12, max_value=10**12),
)
sorts = st.sampled_from(["name", "-name", "created_at", "-created_at", "lead_score", "-id"])
record_ids = st.text(min_size=1, max_size=40)


@given(sorts, values, record_ids)
def test_a_cursor_round_trips_exactly(sort: str, value: Any, last_id: str) -> None:
    cursor = encode_cursor(sort, value, last_id)
    assert len(cursor) <= 2000 or len(str(value)) > 300
    assert all(c.isalnum() or c in "-_" for c in cursor)  # url-safe, no padding
    got_value, got_id = decode_cursor(cursor, sort)
    assert got_id == last_id
    assert got_value == value and type(got_value) is type(value)
    if isinstance(value, datetime):
        assert got_value.utcoffset() == value.utcoffset()


@given(sorts, sorts, values, record_ids)
def test_a_cursor_is_refused_for_another_sort(made_for: str, used_with: str, value: Any, last_id: str) -> None:
    cursor = encode_cursor(made_for, value, last_id)
    if made_for == used_with:
        decode_cursor(cursor, used_with)
    else:
        with pytest.raises(BadRequest):
            decode_cursor(cursor, used_with)


def _raw(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "!!!", "a", "not a cursor", _raw({"sort": "name"}), _raw(["name", "x"]), _raw(["name", "x", "y", "z"]),
    _raw(["name", "x", 7]), _raw(["name", "x", None]), _raw(["name", {"t": "2024-01-01T00:00:00"}, "id"]),
    _raw(["name", {"t": "not a date"}, "id"]), _raw(["name", {"d": "not a number"}, "id"]),
    base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(), "A" * 2001,
])
def test_a_tampered_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_cursor(cursor, "name")
    assert info.value.status == 400
    assert info.value.errors[0].field == "cursor"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode()
    try:
        value, last_id = decode_cursor(cursor, "name")
    except BadRequest:
        return
    assert isinstance(last_id, str)


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_decoder(cursor: str) -> None:
    try:
        decode_cursor(cursor, "-created_at")
    except BadRequest:
        pass


def test_a_flipped_byte_does_not_decode_to_another_valid_position() -> None:
    cursor = encode_cursor("name", "Ada", "contact_01")
    changed = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    try:
        value, last_id = decode_cursor(changed, "name")
    except BadRequest:
        return
    assert (value, last_id) != ("Ada", "contact_01")


@pytest.mark.parametrize("sort, expected", [
    ("name", ("name", False)), ("-name", ("name", True)), ("+lead_score", ("lead_score", False)),
    ("-created_at", ("created_at", True)),
])
def test_parse_sort(sort: str, expected: tuple[str, bool]) -> None:
    assert parse_sort(sort, ("name", "lead_score", "created_at")) == expected


@pytest.mark.parametrize("sort", ["phone", "", "-", "name;drop table contacts", "--name"])
def test_parse_sort_refuses_unknown_fields(sort: str) -> None:
    if sort == "--name":  # lstrip takes both dashes; still a known field, descending
        assert parse_sort(sort, ("name",)) == ("name", True)
        return
    with pytest.raises(ValidationFailed) as info:
        parse_sort(sort, ("name",))
    assert info.value.errors[0].field == "sort"


def test_page_sets_a_cursor_only_when_there_is_more() -> None:
    rows = [{"id": f"c{i}", "name": f"n{i}"} for i in range(4)]
    q = ListQuery(limit=3, sort="name")
    full = page(rows, q, "name")
    assert [r["id"] for r in full.data] == ["c0", "c1", "c2"]
    assert full.next_cursor is not None
    assert decode_cursor(full.next_cursor, "name") == ("n2", "c2")
    last = page(rows[:3], q, "name")
    assert len(last.data) == 3 and last.next_cursor is None
    assert page([], q, "name") == page([], q, "name") and page([], q, "name").next_cursor is None


t = sa.Table("things", sa.MetaData(), sa.Column("id", sa.String), sa.Column("name", sa.String),
             sa.Column("score", sa.Integer), sa.Column("at", UTCDateTime()))


@pytest.mark.parametrize("col, value", [
    (t.c.score, "high"), (t.c.score, None), (t.c.score, True), (t.c.score, 1.5), (t.c.score, 2**31),
    (t.c.score, -(2**31) - 1), (t.c.name, 5), (t.c.name, None),
    (t.c.at, 5), (t.c.at, "2024-01-01"), (t.c.at, Decimal("1")),
])
def test_keyset_refuses_a_cursor_value_of_the_wrong_kind(col: sa.Column[Any], value: Any) -> None:
    sort = col.name
    cursor = _raw([sort, {"t": value.isoformat()} if isinstance(value, datetime) else
                   ({"d": str(value)} if isinstance(value, Decimal) else value), "id1"])
    with pytest.raises(BadRequest):
        keyset(sa.select(t), sort_col=col, id_col=t.c.id, query=ListQuery(cursor=cursor, sort=sort),
               sort_name=sort, desc=False)


@pytest.mark.parametrize("col, value", [
    (t.c.score, 5), (t.c.score, 2**31 - 1), (t.c.score, -(2**31)), (t.c.name, "Ada"),
    (t.c.at, datetime(2024, 1, 1, tzinfo=UTC) + timedelta(microseconds=7)),
])
def test_keyset_accepts_a_cursor_it_made(col: sa.Column[Any], value: Any) -> None:
    sort = f"-{col.name}"
    cursor = encode_cursor(sort, value, "id1")
    stmt = keyset(sa.select(t), sort_col=col, id_col=t.c.id, query=ListQuery(limit=10, cursor=cursor, sort=sort),
                  sort_name=col.name, desc=True)
    sql = str(stmt.compile(compile_kwargs={"literal_binds": False}))
    assert "ORDER BY things." + col.name + " DESC, things.id DESC" in sql
    assert "LIMIT" in sql
