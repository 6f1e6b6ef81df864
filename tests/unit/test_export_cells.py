"""Export cells (kith.exports.model): the CSV-injection guard and value formatting, as properties."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kith.exports.model import FORMULA_START, MAX_CELL, escape_formula, text_cell, xlsx_cell


@given(st.text(max_size=200))
def test_no_text_cell_starts_like_a_formula_and_the_text_is_kept(text: str) -> None:
    cell = text_cell(text)
    assert not cell.startswith(FORMULA_START)
    assert cell == ("'" + text if text.startswith(FORMULA_START) else text)


@given(st.lists(st.lists(st.one_of(st.none(), st.text(max_size=40), st.integers(), st.booleans()), max_size=6),
                max_size=6))
def test_cells_survive_a_csv_round_trip(rows: list[list[object]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([[text_cell(v) for v in row] for row in rows])
    back = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert back == [[text_cell(v) for v in row] for row in rows]


def test_every_formula_start_is_escaped() -> None:
    for first in ("=", "+", "-", "@", "\t", "\r"):
        assert escape_formula(first + "1+1") == "'" + first + "1+1"
    assert escape_formula("a=1") == "a=1" and escape_formula("") == ""


def test_values_kith_writes_itself_are_not_escaped() -> None:
    assert text_cell(Decimal("-12.50")) == "-12.50" and text_cell(-3) == "-3"
    assert text_cell(True) == "true" and text_cell(None) == ""
    assert text_cell(date(2026, 1, 2)) == "2026-01-02"
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert text_cell(at) == "2026-01-02T01:04:05+00:00"
    assert text_cell(["vip", "beta"]) == "vip;beta" and text_cell(["=x", "y"]) == "'=x;y"
    assert text_cell({"b": 1, "a": "=x"}) == '{"a": "=x", "b": 1}'


def test_xlsx_cells_keep_types_drop_illegal_characters_and_fit_a_cell() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert xlsx_cell(at) == datetime(2026, 1, 2, 3, 4, 5) and xlsx_cell(5) == 5
    assert xlsx_cell(Decimal("1.50")) == Decimal("1.50") and xlsx_cell(None) is None
    assert xlsx_cell("a\x00b\x1fc\td") == "abc\td" and xlsx_cell("=1") == "'=1"
    assert len(xlsx_cell("x" * 40_000)) == MAX_CELL
