"""The import readers and the column mapping: encodings, delimiters, formulas, huge rows, headers."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.core.errors import ValidationFailed
from kith.customfields.model import Definition, FieldType
from kith.imports import mapping, readers
from kith.imports.objects import SPECS


def write(tmp_path: Path, content: bytes, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def data_rows(path: Path) -> list[list[object]]:
    _, it = readers.read_header(path)
    return [r[1] for r in it if not isinstance(r, readers.BadRow)]


ENCODED = [
    pytest.param("utf-8", b"", id="utf-8"),
    pytest.param("utf-8", codecs.BOM_UTF8, id="utf-8-bom"),
    pytest.param("cp1252", b"", id="windows-1252"),
    pytest.param("latin-1", b"", id="latin-1"),
    pytest.param("utf-16", b"", id="utf-16-bom"),
]


@pytest.mark.parametrize(("encoding", "prefix"), ENCODED)
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_encodings_and_delimiters_users_send_are_detected(tmp_path: Path, encoding: str, prefix: bytes,
                                                          delimiter: str) -> None:
    text = delimiter.join(["Name", "City"]) + "\r\n" + delimiter.join(["José Müller", "Zürich"]) + "\r\n"
    path = write(tmp_path, prefix + text.encode(encoding))
    header, it = readers.read_header(path)
    assert header == ["Name", "City"]
    assert [r[1] for r in it if not isinstance(r, readers.BadRow)] == [["José Müller", "Zürich"]]


def test_row_numbers_are_spreadsheet_rows_and_blank_lines_are_not_rows(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n1,2\n\n3,4\n")
    _, it = readers.read_header(path)
    assert [(n, cells) for n, cells in it] == [(2, ["1", "2"]), (4, ["3", "4"])]  # type: ignore[misc]


def test_formulas_are_text_never_evaluated(tmp_path: Path) -> None:
    path = write(tmp_path, b'name,notes\nA,=1+2\nB,"=HYPERLINK(""http://x"")"\nC,+1\nD,-1\nE,@x\n')
    assert [r[1] for r in data_rows(path)] == ["=1+2", '=HYPERLINK("http://x")', "+1", "-1", "@x"]


def test_a_huge_row_is_a_row_error_and_reading_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_CELL_CHARS", 1000)
    path = write(tmp_path, b"name,notes\nA,short\nB," + b"x" * 5000 + b"\nC,after\n")
    _, it = readers.read_header(path)
    items = list(it)
    bad = [i for i in items if isinstance(i, readers.BadRow)]
    assert len(bad) == 1 and "longer than" in bad[0].message
    assert [i[1][0] for i in items if not isinstance(i, readers.BadRow)] == ["A", "C"]


FILE_PROBLEMS = [
    pytest.param(b"", "empty", id="zero-bytes"),
    pytest.param(b"\n\n", "no header", id="blank"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", id="png"),
    pytest.param(b"PK\x03\x04\x14\x00\x00\x00", "damaged or truncated", id="truncated-xlsx"),
]


@pytest.mark.parametrize(("content", "words"), FILE_PROBLEMS)
def test_unreadable_files_raise_a_clear_file_problem(tmp_path: Path, content: bytes, words: str) -> None:
    with pytest.raises(readers.FileProblem, match=words):
        readers.read_header(write(tmp_path, content))


def test_a_truncated_real_xlsx_is_reported(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for i in range(200):
        ws.append([f"name {i}", f"n{i}@example.com"])
    buf = io.BytesIO()
    wb.save(buf)
    path = write(tmp_path, buf.getvalue()[: len(buf.getvalue()) // 2], "t.xlsx")
    with pytest.raises(readers.FileProblem, match="damaged or truncated"):
        data_rows(path)


# --- hypothesis: any text cell survives a CSV round trip through the reader ----------------------------

cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=30)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=8),
       delimiter=st.sampled_from([",", ";", "\t"]), bom=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-16"]))
def test_csv_round_trip_of_arbitrary_text_cells(tmp_path: Path, rows: list[list[str]], delimiter: str, bom: bool,
                                                encoding: str) -> None:
    rows = [r for r in rows if any(c.strip() for c in r)]  # blank lines are not rows
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_ALL)
    writer.writerow(["a", "b", "c"])
    writer.writerows(rows)
    raw = buf.getvalue().encode(encoding)
    if bom and encoding == "utf-8":
        raw = codecs.BOM_UTF8 + raw
    path = write(tmp_path, raw)
    assert data_rows(path) == rows


# --- mapping ----------------------------------------------------------------------------------------------

CONTACT_FIELDS = SPECS["contacts"].fields


@pytest.mark.parametrize(("header", "field"), [
    ("E-mail", "email"), (" EMAIL ", "email"), ("Email Address", "email"), ("First Name", "first_name"),
    ("Surname", "last_name"), ("Job Title", "title"), ("Company", "company"), ("Domain", "company_domain"),
    ("Lead Score", "lead_score"), ("Phone Number", "phone"),
])
def test_headers_map_case_and_space_insensitively_with_aliases(header: str, field: str) -> None:
    plan = mapping.plan([header], "contacts", CONTACT_FIELDS, {}, {})
    assert plan.columns == [field]


def test_overrides_win_and_null_ignores_a_column() -> None:
    plan = mapping.plan(["Mail", "Name", "Junk"], "contacts", CONTACT_FIELDS, {},
                        mapping.parse_overrides(["Mail=email", "Name="]))
    assert plan.columns == ["email", None, None] and plan.ignored == ["Name", "Junk"]


def test_custom_fields_map_by_name_or_explicitly() -> None:
    custom = {"plan": Definition("plan", FieldType.TEXT)}
    plan = mapping.plan(["Plan", "Tier"], "contacts", CONTACT_FIELDS, custom, {"Tier": None})
    assert plan.columns == ["custom_fields.plan", None]
    with pytest.raises(ValidationFailed) as exc:
        mapping.plan(["Tier"], "contacts", CONTACT_FIELDS, custom, {"Tier": "custom_fields.nope"})
    assert exc.value.errors[0].field == "mapping.Tier"


def test_two_columns_for_one_field_is_an_error() -> None:
    with pytest.raises(ValidationFailed) as exc:
        mapping.plan(["Email", "E-mail"], "contacts", CONTACT_FIELDS, {}, {})
    assert "both map to 'email'" in exc.value.errors[0].message


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("Yes", True), ("0", False), ("no", False), (True, True), ("maybe", "maybe")])
def test_booleans(raw: object, expected: object) -> None:
    assert mapping.boolean(raw) == expected


def test_custom_numbers_accept_a_decimal_comma() -> None:
    d = Definition("seats", FieldType.NUMBER)
    assert mapping.custom_value(d, "12") == 12
    assert mapping.custom_value(d, "1,5") == 1.5
    assert mapping.custom_value(d, 3.0) == 3.0
    assert mapping.custom_value(d, "abc") == "abc"  # refused later by the field's own validation
