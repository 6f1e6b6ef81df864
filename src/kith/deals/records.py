"""The deal as a record of ``kith.records.crud``: its ``Kind`` and the field rules of create and
PATCH (references, pipeline and stage, money, line items, probability).

- ``value`` is ``{amount, currency}``; the currency defaults to the price list's, else the org's.
  With line items the amount is their total, computed here (an amount sent with them is refused).
- ``probability`` follows the stage unless set explicitly (``probability_override``); a PATCH with
  ``probability_override: false`` follows the stage again.
- A change of amount or currency cancels the deal's pending and approved approval requests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import FieldError, ValidationFailed, invalid
from kith.core.uow import UnitOfWork
from kith.deals import lines, model, repo
from kith.deals.schemas import DealCreate, LineItemIn
from kith.deals.tables import deals
from kith.pipelines import repo as pipelines
from kith.pipelines.tables import stages
from kith.records import crud

Values = dict[str, Any]


async def placement(uow: UnitOfWork, org_id: str, pipeline_id: str | None, stage_id: str | None
                    ) -> dict[str, Any]:
    """The stage a new deal starts in: the one given (it must be an open stage, of ``pipeline_id``
    when both are given), else the first open stage of the pipeline given, else of the default one."""
    if stage_id is not None:
        stage = await pipelines.deal_stage(uow, org_id, stage_id)
        if pipeline_id is not None and stage["pipeline_id"] != pipeline_id:
            raise invalid("stage_id", "the stage is not one of the deal's pipeline")
        if stage["outcome"] is not None:
            raise invalid("stage_id", f"a new deal starts in an open stage, not a {stage['outcome']} one: "
                                      "create it, then mark it won or lost")
        return stage
    if pipeline_id is not None:
        if not await pipelines.deal_pipeline_exists(uow, org_id, pipeline_id):
            raise invalid("pipeline_id", f"no deal pipeline {pipeline_id!r} in this org")
        first = await pipelines.first_open_stage(uow, org_id, pipeline_id)
        if first is None:
            raise invalid("pipeline_id", "the pipeline has no open stage")
        return await pipelines.deal_stage(uow, org_id, first)
    _, first = await pipelines.default_deal_pipeline(uow, org_id)
    return await pipelines.deal_stage(uow, org_id, first)


async def new_deal_values(uow: UnitOfWork, actor: Actor, cmd: DealCreate, extra: Values
                          ) -> tuple[Values, list[Values]]:
    """The computed columns of a new deal and its priced line items. Runs in the write transaction."""
    given = cmd.model_dump()
    given.update(extra)
    await repo.check_refs(uow, actor.org_id, given)
    for n, link in enumerate(cmd.contacts or []):
        await repo.check_contact(uow, actor.org_id, link.contact_id, f"contacts.{n}.contact_id")
    stage = await placement(uow, actor.org_id, given.get("pipeline_id"), given.get("stage_id"))
    settings = await repo.org_settings(uow, actor.org_id)
    value = cmd.value.model_dump(exclude_unset=True) if cmd.value else {}
    plist = await lines.price_list(uow, actor.org_id, given["price_list_id"]) if given.get("price_list_id") else None
    currency = value.get("currency") or (plist["currency"] if plist else settings.currency)
    _same_currency(plist, currency)
    if plist is None:
        given["price_list_id"] = await lines.default_price_list(uow, actor.org_id, currency)
    rows: list[Values] = []
    amount = value.get("amount")
    if cmd.line_items:
        if amount is not None:
            raise invalid("value.amount", "the amount of a deal with line items is their total: leave it out")
        rows = await lines.priced(uow, actor.org_id, cmd.line_items, currency=currency,
                                  price_list_id=given.get("price_list_id"))
        amount = model.amount_of(r["total"] for r in rows)
    now = clock.now()
    override = cmd.probability is not None
    values = {
        "price_list_id": given["price_list_id"], "pipeline_id": stage["pipeline_id"], "stage_id": stage["id"],
        "status": "open",
        "amount": amount if amount is not None else Decimal("0.00"), "currency": currency,
        "probability": cmd.probability if override else stage["probability"], "probability_override": override,
        "stage_changed_at": now, "lost_reason": None, "won_at": None, "lost_at": None, "closed_at": None,
    }
    return values, rows


def _same_currency(plist: dict[str, Any] | None, currency: str) -> None:
    if plist is not None and plist["currency"] != currency:
        raise ValidationFailed(
            f"the price list is in {plist['currency']}, the deal in {currency}",
            errors=[FieldError("price_list_id", f"choose a price list in {currency}")])


async def prepare(uow: UnitOfWork, actor: Actor, values: Values, existing: Any) -> None:
    """crud's hook. On create the service has computed everything (``new_deal_values``); a restore
    has nothing to re-check (deals hold no unique fields). On PATCH: the field rules above."""
    if existing is None:
        return
    current = dict(existing._mapping)
    await repo.check_refs(uow, actor.org_id, values)
    await _probability(uow, actor.org_id, values, current)
    await _money(uow, actor, values, current)


async def _probability(uow: UnitOfWork, org_id: str, values: Values, current: Values) -> None:
    follow = values.pop("probability_override", None) is False
    if values.get("probability") is not None and follow:
        raise invalid("probability_override", "send a probability or probability_override: false, not both")
    if values.get("probability") is not None:
        values["probability_override"] = True
    elif follow:
        q = sa.select(stages.c.probability).where(stages.c.org_id == org_id, stages.c.id == current["stage_id"])
        values["probability"] = (await uow.execute(q)).scalar_one()
        values["probability_override"] = False
    elif "probability" in values:  # sent as null: same as following the stage again
        raise invalid("probability", "cannot be null; send probability_override: false to follow the stage")


async def _money(uow: UnitOfWork, actor: Actor, values: Values, current: Values) -> None:
    value = values.pop("value", None) or {}
    items = values.pop("line_items", None)
    if "amount" in value and value["amount"] is None:
        raise invalid("value.amount", "cannot be null")
    if "currency" in value and value["currency"] is None:
        raise invalid("value.currency", "cannot be null")
    currency = value.get("currency") or current["currency"]
    price_list_id = values["price_list_id"] if "price_list_id" in values else current["price_list_id"]
    if price_list_id is not None and ("price_list_id" in values or currency != current["currency"]):
        _same_currency(await lines.price_list(uow, actor.org_id, price_list_id), currency)
    deal_id = current["id"]
    has_lines = bool(items) if items is not None else await lines.count(uow, actor.org_id, deal_id) > 0
    if has_lines and "amount" in value:
        raise invalid("value.amount", "the amount of a deal with line items is their total: change the line items")
    if items is not None:
        rows = await lines.priced(uow, actor.org_id, [LineItemIn.model_validate(i) for i in items],
                                  currency=currency, price_list_id=price_list_id)
        await lines.replace(uow, actor.org_id, deal_id, rows)
        if rows:
            value["amount"] = model.amount_of(r["total"] for r in rows)
        values["updated_at"] = clock.now()  # the items changed even when the total did not
    elif has_lines and currency != current["currency"]:
        raise invalid("value.currency", "the line items are priced in the deal's currency: send line_items "
                                        "with the new currency to price them again")
    if "amount" in value:
        values["amount"] = value["amount"]
    values["currency"] = currency
    if values.get("amount", current["amount"]) != current["amount"] or currency != current["currency"]:
        await repo.cancel_approvals(uow, actor, deal_id, "the deal's value changed")


KIND = crud.Kind(
    name="deal",
    table=deals,
    resource="deal",
    sortable=repo.SORTABLE,
    filters=repo.FILTERS,
    search_columns=("title",),
    not_null=repo.NOT_NULL,
    prepare=prepare,
    label="title",
    # stages_reached: analytics' own bookkeeping (kith.analytics.moves), not part of a deal's record
    hidden=frozenset({"org_id", "deleted_at", "stages_reached"}),
)
