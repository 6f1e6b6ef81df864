"""The product catalog and price lists that deal line items draw from."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import Cents, UTCDateTime, metadata

_has_sku = sa.text("sku IS NOT NULL")

products = sa.Table(
    "products",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("sku", sa.String(100)),
    sa.Column("description", sa.Text),
    sa.Column("unit_price", Cents(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ux_products_sku", "org_id", "sku", unique=True, sqlite_where=_has_sku, postgresql_where=_has_sku),
    sa.Index("ix_products_name", "org_id", "name", "id"),
)

price_lists = sa.Table(
    "price_lists",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)

price_list_items = sa.Table(
    "price_list_items",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("price_list_id", sa.String(40), primary_key=True),
    sa.Column("product_id", sa.String(40), primary_key=True),
    sa.Column("unit_price", Cents(), nullable=False),
    sa.ForeignKeyConstraint(["org_id", "price_list_id"], ["price_lists.org_id", "price_lists.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["org_id", "product_id"], ["products.org_id", "products.id"], ondelete="CASCADE"),
)
