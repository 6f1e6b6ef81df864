"""Custom field definition request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from kith.customfields.model import MAX_OPTION_LENGTH, MAX_OPTIONS, NAME_PATTERN, FieldType
from kith.records.schemas import Strict

ObjectName = Literal["contact", "company"]
FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN, description=(
    "The key in the record's `custom_fields` and the list parameter (`?<name>=…`, `sort=<name>`): "
    "snake_case, 1–64 characters; not a built-in field or filter of the object, nor "
    "`limit`, `cursor`, `sort`, `q`, `include`."))]
Label = Annotated[str, Field(min_length=1, max_length=200)]
Option = Annotated[str, Field(min_length=1, max_length=MAX_OPTION_LENGTH)]
Options = Annotated[list[Option], Field(max_length=MAX_OPTIONS, description=(
    "The choices of a select or multi_select field (1–200, distinct); refused for other types."))]
Description = Annotated[str, Field(max_length=2000)]

_TYPES = ("`text` (≤2000 characters), `number` (a JSON number, |x| ≤ 10^15), `date` (`YYYY-MM-DD`), "
          "`boolean`, `url` (http/https), `email` (stored lower-cased), `select` (one of `options`), "
          "`multi_select` (a list of distinct `options`).")


class CustomFieldCreate(Strict):
    object: ObjectName = Field(description="The object whose records carry the field.")
    name: FieldName
    label: Label = Field(description="What people see, e.g. `Plan`.")
    type: FieldType = Field(description=_TYPES)
    options: Options | None = None
    required: StrictBool = Field(False, description=(
        "Required on create (through the create route) and never removable; records that existed "
        "before the field became required keep no value until edited."))
    description: Description | None = None


class CustomFieldPatch(Strict):
    """`label`, `options`, `required` and `description` change; `object`, `name` and `type` do not
    (a different value answers 409)."""

    label: Label | None = None
    options: Options | None = Field(None, description=(
        "The new list of choices: options may be added or reordered; removing one that a record (also "
        "in the trash) still holds answers 409 naming it."))
    required: StrictBool | None = None
    description: Description | None = None
    object: ObjectName | None = Field(None, description="Immutable: a different value answers 409.")
    name: FieldName | None = Field(None, description="Immutable: a different value answers 409.")
    type: FieldType | None = Field(None, description="Immutable: a different value answers 409.")


class CustomFieldOut(BaseModel):
    id: str
    object: ObjectName
    name: str
    label: str
    type: FieldType
    options: list[str]
    required: bool
    description: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class CustomFieldList(BaseModel):
    data: list[CustomFieldOut]
    next_cursor: str | None = Field(None, description="Always null: an org has at most 100 fields per object.")
