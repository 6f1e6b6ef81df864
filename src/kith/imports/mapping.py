"""Columns to fields: header matching (case, spaces and punctuation ignored; common aliases),
overrides, and turning a row's cells into the values the object's schema validates. Pure.

Rules:
- A column maps to a field when its normalised header equals the field's name, one of its
  aliases, or (custom fields) the field's name or label. ``mapping`` overrides win; a target of
  ``""`` or ``null`` ignores the column. A target that is neither a field of the object nor
  ``custom_fields.<name>`` of a defined custom field is an error before anything is read.
- Columns mapping to nothing are ignored (listed as ``ignored_columns``).
- An empty cell means "not given": on create the field takes its default, on update it is left
  as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from kith.core.errors import FieldError, ValidationFailed
from kith.customfields.model import Definition, FieldType

CUSTOM_PREFIX = "custom_fields."

ALIASES: dict[str, str] = {
    "e_mail": "email", "email_address": "email", "e_mail_address": "email", "mail": "email",
    "full_name": "name", "contact_name": "name", "contact": "name",
    "first": "first_name", "firstname": "first_name", "given_name": "first_name", "forename": "first_name",
    "last": "last_name", "lastname": "last_name", "surname": "last_name", "family_name": "last_name",
    "phone_number": "phone", "tel": "phone", "telephone": "phone", "work_phone": "phone",
    "mobile_phone": "mobile", "cell": "mobile", "cell_phone": "mobile", "mobile_number": "mobile",
    "job_title": "title", "position": "title",
    "score": "lead_score", "tag": "tags", "labels": "tags",
    "website_url": "website", "web": "website", "url": "website",
    "company_domain": "domain", "web_domain": "domain",
    "external_key": "external_key", "key": "external_key",
    "linkedin": "linkedin_url", "twitter": "twitter_handle",
}
# Extra aliases per object (what a column means depends on what is imported).
OBJECT_ALIASES: dict[str, dict[str, str]] = {
    "contacts": {"company": "company", "company_name": "company", "organization": "company",
                 "organisation": "company", "account": "company", "domain": "company_domain",
                 "company_domain": "company_domain"},
    "companies": {"company": "name", "company_name": "name", "organization": "name", "organisation": "name",
                  "account": "name", "account_name": "name", "employees": "employee_count",
                  "external_id": "external_id"},
    "leads": {"email": "contact_email", "contact_email": "contact_email", "name": "contact_name",
              "contact_name": "contact_name", "contact_phone": "contact_phone", "phone": "contact_phone"},
    "deals": {"name": "title", "deal_name": "title", "deal": "title", "value": "amount", "deal_value": "amount",
              "stage": "stage", "pipeline": "pipeline", "contact_email": "contact_email", "email": "contact_email",
              "company_domain": "company_domain", "domain": "company_domain", "close_date": "expected_close_date"},
}

_NORM_RE = re.compile(r"[^0-9a-z]+")


def norm(header: str) -> str:
    return _NORM_RE.sub("_", header.strip().lower()).strip("_")


@dataclass
class Plan:
    """Where each column goes: ``columns[i]`` is the field of column i, or None (ignored)."""

    columns: list[str | None]
    ignored: list[str] = field(default_factory=list)

    @property
    def fields(self) -> set[str]:
        return {c for c in self.columns if c is not None}


def plan(header: Sequence[str], obj: str, fields: Sequence[str], custom: Mapping[str, Definition],
         overrides: Mapping[str, str | None]) -> Plan:
    """Map ``header`` onto ``fields`` (+ custom fields); ValidationFailed for a bad override or a
    field named by two columns."""
    known = set(fields)
    aliases = {**ALIASES, **OBJECT_ALIASES.get(obj, {})}
    by_norm_override = {norm(k): v for k, v in overrides.items()}
    errors: list[FieldError] = []
    for column, target in overrides.items():
        if target and not _valid_target(target, known, custom):
            errors.append(FieldError(f"mapping.{column}", f"unknown field {target!r}; map to one of "
                                     f"{sorted(known)} or custom_fields.<name> of a defined custom field"))
        if norm(column) not in {norm(h) for h in header}:
            errors.append(FieldError(f"mapping.{column}", "no column of this name in the file's header"))
    columns: list[str | None] = []
    ignored: list[str] = []
    for h in header:
        n = norm(h)
        if n in by_norm_override:
            target = by_norm_override[n] or None
        elif n in known:
            target = n
        elif n in aliases and aliases[n] in known:
            target = aliases[n]
        else:
            target = _custom_target(n, custom)
        if target is None:
            ignored.append(h)
        columns.append(target)
    seen: dict[str, str] = {}
    for h, target in zip(header, columns, strict=True):
        if target is None:
            continue
        if target in seen:
            errors.append(FieldError(f"mapping.{h}", f"columns {seen[target]!r} and {h!r} both map to {target!r}"))
        seen[target] = h
    if errors:
        raise ValidationFailed("the column mapping is invalid", errors=errors)
    return Plan(columns, ignored)


def _valid_target(target: str, known: set[str], custom: Mapping[str, Definition]) -> bool:
    if target.startswith(CUSTOM_PREFIX):
        return target[len(CUSTOM_PREFIX):] in custom
    return target in known


def _custom_target(n: str, custom: Mapping[str, Definition]) -> str | None:
    for name in custom:
        if n == name:
            return CUSTOM_PREFIX + name
    return None


def parse_overrides(raw: str | Mapping[str, Any] | Sequence[str] | None) -> dict[str, str | None]:
    """``mapping`` as JSON ``{column: field}`` (API) or ``["Column=field", …]`` (CLI ``--map``)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValidationFailed("mapping is not JSON", errors=[FieldError("mapping", "must be a JSON object "
                                   "{\"column\": \"field\"}")]) from None
    if isinstance(raw, Mapping):
        bad = [k for k, v in raw.items() if not isinstance(k, str) or not (v is None or isinstance(v, str))]
        if bad:
            raise ValidationFailed("mapping values must be field names",
                                   errors=[FieldError(f"mapping.{k}", "must be a field name or null") for k in bad])
        return {k: v for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        out: dict[str, str | None] = {}
        for item in raw:
            if not isinstance(item, str) or "=" not in item:
                raise ValidationFailed("a --map is COLUMN=field",
                                       errors=[FieldError("mapping", f"{item!r} is not COLUMN=field")])
            col, _, target = item.rpartition("=")
            out[col.strip()] = target.strip() or None
        return out
    raise ValidationFailed("mapping must be a JSON object", errors=[FieldError("mapping", "must be an object")])


# --- cell values ------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "t", "on", "x"}
_FALSE = {"false", "no", "n", "0", "f", "off"}


def text(value: Any) -> str:
    """A cell as text: XLSX numbers without a spurious ``.0``, dates as ISO."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def boolean(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    t = text(value).strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return t  # left for the schema to refuse with its own message


def split_list(value: Any) -> list[str]:
    t = text(value)
    sep = ";" if ";" in t else ","
    return [p.strip() for p in t.split(sep) if p.strip()]


def aware(value: Any) -> Any:
    """XLSX datetimes are naive: read them as UTC. Text goes to the schema as it is."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return text(value)


def custom_value(defn: Definition, value: Any) -> Any:
    t = defn.type
    if t is FieldType.NUMBER:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        s = text(value).strip().replace(",", ".") if text(value).count(",") == 1 and "." not in text(value) \
            else text(value).strip()
        try:
            n = float(s)
        except ValueError:
            return s  # refused by the field's own validation ("must be a JSON number")
        return int(n) if n.is_integer() and "." not in s and "e" not in s.lower() else n
    if t is FieldType.BOOLEAN:
        return boolean(value)
    if t is FieldType.MULTI_SELECT:
        return split_list(value)
    if t is FieldType.DATE and isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return text(value)
