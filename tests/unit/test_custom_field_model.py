"""The custom field model (kith.customfields.model) without a database: names, options, and the
value validator, with property tests over generated values."""

from __future__ import annotations

import math
import string
from datetime import date
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kith.core.errors import ValidationFailed
from kith.customfields import sql
from kith.customfields.model import (
    MAX_NUMBER,
    MAX_TEXT,
    RESERVED_PARAMS,
    Definition,
    FieldType,
    check_name,
    check_options,
    clean,
    filter_value,
    fits_cursor,
    merge,
    removed_options,
)

OPTIONS = ("free", "pro", "enterprise")
DEFS = {t: Definition(f"f_{t.value}", t, OPTIONS if t in (FieldType.SELECT, FieldType.MULTI_SELECT) else ())
        for t in FieldType}

storable_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=MAX_TEXT)
numbers = st.integers(min_value=-MAX_NUMBER, max_value=MAX_NUMBER) | st.floats(
    min_value=-MAX_NUMBER, max_value=MAX_NUMBER, allow_nan=False, allow_infinity=False)
dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
emails = st.from_regex(r"\A[a-zA-Z0-9._%+-]{1,20}@[a-zA-Z0-9-]{1,20}\.[a-zA-Z]{2,6}\Z")
urls = st.from_regex(r"\Ahttps?://[a-zA-Z0-9./?=&_-]{1,100}\Z")

VALID: dict[FieldType, st.SearchStrategy[Any]] = {
    FieldType.TEXT: storable_text,
    FieldType.NUMBER: numbers,
    FieldType.DATE: dates,
    FieldType.BOOLEAN: st.booleans(),
    FieldType.URL: urls,
    FieldType.EMAIL: emails,
    FieldType.SELECT: st.sampled_from(OPTIONS),
    FieldType.MULTI_SELECT: st.lists(st.sampled_from(OPTIONS), max_size=6),
}
any_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                     max_size=3), max_leaves=6)
typed = st.sampled_from(list(FieldType)).flatmap(lambda t: st.tuples(st.just(t), VALID[t]))


# --- values ----------------------------------------------------------------------------------------

@given(typed)
def test_every_valid_value_is_accepted_and_canonical(case: tuple[FieldType, Any]) -> None:
    t, value = case
    stored = clean(DEFS[t], value)
    assert clean(DEFS[t], stored) == stored  # canonical: cleaning again changes nothing
    if stored is not None:
        assert fits_cursor(DEFS[t], stored) or t is FieldType.MULTI_SELECT


@given(st.sampled_from(list(FieldType)), any_json)
def test_the_validator_accepts_or_refuses_with_a_message_never_crashes(t: FieldType, value: Any) -> None:
    try:
        stored = clean(DEFS[t], value)
    except ValueError as exc:
        assert str(exc)
        return
    assert stored is None or clean(DEFS[t], stored) == stored


@given(numbers)
def test_a_number_is_stored_as_an_int_exactly_when_it_is_integral(n: int | float) -> None:
    stored = clean(DEFS[FieldType.NUMBER], n)
    assert stored == n
    assert isinstance(stored, int) == (float(n).is_integer())


@given(st.integers(min_value=MAX_NUMBER + 1) | st.integers(max_value=-MAX_NUMBER - 1)
       | st.floats(min_value=MAX_NUMBER * 1.01) | st.sampled_from([math.nan, math.inf, -math.inf]))
def test_a_number_out_of_range_or_not_finite_is_refused(n: int | float) -> None:
    with pytest.raises(ValueError):
        clean(DEFS[FieldType.NUMBER], n)


@given(st.sampled_from([t for t in FieldType if t is not FieldType.BOOLEAN]), st.booleans())
def test_a_boolean_is_only_a_boolean(t: FieldType, b: bool) -> None:
    if t is FieldType.MULTI_SELECT:
        b_value: Any = [b]
    else:
        b_value = b
    with pytest.raises(ValueError):
        clean(DEFS[t], b_value)


@given(storable_text)
def test_text_is_trimmed_and_blank_text_is_no_value(text: str) -> None:
    stored = clean(DEFS[FieldType.TEXT], text)
    assert stored == (text.strip() or None)


@given(st.text(min_size=1, max_size=30))
def test_only_the_options_are_select_values(text: str) -> None:
    defn = DEFS[FieldType.SELECT]
    if text.strip() in OPTIONS:
        assert clean(defn, text) == text.strip()
    elif text.strip():
        with pytest.raises(ValueError):
            clean(defn, text)


