"""Which fields a rule's conditions may test, per record type: read off the records' API output
schemas, so a field added to a record becomes testable without touching this slice.

Custom fields are added per org (``custom_fields.<name>``) by the service from the org's definitions.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from kith.activities.schemas import ActivityOut
from kith.automations.model import FieldSpec, Kind
from kith.companies.schemas import CompanyOut
from kith.contacts.schemas import ContactOut
from kith.deals.schemas import DealOut
from kith.leads.schemas import LeadOut

# Record types rules can read (the noun of the trigger's event type) and their output schemas.
SCHEMAS: dict[str, type[BaseModel]] = {
    "contact": ContactOut, "company": CompanyOut, "deal": DealOut, "lead": LeadOut, "activity": ActivityOut}
# Expansions that are not fields of the record itself (filled only with ?include=…).
_SKIP = frozenset({"companies", "visitors", "contacts", "line_items", "activities", "deals"})

# custom field type -> kind
CUSTOM_KINDS = {"text": Kind.STRING, "url": Kind.STRING, "email": Kind.STRING, "select": Kind.STRING,
                "number": Kind.NUMBER, "date": Kind.DATETIME, "boolean": Kind.BOOLEAN, "multi_select": Kind.LIST}


def _strip_optional(t: Any) -> Any:
    args = typing.get_args(t)
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else Any
    return t


def spec_of(annotation: Any) -> FieldSpec:
    t = _strip_optional(annotation)
    origin = typing.get_origin(t)
    if origin is Literal:
        return FieldSpec(Kind.ENUM, tuple(str(a) for a in typing.get_args(t)))
    if origin is typing.Annotated:
        return spec_of(typing.get_args(t)[0])
    if origin in (list, tuple, set):
        return FieldSpec(Kind.LIST)
    if origin is dict or t is dict:
        return FieldSpec(Kind.OBJECT)
    if t is bool:
        return FieldSpec(Kind.BOOLEAN)
    if t in (int, float, Decimal):
        return FieldSpec(Kind.NUMBER)
    if t in (datetime, date):
        return FieldSpec(Kind.DATETIME)
    if t is str:
        return FieldSpec(Kind.STRING)
    return FieldSpec(Kind.ANY)


def _fields(schema: type[BaseModel], prefix: str = "") -> dict[str, FieldSpec]:
    found: dict[str, FieldSpec] = {}
    for name, info in schema.model_fields.items():
        if name in _SKIP:
            continue
        t = _strip_optional(info.annotation)
        if isinstance(t, type) and issubclass(t, BaseModel):
            found.update(_fields(t, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = spec_of(info.annotation)
    return found


RECORD_FIELDS: dict[str, dict[str, FieldSpec]] = {noun: _fields(s) for noun, s in SCHEMAS.items()}
RECORD_FIELDS["deal"]["value.amount"] = FieldSpec(Kind.NUMBER)  # a decimal string in the output


def noun_of(event_type: str) -> str:
    return event_type.split(".", 1)[0]


def base_fields(event_type: str) -> dict[str, FieldSpec] | None:
    """The testable fields of the trigger's record (``None``: the trigger has no readable record)."""
    found = RECORD_FIELDS.get(noun_of(event_type))
    return dict(found) if found is not None else None


def with_custom(fields: dict[str, FieldSpec], custom: dict[str, str]) -> dict[str, FieldSpec]:
    """``fields`` plus ``custom_fields.<name>`` for each custom field (name -> type)."""
    extra = {f"custom_fields.{n}": FieldSpec(CUSTOM_KINDS.get(t, Kind.ANY)) for n, t in custom.items()}
    return {**fields, **extra}
