"""Deal line items: priced from the catalog in the deal's currency, totals computed here, never
taken from the client.

A line's unit price is the one given, else the product's price in the deal's price list, else the
product's own price when it is in the deal's currency; otherwise the caller must give one (422).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kith.core import ids
from kith.core.errors import FieldError, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.deals import model
from kith.deals.schemas import LineItemIn
from kith.deals.tables import deal_line_items
from kith.products.tables import price_list_items, price_lists, products

MAX_AMOUNT = Decimal("1e13")  # the largest amount an input may carry (records.schemas.Amount)
LINE_OUT = [c for c in deal_line_items.c if c.name not in ("org_id", "deal_id")]


async def price_list(uow: UnitOfWork, org_id: str, price_list_id: str) -> dict[str, Any]:
    q = sa.select(price_lists.c.id, price_lists.c.currency).where(
        price_lists.c.org_id == org_id, price_lists.c.id == price_list_id)
    row = (await uow.execute(q)).first()
    if row is None:
        raise ValidationFailed(f"no price list {price_list_id!r} in this org",
                               errors=[FieldError("price_list_id", "unknown price list")])
    return dict(row._mapping)


async def default_price_list(uow: UnitOfWork, org_id: str, currency: str) -> str | None:
    """The org's default price list in ``currency``, if it has one."""
    q = sa.select(price_lists.c.id).where(price_lists.c.org_id == org_id, price_lists.c.currency == currency,
                                          price_lists.c.is_default.is_(True)).order_by(price_lists.c.id).limit(1)
    return (await uow.execute(q)).scalar_one_or_none()


async def priced(uow: UnitOfWork, org_id: str, items: Sequence[LineItemIn], *, currency: str,
                 price_list_id: str | None) -> list[dict[str, Any]]:
    """The rows to store for ``items`` (without org/deal ids), or 422 naming the bad line."""
    wanted = sorted({i.product_id for i in items if i.product_id})
    catalog: dict[str, Any] = {}
    list_prices: dict[str, Decimal] = {}
    if wanted:
        q = sa.select(products.c.id, products.c.name, products.c.unit_price, products.c.currency).where(
            products.c.org_id == org_id, products.c.id.in_(wanted))
        catalog = {r.id: r for r in await uow.execute(q)}
        if price_list_id is not None:
            q2 = sa.select(price_list_items.c.product_id, price_list_items.c.unit_price).where(
                price_list_items.c.org_id == org_id, price_list_items.c.price_list_id == price_list_id,
                price_list_items.c.product_id.in_(wanted))
            list_prices = {r.product_id: r.unit_price for r in await uow.execute(q2)}
    errors: list[FieldError] = []
    rows: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        where = f"line_items.{n}"
        product = catalog.get(item.product_id) if item.product_id else None
        if item.product_id and product is None:
            errors.append(FieldError(f"{where}.product_id", f"no product {item.product_id!r} in this org"))
            continue
        name = item.name or (product.name if product is not None else None)
        if name is None:
            errors.append(FieldError(f"{where}.name", "a line without a product needs a name"))
            continue
        price = item.unit_price
        if price is None and product is not None:
            price = list_prices.get(product.id)
            if price is None and product.currency == currency:
                price = product.unit_price
        if price is None:
            errors.append(FieldError(f"{where}.unit_price", (
                f"give a unit_price: the product has no price in {currency} (not in the deal's price list, "
                f"and its own price is in {product.currency})" if product is not None else "required")))
            continue
        total = model.line_total(item.quantity, price, item.discount_percent)
        if total > MAX_AMOUNT:
            errors.append(FieldError(f"{where}.quantity", f"the line's total is above {MAX_AMOUNT}"))
            continue
        rows.append({"id": ids.new("line"), "position": n, "product_id": item.product_id, "name": name,
                     "quantity": item.quantity, "unit_price": price, "discount_percent": item.discount_percent,
                     "total": total})
    if not errors and model.amount_of(r["total"] for r in rows) > MAX_AMOUNT:
        errors.append(FieldError("line_items", f"the deal's total is above {MAX_AMOUNT}"))
    if errors:
        raise ValidationFailed("invalid line items", errors=errors)
    return rows


async def replace(uow: UnitOfWork, org_id: str, deal_id: str, rows: list[dict[str, Any]]) -> None:
    t = deal_line_items
    await uow.execute(t.delete().where(t.c.org_id == org_id, t.c.deal_id == deal_id))
    if rows:
        await uow.execute(t.insert(), [{"org_id": org_id, "deal_id": deal_id, **r} for r in rows])


async def count(uow: UnitOfWork, org_id: str, deal_id: str) -> int:
    t = deal_line_items
    q = sa.select(sa.func.count()).select_from(t).where(t.c.org_id == org_id, t.c.deal_id == deal_id)
    return int((await uow.execute(q)).scalar_one())


async def of_deals(uow: UnitOfWork, org_id: str, deal_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The line items of each deal, in order (one query for a page of deals)."""
    t = deal_line_items
    out: dict[str, list[dict[str, Any]]] = {d: [] for d in deal_ids}
    if not deal_ids:
        return out
    q = (sa.select(t.c.deal_id, *LINE_OUT).where(t.c.org_id == org_id, t.c.deal_id.in_(list(deal_ids)))
         .order_by(t.c.deal_id, t.c.position))
    for r in await uow.execute(q):
        out[r.deal_id].append(present(dict(r._mapping)))
    return out


def present(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("deal_id", None)
    return {**row, "quantity": _plain(row["quantity"]), "unit_price": str(row["unit_price"]),
            "total": str(row["total"])}


def _plain(q: Decimal) -> str:
    """``2.000`` → ``2``, ``1.500`` → ``1.5``."""
    return format(q.normalize(), "f")
