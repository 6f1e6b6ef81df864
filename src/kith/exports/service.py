"""Exports read through the objects' own list services, a batch at a time.

There is no second filter parser and no second visibility rule here: each batch is one call of
the object's list function (``crud.list_`` for contacts and companies, ``list_deals``,
``list_leads``, ``list_activities``) with the caller's filters, ``q`` and sort, ``BATCH`` rows and
the previous batch's cursor. So an export holds exactly what paging through ``GET /api/v1/<object>``
with the same parameters would show the caller, in the same order, and a bad filter fails the same
way (422) — before the first byte is sent, because ``start`` reads the first batch.

Memory stays bounded by one batch (keyset pages, never OFFSET, never the whole result). Each batch
is its own read transaction: a record changed during a long export appears as it was when its batch
was read; keyset paging never repeats nor skips a record whose sort value did not change meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from kith.activities import service as activities
from kith.activities.service import COLUMNS as ACTIVITY_COLUMNS
from kith.auth.model import Actor
from kith.companies import service as companies
from kith.contacts import service as contacts
from kith.core.errors import FieldError, ValidationFailed
from kith.core.listing import ListQuery, Page
from kith.core.uow import UnitOfWork
from kith.customfields import repo as custom_repo
from kith.deals import service as deals
from kith.deals.repo import HIDDEN as DEAL_HIDDEN
from kith.exports.model import OBJECTS, Format
from kith.leads import service as leads
from kith.leads.service import LEAD_OUT
from kith.records import crud
from kith.tickets import service as tickets
from kith.tickets.service import COLUMNS as TICKET_COLUMNS

# Rows per list call: large enough that the per-batch cost (one query, one cursor) is noise, small
# enough that a batch of wide rows stays a few MB at most.
BATCH = 1000

Lister = Callable[[UnitOfWork, Actor, ListQuery], Awaitable[Page]]
Row = dict[str, Any]


def _deal_row(row: Row) -> Row:
    """Deals are listed with ``value: {amount, currency}``; a file has them as two columns."""
    value = row.get("value") or {}
    amount = value.get("amount")  # a decimal string in the API; a number in the file (XLSX keeps it typed)
    return {**row, "amount": Decimal(amount) if amount is not None else None, "currency": value.get("currency")}


def _same(row: Row) -> Row:
    return row


@dataclass(frozen=True)
class Source:
    object: str  # "contacts"
    lister: Lister
    builtin: tuple[str, ...]  # the columns, in file order (custom fields follow)
    custom_object: str | None  # the custom fields' object ("contact"), None when it has none
    default_sort: str = "-created_at"
    shape: Callable[[Row], Row] = _same


def _names(columns: Any, leave_out: frozenset[str] = frozenset()) -> tuple[str, ...]:
    return tuple(c.name for c in columns if c.name not in leave_out | {"custom_fields"})


def _sources() -> dict[str, Source]:
    deal_columns = _names(deals.KIND.columns, DEAL_HIDDEN)
    id_first = ("id",)
    return {
        "contacts": Source("contacts", lambda u, a, q: crud.list_(u, a, contacts.KIND, q),
                           _names(contacts.KIND.columns), "contact"),
        "companies": Source("companies", lambda u, a, q: crud.list_(u, a, companies.KIND, q),
                            _names(companies.KIND.columns), "company"),
        "deals": Source("deals", lambda u, a, q: deals.list_deals(u, a, q),
                        (*id_first, "title", "amount", "currency",
                         *(c for c in deal_columns if c not in {"id", "title"})), None,
                        shape=_deal_row),
        "leads": Source("leads", leads.list_leads, _names(LEAD_OUT), None),
        "activities": Source("activities", activities.list_activities, _names(ACTIVITY_COLUMNS), None,
                             default_sort=activities.DEFAULT_SORT),
        "tickets": Source("tickets", tickets.list_tickets, (*_names(TICKET_COLUMNS), "overdue"), None),
    }


SOURCES: Mapping[str, Source] = _sources()
assert tuple(SOURCES) == OBJECTS


@dataclass
class Export:
    """An export that has passed validation: its columns and its first batch."""

    source: Source
    format: Format
    query: ListQuery
    custom: tuple[str, ...]
    first: Page
    header: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.header = [*self.source.builtin, *self.custom]


def source(object_: str) -> Source:
    found = SOURCES.get(object_)
    if found is None:
        raise ValidationFailed(f"cannot export {object_!r}",
                               errors=[FieldError("object", f"one of {list(OBJECTS)}")])
    return found


def list_query(src: Source, *, filters: Mapping[str, str], q: str | None, sort: str | None) -> ListQuery:
    """The list parameters of the export's batches: the list route's defaults (``relevance`` with
    ``q``, else the object's default order)."""
    if sort is None:
        sort = "relevance" if q is not None else src.default_sort
    return ListQuery(limit=BATCH, cursor=None, sort=sort, filters=dict(filters), q=q)


async def start(uow: UnitOfWork, actor: Actor, object_: str, fmt: Format, *, filters: Mapping[str, str],
                q: str | None = None, sort: str | None = None) -> Export:
    """Check everything (object, permission, filters, sort) by reading the first batch: whatever is
    wrong raises here, before a response starts."""
    src = source(object_)
    query = list_query(src, filters=filters, q=q, sort=sort)
    first = await src.lister(uow, actor, query)
    custom: tuple[str, ...] = ()
    if src.custom_object is not None:
        async with uow.transaction():
            defs = await custom_repo.definitions(uow, actor.org_id, src.custom_object)
        custom = tuple(sorted(defs))
    return Export(src, fmt, query, custom, first)


async def batches(uow: UnitOfWork, actor: Actor, export: Export) -> AsyncIterator[list[Row]]:
    """The export's rows, a batch at a time, shaped for the file (first batch included)."""
    page, shape = export.first, export.source.shape
    while True:
        yield [shape(r) for r in page.data]
        if page.next_cursor is None:
            return
        page = await export.source.lister(uow, actor, replace(export.query, cursor=page.next_cursor))
