"""Product catalog and price list shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StrictBool

from kith.core.validate import check_currency
from kith.records.schemas import Amount, Name, RecordId, Strict

Currency = Annotated[str, AfterValidator(check_currency)]
Sku = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=10_000)]
Prices = Annotated[dict[RecordId, Amount | None], Field(max_length=1000, description=(
    "{product id: unit price in the list's currency}; on PATCH merged by product, null removes one."))]


class ProductCreate(Strict):
    name: Name
    sku: Sku | None = Field(default=None, description="Unique per org when set.")
    description: Description | None = None
    unit_price: Amount
    currency: Currency | None = Field(default=None, description="Default: the org's currency.")
    is_active: StrictBool = True


class ProductPatch(Strict):
    name: Name | None = None
    sku: Sku | None = None
    description: Description | None = None
    unit_price: Amount | None = None
    currency: Currency | None = None
    is_active: StrictBool | None = Field(default=None, description="false keeps it off new line items; a product used "
                                                           "by deals cannot be deleted, only deactivated.")


class MoneyOut(BaseModel):
    amount: str
    currency: str


class ProductOut(BaseModel):
    id: str
    name: str
    sku: str | None
    description: str | None
    price: MoneyOut
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class ProductList(BaseModel):
    data: list[ProductOut]
    next_cursor: str | None


class PriceListCreate(Strict):
    name: Name
    currency: Currency
    is_default: StrictBool = Field(default=False, description="New deals in this currency without a price list use it.")
    prices: Prices = {}


class PriceListPatch(Strict):
    name: Name | None = None
    is_default: StrictBool | None = None
    prices: Prices | None = None


class PriceOut(BaseModel):
    product_id: str
    name: str
    unit_price: str


class PriceListOut(BaseModel):
    id: str
    name: str
    currency: str
    is_default: bool
    prices: list[PriceOut]
    created_at: datetime
    updated_at: datetime
    version: int


class PriceListList(BaseModel):
    data: list[PriceListOut]
