"""Custom fields: the types an admin may define per object, the name rules, and value validation.
Pure; no I/O.

Invariants this module keeps:
- A field's ``name`` is its key in every record's ``custom_fields`` object and its list parameter
  (``?plan=pro``, ``sort=-plan``): 1–64 characters, a lower-case letter then lower-case letters,
  digits or underscores; never a built-in field, filter or list parameter of its object.
- ``object``, ``name`` and ``type`` of a definition never change: the stored values, the list
  parameter and the database index all hang on them.
- ``options`` exist exactly for select and multi_select: 1–200 distinct, trimmed, non-empty
  strings of at most 100 characters.
- A stored value is canonical for its type (``clean``): text and url trimmed, email lower-cased,
  a number an ``int`` when it is integral, a date ``YYYY-MM-DD``, a select value one of the
  options, a multi_select value the distinct chosen options in the order given. An empty value
  (``null``, ``""``, ``[]``) is never stored: writing one removes the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from kith.core.errors import FieldError, ValidationFailed
from kith.core.validate import check_storable, normalise_email


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    URL = "url"
    EMAIL = "email"
    SELECT = "select"
    MULTI_SELECT = "multi_select"


OBJECTS: tuple[str, ...] = ("contact", "company")
WITH_OPTIONS = frozenset({FieldType.SELECT, FieldType.MULTI_SELECT})

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)
# List parameters of every record list (kith.http.deps.RESERVED, a test keeps them in step), plus
# words with a meaning in list URLs: ``sort=relevance``, ``?permanent=`` on delete.
RESERVED_PARAMS = frozenset({"limit", "cursor", "sort", "q", "include", "relevance", "permanent"})

MAX_FIELDS_PER_OBJECT = 100  # each field is a database index on the object's table: keep writes cheap
MAX_TEXT = 2000
MAX_URL = 2000
MAX_OPTIONS = 200
MAX_OPTION_LENGTH = 100
# Numbers are JSON numbers up to 10^15 in magnitude: exact as integers in both databases, in
# JavaScript clients (2^53 ≈ 9·10^15) and in the cursor.
MAX_NUMBER = 10**15

_URL_RE = re.compile(r"^https?://\S+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER_RE = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Definition:
    """What validation, filters and sorting need of one custom field."""

    name: str
    type: FieldType
    options: tuple[str, ...] = ()
    required: bool = False

    @property
    def sortable(self) -> bool:
        return self.type is not FieldType.MULTI_SELECT


# --- definitions ---------------------------------------------------------------------------------

def check_name(name: str, builtin: Collection[str]) -> None:
    """Raise ``ValueError`` unless ``name`` may name a new custom field next to ``builtin`` (the
    object's own fields and filters)."""
    if not _NAME_RE.match(name):
        raise ValueError("a custom field name is 1 to 64 characters: a lower-case letter, then lower-case "
                         "letters, digits or underscores (snake_case)")
    if name in RESERVED_PARAMS:
        raise ValueError(f"{name!r} is a list parameter; choose another name")
    if name in builtin:
        raise ValueError(f"{name!r} is a built-in field or filter of this object; choose another name")


def check_options(type_: FieldType, options: Sequence[str] | None) -> tuple[str, ...]:
    """The options of a field of ``type_``: required (and distinct) for select types, refused elsewhere."""
    if type_ not in WITH_OPTIONS:
        if options:
            raise ValueError(f"only select and multi_select fields have options, not {type_.value}")
        return ()
    if not options:
        raise ValueError(f"a {type_.value} field needs at least one option")
    cleaned = tuple(o.strip() for o in options)
    if len(cleaned) > MAX_OPTIONS:
        raise ValueError(f"at most {MAX_OPTIONS} options")
    for option in cleaned:
        if not option or len(option) > MAX_OPTION_LENGTH:
            raise ValueError(f"an option is 1 to {MAX_OPTION_LENGTH} characters")
        check_storable(option)
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("list each option once")
    return cleaned


def removed_options(old: Iterable[str], new: Iterable[str]) -> tuple[str, ...]:
    kept = set(new)
    return tuple(o for o in old if o not in kept)


# --- values --------------------------------------------------------------------------------------

def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    check_storable(value)
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text or None


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if abs(value) > MAX_NUMBER:
        raise ValueError(f"must be between -{MAX_NUMBER:.0e} and {MAX_NUMBER:.0e}")
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 40.0 and 40 are one value: stored, compared and sorted alike
    return value


def _date(value: Any) -> str | None:
    text = _text(value, 10)
    if text is None:
        return None
    if not _DATE_RE.match(text):
        raise ValueError("must be a date: YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a real calendar date (YYYY-MM-DD)") from None
    return text


def _option(defn: Definition, value: Any) -> str | None:
    text = _text(value, MAX_OPTION_LENGTH)
    if text is not None and text not in defn.options:
        raise ValueError(f"must be one of {list(defn.options)}")
    return text


def _options(defn: Definition, value: Any) -> list[str] | None:
    if not isinstance(value, list):
        raise ValueError(f"must be a list of options from {list(defn.options)}")
    chosen = [_option(defn, v) for v in value]
    if any(c is None for c in chosen):
        raise ValueError("an option cannot be empty")
    distinct = list(dict.fromkeys(c for c in chosen if c is not None))
    return distinct or None


def clean(defn: Definition, value: Any) -> Any:
    """``value`` in its canonical stored form, ``None`` when it is empty (the key is removed);
    ``ValueError`` with a message for the caller when it is not a value of the field's type."""
    if value is None:
        return None
    t = defn.type
    if t is FieldType.TEXT:
        return _text(value, MAX_TEXT)
    if t is FieldType.NUMBER:
        return _number(value)
    if t is FieldType.DATE:
        return _date(value)
    if t is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if t is FieldType.URL:
        url = _text(value, MAX_URL)
        if url is not None and not _URL_RE.match(url):
            raise ValueError("must be an http:// or https:// URL without spaces")
        return url
    if t is FieldType.EMAIL:
        email = _text(value, 320)
        return None if email is None else normalise_email(email)
    if t is FieldType.SELECT:
        return _option(defn, value)
    return _options(defn, value)


def _field(name: str) -> str:
    return f"custom_fields.{name[:80]}"


def merge(defs: Mapping[str, Definition], current: Mapping[str, Any], patch: Mapping[str, Any], *,
          require_all: bool = False) -> dict[str, Any]:
    """``current`` with ``patch`` applied key by key (a null or empty value removes the key), every
    written key validated against ``defs``. ``require_all`` (a create) also demands every required
    field. All problems are reported at once, as ``ValidationFailed`` naming ``custom_fields.<name>``."""
    out = dict(current)
    errors: list[FieldError] = []
    for name, raw in patch.items():
        defn = defs.get(name)
        if defn is None:
            errors.append(FieldError(_field(name), "no custom field of this name is defined for this object "
                                                   "(GET /api/v1/custom-fields lists them)"))
            continue
        try:
            value = clean(defn, raw)
        except ValueError as exc:
            errors.append(FieldError(_field(name), str(exc)))
            continue
        if value is not None:
            out[name] = value
        elif defn.required:
            errors.append(FieldError(_field(name), "is required and cannot be removed"))
        else:
            out.pop(name, None)
    if require_all:
        errors += [FieldError(_field(n), "is required") for n, d in defs.items()
                   if d.required and n not in out and n not in patch]
    if errors:
        names = ", ".join(e.field for e in errors)
        raise ValidationFailed(f"invalid custom fields: {names}", errors=errors)
    return out


# --- lists ---------------------------------------------------------------------------------------

def filter_value(defn: Definition, raw: str) -> Any:
    """The value a list filter ``?<name>=<raw>`` compares with (for multi_select: the option the
    record must hold); ``ValueError`` when ``raw`` cannot be a value of the field."""
    text = raw.strip()
    if not text:
        raise ValueError("give a value to filter by")
    parsed: Any = text
    if defn.type is FieldType.NUMBER:
        if len(text) > 40 or not _NUMBER_RE.match(text):
            raise ValueError("must be a number")
        parsed = float(text) if any(c in text for c in ".eE") else int(text)
    elif defn.type is FieldType.BOOLEAN:
        if text.lower() not in {"true", "false"}:
            raise ValueError("must be true or false")
        parsed = text.lower() == "true"
    elif defn.type is FieldType.MULTI_SELECT:
        return _option(defn, text)
    return clean(defn, parsed)


def fits_cursor(defn: Definition, value: Any) -> bool:
    """Whether a value decoded from a cursor can be a sort value of ``defn`` (``None``: the cursor
    stands among the records without a value)."""
    if value is None:
        return True
    if defn.type is FieldType.NUMBER:
        return not isinstance(value, bool) and isinstance(value, int | float) and abs(value) <= MAX_NUMBER
    if defn.type is FieldType.BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, str)