@given(st.lists(st.sampled_from(OPTIONS)))
def test_a_multi_select_value_keeps_distinct_options_in_the_order_given(chosen: list[str]) -> None:
    stored = clean(DEFS[FieldType.MULTI_SELECT], chosen)
    assert stored == (list(dict.fromkeys(chosen)) or None)


@pytest.mark.parametrize(("text", "ok"), [
    ("2024-02-29", True), ("2023-02-29", False), ("0001-01-01", True), ("9999-12-31", True),
    ("2024-1-01", False), ("20240101", False), ("2024-W01-1", False), ("2024-01-01T00:00", False),
    ("2024-13-01", False), ("", True),
])
def test_dates_are_calendar_days_in_one_format(text: str, ok: bool) -> None:
    if ok:
        assert clean(DEFS[FieldType.DATE], text) == (text or None)
    else:
        with pytest.raises(ValueError):
            clean(DEFS[FieldType.DATE], text)


@pytest.mark.parametrize("value", ["x\x00y", "\ud800"])
@pytest.mark.parametrize("t", [FieldType.TEXT, FieldType.URL, FieldType.SELECT])
def test_text_no_database_can_store_is_refused(t: FieldType, value: str) -> None:
    with pytest.raises(ValueError):
        clean(DEFS[t], value)


# --- merge -----------------------------------------------------------------------------------------

@given(st.dictionaries(st.sampled_from([d.name for d in DEFS.values()]), st.none()),
       st.dictionaries(st.text(min_size=1, max_size=10), any_json, min_size=1, max_size=4))
def test_unknown_names_are_all_refused_and_named(current_nulls: dict[str, None], patch: dict[str, Any]) -> None:
    known = {d.name for d in DEFS.values()}
    assume(not set(patch) & known)
    defs = {d.name: d for d in DEFS.values()}
    with pytest.raises(ValidationFailed) as exc:
        merge(defs, {}, {**current_nulls, **patch})
    assert {e.field for e in exc.value.errors} == {f"custom_fields.{k[:80]}" for k in patch}


@given(typed, typed)
def test_merge_applies_a_patch_key_by_key_and_never_mutates_the_current_values(
        a: tuple[FieldType, Any], b: tuple[FieldType, Any]) -> None:
    defs = {d.name: d for d in DEFS.values()}
    current = {DEFS[a[0]].name: clean(DEFS[a[0]], a[1])}
    current = {k: v for k, v in current.items() if v is not None}
    frozen = dict(current)
    name = DEFS[b[0]].name
    out = merge(defs, current, {name: b[1]})
    assert current == frozen
    stored = clean(DEFS[b[0]], b[1])
    assert out.get(name) == stored
    assert all(out[k] == v for k, v in current.items() if k != name)
    assert None not in out.values()


def test_null_removes_a_key_and_a_required_key_cannot_be_removed() -> None:
    defs = {"plan": Definition("plan", FieldType.SELECT, OPTIONS, required=True),
            "seats": Definition("seats", FieldType.NUMBER)}
    assert merge(defs, {"plan": "pro", "seats": 3}, {"seats": None}) == {"plan": "pro"}
    for empty in (None, "", "  "):
        with pytest.raises(ValidationFailed) as exc:
            merge(defs, {"plan": "pro"}, {"plan": empty})
        assert [e.field for e in exc.value.errors] == ["custom_fields.plan"]


def test_a_create_demands_every_required_field_and_reports_all_problems_at_once() -> None:
    defs = {"plan": Definition("plan", FieldType.SELECT, OPTIONS, required=True),
            "region": Definition("region", FieldType.TEXT, required=True),
            "seats": Definition("seats", FieldType.NUMBER)}
    with pytest.raises(ValidationFailed) as exc:
        merge(defs, {}, {"seats": "x", "other": 1}, require_all=True)
    assert sorted(e.field for e in exc.value.errors) == [
        "custom_fields.other", "custom_fields.plan", "custom_fields.region", "custom_fields.seats"]
    assert merge(defs, {}, {"plan": "pro", "region": "emea"}, require_all=True) == {"plan": "pro", "region": "emea"}
    assert merge(defs, {}, {}, require_all=False) == {}


# --- filters and cursors ---------------------------------------------------------------------------

@given(typed)
def test_a_filter_written_as_text_finds_the_stored_value(case: tuple[FieldType, Any]) -> None:
    t, value = case
    stored = clean(DEFS[t], value)
    assume(stored is not None)
    if t is FieldType.MULTI_SELECT:
        for option in stored:
            assert filter_value(DEFS[t], option) == option
        return
    raw = ("true" if stored else "false") if t is FieldType.BOOLEAN else repr(stored) if t is FieldType.NUMBER \
        else stored
    assume(not (t is FieldType.NUMBER and len(raw) > 40))
    assume(t is not FieldType.TEXT or raw.strip() == raw)
    assert filter_value(DEFS[t], raw) == stored


