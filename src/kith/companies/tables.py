"""Companies (accounts)."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import Cents, JSONType, UTCDateTime, metadata

_live = sa.text("deleted_at IS NULL")
_live_ext = sa.text("deleted_at IS NULL AND external_id IS NOT NULL")
_live_domain = sa.text("deleted_at IS NULL AND domain IS NOT NULL")

companies = sa.Table(
    "companies",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("external_id", sa.String(200)),
    sa.Column("domain", sa.String(253)),
    sa.Column("industry", sa.String(100)),
    sa.Column("stage", sa.String(120)),
    sa.Column("deal_value", Cents()),
    sa.Column("owner_id", sa.String(40)),
    sa.Column("notes", sa.Text),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("custom_fields", JSONType, nullable=False),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("is_placeholder", sa.Boolean, nullable=False, server_default=sa.false()),
    # Enrichment fields (seed 000: "enrichment fields" live on the company).
    sa.Column("description", sa.Text),
    sa.Column("website", sa.String(2000)),
    sa.Column("linkedin_url", sa.String(2000)),
    sa.Column("employee_count", sa.Integer),
    sa.Column("annual_revenue", Cents()),
    sa.Column("country", sa.String(2)),
    sa.Column("city", sa.String(100)),
    sa.Column("phone", sa.String(50)),
    sa.Column("logo_url", sa.String(2000)),
    sa.Column("enriched_at", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ux_companies_external_id", "org_id", "external_id", unique=True,
             sqlite_where=_live_ext, postgresql_where=_live_ext),
    sa.Index("ux_companies_domain", "org_id", "domain", unique=True,
             sqlite_where=_live_domain, postgresql_where=_live_domain),
    sa.Index("ix_companies_created", "org_id", "created_at", "id"),
    sa.Index("ix_companies_updated", "org_id", "updated_at", "id"),
    sa.Index("ix_companies_name", "org_id", "name", "id"),
    sa.Index("ix_companies_stage", "org_id", "stage", "created_at", "id"),
    sa.Index("ix_companies_owner", "org_id", "owner_id", "created_at", "id"),
    sa.Index("ix_companies_industry", "org_id", "industry", "created_at", "id"),
)
