"""Product catalog and price list routes. Reading: product:read (everyone); changing:
product:manage (crm-admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.responses import Response

from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow
from kith.http.routing import READ, WRITE, router
from kith.products import service
from kith.products.schemas import (
    PriceListCreate,
    PriceListList,
    PriceListOut,
    PriceListPatch,
    ProductCreate,
    ProductList,
    ProductOut,
    ProductPatch,
)

api = router("products")
Id = Annotated[str, Path(max_length=40)]


@api.get("/products", response_model=ProductList, responses=READ, summary="List products")
async def list_products(query: Listing, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Keyset-paginated, newest first unless `sort` says otherwise (name, created_at, updated_at, id).
    Filters: `is_active`, `currency`, `sku`; `q` matches the name."""
    page = await service.list_products(uow, actor, query)
    return r.JSON({"data": page.data, "next_cursor": page.next_cursor})


@api.post("/products", response_model=ProductOut, status_code=201, responses=WRITE, summary="Create a product")
async def create_product(body: ProductCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """`unit_price` in `currency` (default: the org's). A taken `sku` answers 409."""
    row = await service.create_product(uow, actor, body)
    return r.record(row, 201, {"Location": f"/api/v1/products/{row['id']}"})


@api.get("/products/{product_id}", response_model=ProductOut, responses=READ, summary="Get a product")
async def get_product(product_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_product(uow, actor, product_id))


@api.patch("/products/{product_id}", response_model=ProductOut, responses=WRITE, summary="Update a product")
async def update_product(product_id: Id, body: ProductPatch, actor: CurrentActor, uow: Uow, version: IfMatch
                         ) -> r.JSON:
    """Only the fields sent change. Deals keep the prices their line items were given."""
    return r.record(await service.update_product(uow, actor, product_id, body, version))


@api.delete("/products/{product_id}", status_code=204, responses=WRITE, summary="Delete a product")
async def delete_product(product_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """409 when a deal uses it: deactivate it instead (`is_active: false`)."""
    await service.delete_product(uow, actor, product_id, version)
    return Response(status_code=204)


@api.get("/price-lists", response_model=PriceListList, responses=READ, summary="List price lists")
async def list_price_lists(actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.JSON({"data": await service.list_price_lists(uow, actor)})


@api.post("/price-lists", response_model=PriceListOut, status_code=201, responses=WRITE,
          summary="Create a price list")
async def create_price_list(body: PriceListCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """A list of per-product prices in one currency. `is_default: true` makes it the one new deals in
    that currency use when they name none."""
    row = await service.create_price_list(uow, actor, body)
    return r.record(row, 201, {"Location": f"/api/v1/price-lists/{row['id']}"})


@api.get("/price-lists/{list_id}", response_model=PriceListOut, responses=READ, summary="Get a price list")
async def get_price_list(list_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_price_list(uow, actor, list_id))


@api.patch("/price-lists/{list_id}", response_model=PriceListOut, responses=WRITE, summary="Update a price list")
async def update_price_list(list_id: Id, body: PriceListPatch, actor: CurrentActor, uow: Uow, version: IfMatch
                            ) -> r.JSON:
    """`prices` merges by product (null removes one). The currency never changes."""
    return r.record(await service.update_price_list(uow, actor, list_id, body, version))


@api.delete("/price-lists/{list_id}", status_code=204, responses=WRITE, summary="Delete a price list")
async def delete_price_list(list_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """409 when a deal uses it."""
    await service.delete_price_list(uow, actor, list_id, version)
    return Response(status_code=204)
