"""The product catalog and its price lists (the source of deal line items).

A product has a price in one currency; a price list (one currency) gives products other prices.
Deal line items copy name and price when added, so changing the catalog never changes a deal.
A product some deal uses is deactivated, not deleted; a price list some deal uses stays too.
Reads need product:read (everyone); writes need product:manage (crm-admin).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.errors import Conflict, FieldError, NotFound, PreconditionFailed, ValidationFailed, invalid
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.deals.tables import deal_line_items, deals
from kith.orgs.schemas import OrgSettings
from kith.orgs.tables import orgs
from kith.products.schemas import PriceListCreate, PriceListPatch, ProductCreate, ProductPatch
from kith.products.tables import price_list_items, price_lists, products
from kith.records import filters as f
from kith.records import service as rec

P_OUT = [c for c in products.c if c.name != "org_id"]
L_OUT = [c for c in price_lists.c if c.name != "org_id"]
FILTERS = {
    "is_active": f.boolean(products.c.is_active),
    "currency": f.eq(products.c.currency, normalise=lambda v: v.strip().upper(), max_length=3),
    "sku": f.eq(products.c.sku, max_length=100),
}
SORTABLE = ("name", "created_at", "updated_at", "id")


def present(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("unit_price", "currency", "org_id")}
    out["price"] = {"amount": str(row["unit_price"]), "currency": row["currency"]}
    return out


async def _org_currency(uow: UnitOfWork, org_id: str) -> str:
    raw = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one()
    return OrgSettings.model_validate(raw).currency


async def _record(uow: UnitOfWork, actor: Actor, type_: str, subject_type: str, subject_id: str,
                  data: dict[str, Any]) -> None:
    await uow.record(actor.org_id, type_, subject_type=subject_type, subject_id=subject_id, actor_id=actor.id,
                     actor_type=actor.kind, data=data)


async def _sku_free(uow: UnitOfWork, org_id: str, sku: str | None, product_id: str | None) -> None:
    if sku is None:
        return
    q = sa.select(products.c.id).where(products.c.org_id == org_id, products.c.sku == sku)
    if product_id is not None:
        q = q.where(products.c.id != product_id)
    other = (await uow.execute(q)).first()
    if other is not None:
        raise Conflict(f"a product with sku {sku!r} already exists", extra={"field": "sku", "existing_id": other.id})


# --- products -------------------------------------------------------------------------------------------

async def create_product(uow: UnitOfWork, actor: Actor, cmd: ProductCreate) -> dict[str, Any]:
    require(actor, "product:manage")
    async with uow.transaction(write=True):
        await _sku_free(uow, actor.org_id, cmd.sku, None)
        now = clock.now()
        row = {**cmd.model_dump(), "id": ids.new("product"), "created_at": now, "updated_at": now, "version": 1}
        row["currency"] = cmd.currency or await _org_currency(uow, actor.org_id)
        await uow.execute(products.insert(), {"org_id": actor.org_id, **row})
        await _record(uow, actor, "product.created", "product", row["id"],
                      {"after": {k: rec.jsonable(v) for k, v in row.items()}})
    return present(row)


async def _product(uow: UnitOfWork, org_id: str, product_id: str, *, lock: bool = False) -> dict[str, Any]:
    q = sa.select(*P_OUT).where(products.c.org_id == org_id, products.c.id == product_id)
    if lock and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"product {product_id!r} does not exist", extra={"id": product_id})
    return dict(row._mapping)


async def get_product(uow: UnitOfWork, actor: Actor, product_id: str) -> dict[str, Any]:
    require(actor, "product:read")
    async with uow.transaction():
        return present(await _product(uow, actor.org_id, product_id))


async def list_products(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    """Products, newest first unless ``sort`` says otherwise, filtered by `is_active`, `currency`,
    `sku`; `q` matches the name."""
    require(actor, "product:read")
    t = products.c
    stmt = sa.select(*P_OUT).where(t.org_id == actor.org_id)
    errors: list[FieldError] = []
    for name, raw in query.filters.items():
        fn = FILTERS.get(name)
        if fn is None:
            errors.append(FieldError(name, f"unknown filter; filter by one of {sorted(FILTERS)}"))
            continue
        try:
            stmt = stmt.where(fn(actor.org_id, raw))
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    if query.q is not None:
        stmt = stmt.where(sa.func.lower(t.name).contains(query.q.lower(), autoescape=True))
    sort = "-created_at" if query.sort == "relevance" else query.sort
    sort_name, desc = parse_sort(sort, SORTABLE)
    query = ListQuery(limit=query.limit, cursor=query.cursor, sort=sort, filters=query.filters, q=query.q)
    stmt = keyset(stmt, sort_col=t[sort_name], id_col=t.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    result = page(rows, query, sort_name)
    return Page([present(r) for r in result.data], result.next_cursor)


def _check_version(row: dict[str, Any], expected: int | None, noun: str) -> None:
    if expected is not None and expected != row["version"]:
        raise PreconditionFailed(f"the {noun} changed since you read it (version {row['version']})",
                                 extra={"current_version": row["version"]})


async def update_product(uow: UnitOfWork, actor: Actor, product_id: str, patch: ProductPatch,
                         expected_version: int | None = None) -> dict[str, Any]:
    require(actor, "product:manage")
    fields = patch.model_dump(exclude_unset=True)
    nulls = [k for k in ("name", "unit_price", "currency", "is_active") if k in fields and fields[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null", errors=[FieldError(k, "cannot be null") for k in nulls])
    async with uow.transaction(write=True):
        row = await _product(uow, actor.org_id, product_id, lock=True)
        _check_version(row, expected_version, "product")
        if fields.get("sku") is not None and fields["sku"] != row["sku"]:
            await _sku_free(uow, actor.org_id, fields["sku"], product_id)
        before, after = rec.diff(row, fields)
        if not after:
            return present(row)
        values = {k: fields[k] for k in after}
        values.update(updated_at=clock.now(), version=row["version"] + 1)
        t = products.c
        res = await uow.execute(products.update().where(t.org_id == actor.org_id, t.id == product_id,
                                                        t.version == row["version"]).values(**values))
        if res.rowcount != 1:
            raise PreconditionFailed("the product changed while you were updating it")
        await _record(uow, actor, "product.updated", "product", product_id, {"before": before, "after": after})
        row.update(values)
    return present(row)


async def delete_product(uow: UnitOfWork, actor: Actor, product_id: str, expected_version: int | None = None
                         ) -> None:
    """Remove a product no deal uses (its price-list prices go with it); else 409: deactivate it."""
    require(actor, "product:manage")
    async with uow.transaction(write=True):
        row = await _product(uow, actor.org_id, product_id, lock=True)
        _check_version(row, expected_version, "product")
        li = deal_line_items.c
        used = (await uow.execute(sa.select(li.deal_id).where(li.org_id == actor.org_id, li.product_id == product_id)
                                  .limit(1))).first()
        if used is not None:
            raise Conflict("deals use this product: deactivate it (is_active: false) instead",
                           extra={"deal_id": used.deal_id})
        await uow.execute(price_list_items.delete().where(price_list_items.c.org_id == actor.org_id,
                                                          price_list_items.c.product_id == product_id))
        await uow.execute(products.delete().where(products.c.org_id == actor.org_id, products.c.id == product_id))
        await _record(uow, actor, "product.deleted", "product", product_id,
                      {"before": {k: rec.jsonable(v) for k, v in row.items()}})


# --- price lists ------------------------------------------------------------------------------------------

async def _prices(uow: UnitOfWork, org_id: str, list_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in list_ids}
    if not list_ids:
        return out
    i, p = price_list_items.c, products.c
    q = (sa.select(i.price_list_id, i.product_id, p.name, i.unit_price)
         .select_from(price_list_items.join(products, sa.and_(p.org_id == i.org_id, p.id == i.product_id)))
         .where(i.org_id == org_id, i.price_list_id.in_(list_ids)).order_by(i.price_list_id, p.name, p.id))
    for r in await uow.execute(q):
        out[r.price_list_id].append({"product_id": r.product_id, "name": r.name, "unit_price": str(r.unit_price)})
    return out


async def _price_list(uow: UnitOfWork, org_id: str, list_id: str, *, lock: bool = False) -> dict[str, Any]:
    q = sa.select(*L_OUT).where(price_lists.c.org_id == org_id, price_lists.c.id == list_id)
    if lock and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"price list {list_id!r} does not exist", extra={"id": list_id})
    out = dict(row._mapping)
    out["prices"] = (await _prices(uow, org_id, [list_id]))[list_id]
    return out


async def list_price_lists(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    require(actor, "product:read")
    async with uow.transaction():
        q = (sa.select(*L_OUT).where(price_lists.c.org_id == actor.org_id)
             .order_by(price_lists.c.name, price_lists.c.id).limit(500))
        rows = [dict(r._mapping) for r in await uow.execute(q)]
        prices = await _prices(uow, actor.org_id, [r["id"] for r in rows])
    for r in rows:
        r["prices"] = prices[r["id"]]
    return rows


async def get_price_list(uow: UnitOfWork, actor: Actor, list_id: str) -> dict[str, Any]:
    require(actor, "product:read")
    async with uow.transaction():
        return await _price_list(uow, actor.org_id, list_id)


async def _set_prices(uow: UnitOfWork, org_id: str, list_id: str, prices: dict[str, Any]) -> None:
    """Merge ``prices`` into the list: a price sets (or replaces) one, null removes it."""
    if not prices:
        return
    known = set((await uow.execute(sa.select(products.c.id).where(
        products.c.org_id == org_id, products.c.id.in_(sorted(prices))))).scalars())
    unknown = [pid for pid in prices if pid not in known]
    if unknown:
        raise ValidationFailed("unknown products", errors=[
            FieldError(f"prices.{pid}", f"no product {pid!r} in this org") for pid in unknown])
    i = price_list_items.c
    await uow.execute(price_list_items.delete().where(i.org_id == org_id, i.price_list_id == list_id,
                                                      i.product_id.in_(sorted(prices))))
    rows = [{"org_id": org_id, "price_list_id": list_id, "product_id": pid, "unit_price": price}
            for pid, price in prices.items() if price is not None]
    if rows:
        await uow.execute(price_list_items.insert(), rows)


async def _unset_default_list(uow: UnitOfWork, org_id: str, currency: str) -> None:
    t = price_lists.c
    await uow.execute(price_lists.update().where(t.org_id == org_id, t.currency == currency, t.is_default.is_(True))
                      .values(is_default=False, version=t.version + 1, updated_at=clock.now()))


async def create_price_list(uow: UnitOfWork, actor: Actor, cmd: PriceListCreate) -> dict[str, Any]:
    require(actor, "product:manage")
    missing = [pid for pid, price in cmd.prices.items() if price is None]
    if missing:
        raise invalid(f"prices.{missing[0]}", "a new price list's prices cannot be null")
    async with uow.transaction(write=True):
        now, list_id = clock.now(), ids.new("pricelist")
        if cmd.is_default:
            await _unset_default_list(uow, actor.org_id, cmd.currency)
        await uow.execute(price_lists.insert(), {"org_id": actor.org_id, "id": list_id, "name": cmd.name,
                                                 "currency": cmd.currency, "is_default": cmd.is_default,
                                                 "created_at": now, "updated_at": now, "version": 1})
        await _set_prices(uow, actor.org_id, list_id, cmd.prices)
        out = await _price_list(uow, actor.org_id, list_id)
        await _record(uow, actor, "price_list.created", "price_list", list_id,
                      {"after": {"name": cmd.name, "currency": cmd.currency, "is_default": cmd.is_default,
                                 "prices": {k: str(v) for k, v in cmd.prices.items()}}})
    return out


async def update_price_list(uow: UnitOfWork, actor: Actor, list_id: str, patch: PriceListPatch,
                            expected_version: int | None = None) -> dict[str, Any]:
    """Rename, make default (per currency), or merge prices. The currency never changes: deals
    priced from the list rely on it."""
    require(actor, "product:manage")
    fields = patch.model_dump(exclude_unset=True)
    nulls = [k for k in ("name", "is_default", "prices") if k in fields and fields[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null", errors=[FieldError(k, "cannot be null") for k in nulls])
    async with uow.transaction(write=True):
        row = await _price_list(uow, actor.org_id, list_id, lock=True)
        _check_version(row, expected_version, "price list")
        values = {k: fields[k] for k in ("name", "is_default") if k in fields and fields[k] != row[k]}
        prices = fields.get("prices") or {}
        if not values and not prices:
            return row
        if values.get("is_default"):
            await _unset_default_list(uow, actor.org_id, row["currency"])
        await _set_prices(uow, actor.org_id, list_id, prices)
        t = price_lists.c
        res = await uow.execute(price_lists.update().where(t.org_id == actor.org_id, t.id == list_id,
                                                           t.version == row["version"])
                                .values(**values, updated_at=clock.now(), version=row["version"] + 1))
        if res.rowcount != 1:
            raise PreconditionFailed("the price list changed while you were updating it")
        await _record(uow, actor, "price_list.updated", "price_list", list_id, {
            "before": {k: row[k] for k in values}, "after": values,
            "prices": {k: None if v is None else str(v) for k, v in prices.items()}})
        out = await _price_list(uow, actor.org_id, list_id)
    return out


async def delete_price_list(uow: UnitOfWork, actor: Actor, list_id: str, expected_version: int | None = None
                            ) -> None:
    require(actor, "product:manage")
    async with uow.transaction(write=True):
        row = await _price_list(uow, actor.org_id, list_id, lock=True)
        _check_version(row, expected_version, "price list")
        used = (await uow.execute(sa.select(deals.c.id).where(deals.c.org_id == actor.org_id,
                                                              deals.c.price_list_id == list_id).limit(1))).first()
        if used is not None:
            raise Conflict("deals use this price list", extra={"deal_id": used.id})
        await uow.execute(price_list_items.delete().where(price_list_items.c.org_id == actor.org_id,
                                                          price_list_items.c.price_list_id == list_id))
        await uow.execute(price_lists.delete().where(price_lists.c.org_id == actor.org_id, price_lists.c.id == list_id))
        await _record(uow, actor, "price_list.deleted", "price_list", list_id,
                      {"before": {"name": row["name"], "currency": row["currency"]}})
