"""Deals, the contacts a deal involves, its line items and high-value approval requests.

Money is an amount in minor units (``Cents``) plus an ISO 4217 currency. ``stage_changed_at`` is
when the deal entered its current stage (what deal rotting measures). Deals reference contacts,
companies and stages without cascading deletes: the services decide what a delete does.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import Cents, JSONType, Thousandths, UTCDateTime, metadata

_live = sa.text("deleted_at IS NULL")

deals = sa.Table(
    "deals",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("contact_id", sa.String(40)),
    sa.Column("company_id", sa.String(40)),
    sa.Column("lead_id", sa.String(40)),
    sa.Column("pipeline_id", sa.String(40), nullable=False),
    sa.Column("stage_id", sa.String(40), nullable=False),
    sa.Column("owner_id", sa.String(40)),
    sa.Column("amount", Cents(), nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("expected_close_date", sa.Date),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("probability", sa.Integer, nullable=False),
    sa.Column("probability_override", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("lost_reason", sa.Text),
    sa.Column("won_at", UTCDateTime()),
    sa.Column("lost_at", UTCDateTime()),
    sa.Column("closed_at", UTCDateTime()),
    sa.Column("stage_changed_at", UTCDateTime(), nullable=False),
    sa.Column("price_list_id", sa.String(40)),
    sa.Column("notes", sa.Text),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("custom_fields", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # Analytics' own: the distinct stage ids the deal's moves left or entered, sorted and
    # space-separated; NULL until it first moves. Kept by the commit hook in kith.analytics.moves
    # (migration 0024), never written or shown by the deal services.
    sa.Column("stages_reached", sa.Text),
    sa.ForeignKeyConstraint(["org_id", "stage_id"], ["stages.org_id", "stages.id"]),
    sa.Index("ix_deals_created", "org_id", "created_at", "id", sqlite_where=_live, postgresql_where=_live),
    sa.Index("ix_deals_status", "org_id", "status", "created_at", "id"),
    sa.Index("ix_deals_owner", "org_id", "owner_id", "created_at", "id"),
    sa.Index("ix_deals_stage", "org_id", "pipeline_id", "stage_id", "created_at", "id"),
    sa.Index("ix_deals_contact", "org_id", "contact_id"),
    sa.Index("ix_deals_company", "org_id", "company_id"),
    sa.Index("ix_deals_close_date", "org_id", "expected_close_date"),
    sa.Index("ix_deals_lead", "org_id", "lead_id"),
    # The pipeline board: a pipeline's open deals, least recently moved first (migration 0019).
    sa.Index("ix_deals_board", "org_id", "pipeline_id", "status", "stage_changed_at", "id"),
    # The dashboard: the org's open deals, least recently moved first (rotting ones) (migration 0019).
    sa.Index("ix_deals_open_moved", "org_id", "status", "stage_changed_at", "id"),
)

deal_contacts = sa.Table(
    "deal_contacts",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("deal_id", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(100)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["org_id", "deal_id"], ["deals.org_id", "deals.id"], ondelete="CASCADE"),
    sa.Index("ix_deal_contacts_contact", "org_id", "contact_id"),
)

deal_line_items = sa.Table(
    "deal_line_items",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("deal_id", sa.String(40), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("product_id", sa.String(40)),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("quantity", Thousandths(), nullable=False),
    sa.Column("unit_price", Cents(), nullable=False),
    sa.Column("discount_percent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total", Cents(), nullable=False),
    sa.ForeignKeyConstraint(["org_id", "deal_id"], ["deals.org_id", "deals.id"], ondelete="CASCADE"),
    sa.Index("ix_deal_line_items_deal", "org_id", "deal_id", "position"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("deal_id", sa.String(40), nullable=False),
    sa.Column("rule", sa.String(80), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | approved | rejected | cancelled
    sa.Column("amount", Cents(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("requested_by", sa.String(40), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("decided_by", sa.String(40)),
    sa.Column("decided_at", UTCDateTime()),
    sa.Column("comment", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.ForeignKeyConstraint(["org_id", "deal_id"], ["deals.org_id", "deals.id"], ondelete="CASCADE"),
    sa.Index("ix_approvals_deal", "org_id", "deal_id", "created_at"),
    sa.Index("ix_approvals_status", "org_id", "status", "created_at", "id"),
)

# Every writer of deals imports this module: importing the stage-move hook here registers it (one
# commit hook writes ``deal_stage_moves`` for every deal event; see kith.analytics.moves).
from kith.analytics import moves as _stage_moves  # noqa: E402,F401
