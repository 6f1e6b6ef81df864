"""What each importable object is: its table, the schemas that validate a row (the API's own),
the fields a column may map to, the unique fields a row may be matched on, and how cell text
becomes a typed value. Pure data plus small pure helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from kith.companies.schemas import CompanyCreate, CompanyPatch, normalise_domain
from kith.companies.tables import companies
from kith.contacts.schemas import ContactCreate, ContactPatch
from kith.contacts.tables import contacts
from kith.core.errors import FieldError, ValidationFailed
from kith.core.validate import normalise_email
from kith.deals.schemas import DealCreate, DealPatch
from kith.deals.tables import deals
from kith.imports import mapping as m
from kith.leads.schemas import LeadCreate, LeadPatch
from kith.leads.tables import leads

OBJECTS = ("contacts", "companies", "leads", "deals")
MODES = ("create", "update", "upsert")


def _strip(v: str) -> str:
    return v.strip()


@dataclass(frozen=True)
class Spec:
    name: str  # contacts
    kind: str  # contact: record type, event noun, custom-field object, permission resource
    table: sa.Table
    create: type[BaseModel]
    patch: type[BaseModel]
    unique: tuple[str, ...]  # unique columns among live records (matched with one IN query each)
    default_match: str
    required: tuple[str, ...]  # create needs one of these columns
    extras: tuple[str, ...] = ()  # mapped fields that are not columns (links)
    ints: frozenset[str] = frozenset()
    bools: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    jsons: frozenset[str] = frozenset()
    datetimes: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    # Set once the row is validated, whatever the file says (leads: a new lead starts "new").
    fixed: tuple[tuple[str, Any], ...] = ()

    @property
    def soft_deletes(self) -> bool:
        return "deleted_at" in self.table.c

    @property
    def has_tags(self) -> bool:
        return "tags" in self.table.c

    @property
    def custom_object(self) -> str | None:
        """The object's custom fields (``kith.customfields``), when it has any."""
        return self.kind if self.kind in ("contact", "company") else None

    @property
    def fields(self) -> tuple[str, ...]:
        names = [f for f in self.create.model_fields if f not in self.excluded and f != "custom_fields"]
        return ("id", *names, *self.extras)

    @property
    def matchable(self) -> tuple[str, ...]:
        return ("id", *self.unique)

    def normalise(self, field: str) -> Callable[[str], str]:
        return NORMALISERS.get(field, _strip)

    def cell(self, field: str, value: Any) -> Any:
        """A non-empty cell as the value the schema validates."""
        if field in self.ints:
            t = m.text(value).strip()
            try:
                return int(t)
            except ValueError:
                return t
        if field in self.bools:
            return m.boolean(value)
        if field in self.lists:
            return m.split_list(value)
        if field in self.jsons:
            try:
                return __import__("json").loads(m.text(value))
            except ValueError:
                return m.text(value)
        if field in self.datetimes:
            return m.aware(value)
        return m.text(value)


NORMALISERS: dict[str, Callable[[str], str]] = {"email": normalise_email, "domain": normalise_domain}

SPECS: dict[str, Spec] = {
    "contacts": Spec(
        name="contacts", kind="contact", table=contacts, create=ContactCreate, patch=ContactPatch,
        unique=("email", "external_user_id"), default_match="email", required=("name", "first_name", "last_name"),
        extras=("company", "company_domain"),
        ints=frozenset({"lead_score"}), bools=frozenset({"automation_enabled"}), lists=frozenset({"tags"}),
        jsons=frozenset({"metadata"}), datetimes=frozenset({"last_engagement_at", "last_contacted_at"}),
        # manager_id names another contact by id: not something a spreadsheet carries.
        excluded=frozenset({"manager_id"}),
    ),
    "companies": Spec(
        name="companies", kind="company", table=companies, create=CompanyCreate, patch=CompanyPatch,
        unique=("domain", "external_id"), default_match="domain", required=("name",),
        ints=frozenset({"employee_count"}), lists=frozenset({"tags"}), jsons=frozenset({"metadata"}),
    ),
    # A lead names its person by ``contact_email``: an existing contact of the org (import contacts first).
    "leads": Spec(
        name="leads", kind="lead", table=leads, create=LeadCreate, patch=LeadPatch,
        unique=("external_key",), default_match="external_key", required=("contact_email",),
        extras=("contact_email",), ints=frozenset({"score"}), jsons=frozenset({"payload"}),
        excluded=frozenset({"contact", "contact_id"}),
    ),
    # Deals have no key of the integrator's own: they are created, or updated matched on their id.
    # Pipeline and stage by name (default: the default pipeline's first open stage); the contact by
    # email, the company by domain. Stage moves and closing go through their verbs, not an import.
    "deals": Spec(
        name="deals", kind="deal", table=deals, create=DealCreate, patch=DealPatch,
        unique=(), default_match="id", required=("title",),
        extras=("pipeline", "stage", "amount", "currency", "contact_email", "company_domain"),
        ints=frozenset({"probability"}), lists=frozenset({"tags"}), jsons=frozenset({"metadata"}),
        excluded=frozenset({"value", "line_items", "contacts", "pipeline_id", "stage_id", "price_list_id",
                            "contact_id", "company_id"}),
    ),
}


def spec_for(obj: str) -> Spec:
    s = SPECS.get(obj)
    if s is None:
        raise ValidationFailed(f"cannot import {obj!r}", errors=[FieldError(
            "object", f"must be one of {list(OBJECTS)}")])
    return s


def check_options(spec: Spec, mode: str, match: str | None) -> str:
    """The match field to use; ValidationFailed naming ``mode`` or ``match`` when invalid."""
    if mode not in MODES:
        raise ValidationFailed(f"unknown mode {mode!r}", errors=[FieldError("mode", f"must be one of {list(MODES)}")])
    chosen = match or spec.default_match
    if chosen not in spec.matchable:
        raise ValidationFailed(f"cannot match {spec.name} on {chosen!r}", errors=[FieldError(
            "match", f"must be one of {list(spec.matchable)} for {spec.name}")])
    return chosen


def check_columns(spec: Spec, mode: str, match: str, mapped: set[str]) -> None:
    """The columns the mode needs are in the file."""
    errors: list[FieldError] = []
    if mode in ("update", "upsert") and match not in mapped:
        errors.append(FieldError(match, f"mode {mode} matches rows on {match!r}: the file needs a column for it"))
    if mode in ("create", "upsert") and not mapped.intersection(spec.required):
        errors.append(FieldError(spec.required[0], f"a required column is missing: the file needs a "
                                 f"{' or '.join(repr(r) for r in spec.required)} column to create {spec.name}"))
    if errors:
        raise ValidationFailed("the file lacks required columns", errors=errors)
