"""The records rules act on, per noun: how to read one and how to change it — always through the
noun's own service (the same verbs the API uses, so permissions, rules, hooks and events apply)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from kith.activities import service as activities
from kith.activities.schemas import ActivityPatch
from kith.auth.model import Actor
from kith.companies import service as companies
from kith.companies.schemas import CompanyPatch
from kith.contacts import service as contacts
from kith.contacts.schemas import ContactPatch
from kith.core.uow import UnitOfWork
from kith.deals import service as deals
from kith.deals.schemas import DealPatch
from kith.leads import service as leads
from kith.leads.schemas import LeadPatch

Getter = Callable[[UnitOfWork, Actor, str], Awaitable[dict[str, Any]]]
Updater = Callable[[UnitOfWork, Actor, str, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Noun:
    name: str
    get: Getter
    patch: type[BaseModel]
    update: Updater
    has_tags: bool
    # Fields update_field may not set: they change only through verbs with rules of their own.
    locked: frozenset[str] = frozenset()


NOUNS: dict[str, Noun] = {
    "contact": Noun("contact", contacts.get_contact, ContactPatch, contacts.update_contact, True,
                    frozenset({"owner_id"})),
    "company": Noun("company", companies.get_company, CompanyPatch, companies.update_company, True,
                    frozenset({"owner_id"})),
    "deal": Noun("deal", deals.get_deal, DealPatch, deals.update_deal, True, frozenset({"owner_id", "line_items"})),
    "lead": Noun("lead", leads.get_lead, LeadPatch, leads.update_lead, False),
    "activity": Noun("activity", activities.get_activity, ActivityPatch, activities.update_activity, False),
}

# link field a new activity gets for each noun the trigger's record can be
ACTIVITY_LINK = {"contact": "contact_id", "company": "company_id", "deal": "deal_id", "lead": "lead_id"}


def owner_of(noun: str, record: dict[str, Any] | None) -> str | None:
    """Who a record belongs to: its owner; for an activity, who must do it (else who logged it)."""
    if not record:
        return None
    if noun == "activity":
        return record.get("assignee_id") or record.get("actor_id")
    owner = record.get("owner_id")
    return str(owner) if owner else None


def contact_id_of(noun: str, record: dict[str, Any] | None) -> str | None:
    if not record:
        return None
    value = record.get("id") if noun == "contact" else record.get("contact_id")
    return str(value) if value else None


def company_id_of(noun: str, record: dict[str, Any] | None) -> str | None:
    if not record:
        return None
    value = record.get("id") if noun == "company" else record.get("company_id")
    return str(value) if value else None
