"""What the web app knows about each listed object: its list service, columns, filters, sorts and
bulk actions. Every function here calls the object's service; none writes a table itself.

A bulk action runs once per selected record, each in its own transaction through the same verb
the API uses, so one refused record (permission, rule, stale state) does not stop the others: the
caller gets a per-record outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from kith.activities import service as activities
from kith.auth.model import Actor
from kith.companies import service as companies
from kith.companies.schemas import CompanyPatch
from kith.contacts import model as contact_model
from kith.contacts import service as contacts
from kith.contacts import verbs as contact_verbs
from kith.contacts.schemas import ContactPatch
from kith.core.errors import ValidationFailed, invalid
from kith.core.listing import ListQuery, Page
from kith.core.uow import UnitOfWork
from kith.deals import repo as deals_repo
from kith.deals import service as deals
from kith.deals.schemas import DealPatch, MoveStage, Reassign
from kith.leads import model as lead_model
from kith.leads import service as leads
from kith.records import crud
from kith.tickets import model as ticket_model
from kith.tickets import service as tickets
from kith.tickets.schemas import TicketPatch

Lister = Callable[[UnitOfWork, Actor, ListQuery], Awaitable[Page]]
# (uow, actor, record id, the form's value) -> None; raises KithError to refuse this record
BulkFn = Callable[[UnitOfWork, Actor, str, str], Awaitable[None]]


@dataclass(frozen=True)
class BulkAction:
    label: str
    value_label: str | None  # the input the action needs (owner, tag, stage), None for none
    run: BulkFn


@dataclass(frozen=True)
class ObjectSpec:
    path: str  # "contacts": the list lives at /contacts, records at /contacts/{id}
    singular: str  # "contact": the custom-field object and the permission resource
    title: str
    list: Lister
    columns: tuple[tuple[str, str], ...]  # (key, label); key "custom:<name>" for a custom field
    default_columns: tuple[str, ...]
    sorts: tuple[str, ...]
    filters: tuple[str, ...]  # the built-in filter names (custom fields are added per org)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # filter -> options
    bulk: Mapping[str, BulkAction] = field(default_factory=dict)
    name_key: str = "name"
    has_records: bool = True
    search: bool = True
    custom_fields: bool = True


# --- bulk actions, each through the object's own verbs ----------------------------------------------

async def _contact_owner(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await contact_verbs.assign_contact(uow, actor, rid, value, "reassign")


async def _contact_tag(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    row = await contacts.get_contact(uow, actor, rid)
    if value not in row["tags"]:
        patch = ContactPatch.model_validate({"tags": [*row["tags"], value]})
        await contacts.update_contact(uow, actor, rid, patch, row["version"])


async def _contact_stage(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await contacts.update_contact(uow, actor, rid, ContactPatch.model_validate({"stage": value}))


async def _contact_delete(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await crud.delete(uow, actor, contacts.KIND, rid)


async def _company_owner(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await companies.update_company(uow, actor, rid, CompanyPatch.model_validate({"owner_id": value}))


async def _company_tag(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    row = await companies.get_company(uow, actor, rid)
    if value not in row["tags"]:
        patch = CompanyPatch.model_validate({"tags": [*row["tags"], value]})
        await companies.update_company(uow, actor, rid, patch, row["version"])


async def _company_stage(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await companies.update_company(uow, actor, rid, CompanyPatch.model_validate({"stage": value}))


async def _company_delete(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await crud.delete(uow, actor, companies.KIND, rid)


async def _lead_owner(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await leads.reassign_lead(uow, actor, rid, value)


async def _lead_delete(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await leads.delete_lead(uow, actor, rid)


async def _deal_owner(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await deals.reassign_deal(uow, actor, rid, Reassign.model_validate({"owner_id": value}))


async def _deal_tag(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    row = await deals.get_deal(uow, actor, rid)
    if value not in row["tags"]:
        patch = DealPatch.model_validate({"tags": [*row["tags"], value]})
        await deals.update_deal(uow, actor, rid, patch, row["version"])


async def _deal_stage(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await deals.move_stage(uow, actor, rid, MoveStage.model_validate({"stage_id": value}))


async def _deal_delete(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await deals.delete_deal(uow, actor, rid)


async def _activity_delete(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await activities.delete_activity(uow, actor, rid)


async def _ticket_assign(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await tickets.assign_ticket(uow, actor, rid, value)


async def _ticket_tag(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    row = await tickets.get_ticket(uow, actor, rid)
    if value not in row["tags"]:
        patch = TicketPatch.model_validate({"tags": [*row["tags"], value]})
        await tickets.update_ticket(uow, actor, rid, patch, row["version"])


async def _ticket_delete(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
    await tickets.delete_ticket(uow, actor, rid)


def _needs(value_label: str, fn: BulkFn) -> BulkFn:
    async def run(uow: UnitOfWork, actor: Actor, rid: str, value: str) -> None:
        if not value:
            raise invalid("value", f"choose the {value_label.lower()}")
        await fn(uow, actor, rid, value)
    return run


def _action(label: str, value_label: str | None, fn: BulkFn) -> BulkAction:
    return BulkAction(label, value_label, _needs(value_label, fn) if value_label else fn)


_COMMON = (("owner", "Owner"), ("tags", "Tags"), ("created_at", "Created"), ("updated_at", "Updated"))

OBJECTS: dict[str, ObjectSpec] = {spec.path: spec for spec in (
    ObjectSpec(
        path="contacts", singular="contact", title="Contacts", list=contacts.list_contacts,
        columns=(("name", "Name"), ("email", "Email"), ("phone", "Phone"), ("title", "Title"), ("stage", "Stage"),
                 ("status", "Status"), ("lead_score", "Score"), ("source", "Source"), *_COMMON),
        default_columns=("name", "email", "stage", "lead_score", "owner", "created_at"),
        sorts=tuple(contacts.KIND.sortable), filters=tuple(contacts.KIND.filters),
        choices={"stage": tuple(contact_model.STAGES), "status": tuple(contact_model.STATUSES)},
        bulk={"owner": _action("Assign owner", "Owner", _contact_owner),
              "tag": _action("Add tag", "Tag", _contact_tag),
              "stage": _action("Change stage", "Stage", _contact_stage),
              "delete": _action("Delete", None, _contact_delete)}),
    ObjectSpec(
        path="companies", singular="company", title="Companies", list=companies.list_companies,
        columns=(("name", "Name"), ("domain", "Domain"), ("industry", "Industry"), ("stage", "Stage"),
                 ("deal_value", "Deal value"), *_COMMON),
        default_columns=("name", "domain", "industry", "stage", "owner", "created_at"),
        sorts=tuple(companies.KIND.sortable), filters=tuple(companies.KIND.filters),
        bulk={"owner": _action("Assign owner", "Owner", _company_owner),
              "tag": _action("Add tag", "Tag", _company_tag),
              "stage": _action("Change stage", "Stage", _company_stage),
              "delete": _action("Delete", None, _company_delete)}),
    ObjectSpec(
        path="leads", singular="lead", title="Leads", list=leads.list_leads, name_key="title",
        columns=(("title", "Title"), ("status", "Status"), ("score", "Score"), ("source", "Source"),
                 ("channel", "Channel"), ("owner", "Owner"), ("created_at", "Created"), ("updated_at", "Updated")),
        default_columns=("title", "status", "score", "source", "owner", "created_at"),
        sorts=leads.SORTABLE, filters=tuple(leads.FILTERS), choices={"status": tuple(lead_model.STATUSES)},
        bulk={"owner": _action("Assign owner", "Owner", _lead_owner),
              "delete": _action("Delete", None, _lead_delete)},
        custom_fields=False),
    ObjectSpec(
        path="deals", singular="deal", title="Deals", list=deals.list_deals, name_key="title",
        columns=(("title", "Title"), ("value", "Value"), ("stage", "Stage"), ("status", "Status"),
                 ("probability", "Probability"), ("expected_close_date", "Close date"), *_COMMON),
        default_columns=("title", "value", "stage", "status", "owner", "expected_close_date"),
        sorts=deals_repo.SORTABLE, filters=tuple(deals_repo.FILTERS),
        choices={"status": ("open", "won", "lost", "abandoned")},
        bulk={"owner": _action("Assign owner", "Owner", _deal_owner),
              "tag": _action("Add tag", "Tag", _deal_tag),
              "stage": _action("Change stage", "Stage", _deal_stage),
              "delete": _action("Delete", None, _deal_delete)},
        custom_fields=False),
    ObjectSpec(
        path="activities", singular="activity", title="Activities", list=activities.list_activities,
        name_key="subject",
        columns=(("subject", "Subject"), ("type", "Type"), ("status", "Status"), ("direction", "Direction"),
                 ("occurred_at", "When"), ("due_at", "Due"), ("actor", "By"), ("assignee", "Assignee")),
        default_columns=("subject", "type", "status", "occurred_at", "due_at", "actor"),
        sorts=activities.SORTABLE, filters=tuple(activities.FILTERS),
        choices={"type": ("call", "email", "meeting", "note", "task", "demo", "sms", "chat"),
                 "open": ("true", "false")},
        bulk={"delete": _action("Delete", None, _activity_delete)},
        has_records=False, search=False, custom_fields=False),
    # Tickets (docs/tickets.md): the bulk "owner" action assigns (the list form's owner picker).
    ObjectSpec(
        path="tickets", singular="ticket", title="Tickets", list=tickets.list_tickets, name_key="subject",
        columns=(("number", "#"), ("subject", "Subject"), ("status", "Status"), ("priority", "Priority"),
                 ("channel", "Channel"), ("assignee", "Assignee"), ("due_at", "Due"), ("tags", "Tags"),
                 ("created_at", "Created"), ("updated_at", "Updated")),
        default_columns=("number", "subject", "status", "priority", "assignee", "due_at"),
        sorts=tickets.SORTABLE, filters=tuple(tickets.FILTERS),
        choices={"status": ticket_model.STATUSES, "priority": ticket_model.PRIORITIES,
                 "channel": ticket_model.CHANNELS, "overdue": ("true", "false")},
        bulk={"owner": _action("Assign to", "Assignee", _ticket_assign),
              "tag": _action("Add tag", "Tag", _ticket_tag),
              "delete": _action("Delete", None, _ticket_delete)},
        custom_fields=False),
)}


def spec_for(path: str) -> ObjectSpec:
    spec = OBJECTS.get(path)
    if spec is None:
        raise ValidationFailed(f"no list {path!r}")
    return spec
