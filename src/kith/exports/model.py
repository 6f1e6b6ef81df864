"""What an export file holds, without I/O: the objects and formats offered, how a value becomes a
cell, and the CSV-injection guard.

Invariants:
- Every text cell that a spreadsheet would read as a formula (first character ``= + - @``, or a
  tab / carriage return that some spreadsheets strip before looking) is prefixed with ``'``, in CSV
  and XLSX alike (OWASP "CSV injection"). Numbers, booleans and dates are written by Kith itself,
  never from user text, so they are left as they are (a negative amount stays a number).
- A cell never holds a character XLSX cannot store (control characters are dropped there) and
  never more than a spreadsheet cell holds (32,767 characters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_767  # Excel's limit on the characters of one cell
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what openpyxl refuses to write
LIST_SEPARATOR = ";"


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        if self is Format.CSV:
            return "text/csv; charset=utf-8"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


OBJECTS: tuple[str, ...] = ("contacts", "companies", "deals", "leads", "activities", "tickets")


def escape_formula(text: str) -> str:
    """``=SUM(A1)`` → ``'=SUM(A1)``: the cell is shown as text, never evaluated."""
    return "'" + text if text.startswith(FORMULA_START) else text


def text_cell(value: Any) -> str:
    """A value as CSV text: empty for null, ``true``/``false``, ISO 8601 for times (UTC), lists
    joined with ``;``, objects as JSON; anything that came from user text guarded against formulas."""
    plain = _plain(value)
    if isinstance(value, str | list | tuple | dict):
        plain = escape_formula(plain)
    return plain[:MAX_CELL]


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(_plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def xlsx_cell(value: Any) -> Any:
    """A value for an XLSX cell: numbers, booleans and dates stay typed (times as naive UTC, the
    only kind a spreadsheet stores); text as in CSV, without the control characters XLSX refuses."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return _utc(value).replace(tzinfo=None)
    if isinstance(value, date):
        return value
    return _XLSX_ILLEGAL.sub("", text_cell(value))


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def row_values(row: Mapping[str, Any], builtin: Sequence[str], custom: Sequence[str]) -> list[Any]:
    """The row's values in header order: built-in columns, then custom fields by name."""
    fields = row.get("custom_fields") or {}
    return [row.get(c) for c in builtin] + [fields.get(c) for c in custom]


def filename(object_: str, fmt: Format, at: datetime) -> str:
    """``contacts-20261203-1405.csv``: what the download is saved as."""
    return f"{object_}-{_utc(at).strftime('%Y%m%d-%H%M%S')}.{fmt.value}"