@pytest.mark.parametrize(("t", "raw"), [
    (FieldType.NUMBER, "nan"), (FieldType.NUMBER, "inf"), (FieldType.NUMBER, "1e400"), (FieldType.NUMBER, "0x10"),
    (FieldType.NUMBER, "1_000"), (FieldType.NUMBER, " "), (FieldType.BOOLEAN, "1"), (FieldType.BOOLEAN, "yes"),
    (FieldType.DATE, "2024-02-30"), (FieldType.SELECT, "gold"), (FieldType.MULTI_SELECT, "gold"),
    (FieldType.TEXT, ""), (FieldType.EMAIL, "nobody"),
])
def test_a_filter_value_that_cannot_match_is_refused(t: FieldType, raw: str) -> None:
    with pytest.raises(ValueError):
        filter_value(DEFS[t], raw)


@pytest.mark.parametrize(("t", "value", "fits"), [
    (FieldType.NUMBER, 3, True), (FieldType.NUMBER, 2.5, True), (FieldType.NUMBER, True, False),
    (FieldType.NUMBER, "3", False), (FieldType.NUMBER, 10**30, False), (FieldType.BOOLEAN, False, True),
    (FieldType.BOOLEAN, 0, False), (FieldType.TEXT, "a", True), (FieldType.TEXT, 1, False),
    (FieldType.DATE, [1], False), (FieldType.SELECT, None, True),
])
def test_a_cursor_value_must_be_of_the_fields_type(t: FieldType, value: Any, fits: bool) -> None:
    assert fits_cursor(DEFS[t], value) is fits


# --- names and options ------------------------------------------------------------------------------

names = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=64)


@given(names)
def test_a_snake_case_name_is_accepted_unless_reserved(name: str) -> None:
    builtin = {"email", "stage", "tag"}
    bad = not name[0].isalpha() or name in RESERVED_PARAMS or name in builtin
    if bad:
        with pytest.raises(ValueError):
            check_name(name, builtin)
    else:
        check_name(name, builtin)


@pytest.mark.parametrize("name", ["", "Plan", "plan-x", "plan.x", "pläne", "p" * 65, "1st", "_x", "a b", "a'b"])
def test_other_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name, set())


def test_the_reserved_list_parameters_cover_the_http_layers() -> None:
    from kith.http.deps import RESERVED

    assert RESERVED <= RESERVED_PARAMS


@given(st.lists(st.text(max_size=10), max_size=5))
def test_options_are_refused_on_types_without_options(options: list[str]) -> None:
    for t in (FieldType.TEXT, FieldType.NUMBER, FieldType.BOOLEAN):
        if options:
            with pytest.raises(ValueError):
                check_options(t, options)
        else:
            assert check_options(t, options) == ()


def test_select_options_are_required_trimmed_and_distinct() -> None:
    assert check_options(FieldType.SELECT, [" a ", "b"]) == ("a", "b")
    for bad in ([], None, ["a", "a"], ["a", " a"], [""], ["x" * 101], [f"o{i}" for i in range(201)]):
        with pytest.raises(ValueError):
            check_options(FieldType.MULTI_SELECT, bad)
    assert removed_options(["a", "b", "c"], ["c", "a", "d"]) == ("b",)


# --- index names --------------------------------------------------------------------------------

@given(names.filter(lambda n: n[0].isalpha()), st.sampled_from(["contacts", "companies"]),
       st.sampled_from(list(FieldType)))
def test_index_names_fit_postgresql_and_are_recognised(name: str, table: str, t: FieldType) -> None:
    ix = sql.index_name(table, name, t)
    assert len(ix) <= 63 and sql.is_custom_field_index(ix)
    from kith.search.ddl import include_name

    assert include_name(ix, "index", {}) is False


def test_distinct_fields_get_distinct_indexes() -> None:
    long = "a" * 64
    seen = {sql.index_name(tb, n, t) for tb in ("contacts", "companies") for n in (long, long[:-1] + "b", "plan")
            for t in (FieldType.TEXT, FieldType.MULTI_SELECT)}
    assert len(seen) == 12
    assert sql.index_name("contacts", "plan", FieldType.TEXT) == sql.index_name("contacts", "plan", FieldType.NUMBER)


def test_only_validated_names_reach_sql() -> None:
    import sqlalchemy as sa

    t = sa.table("contacts", sa.column("custom_fields"))
    with pytest.raises(AssertionError):
        sql.value(t, "x'); DROP TABLE contacts; --", "sqlite")
