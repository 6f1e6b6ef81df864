"""Leads: a contact's expression of interest, worked through new → contacted → qualified → converted.

``external_key`` is the feed's own key for a lead (seed 002), unique per org when set, so a feed
can be re-delivered without creating duplicates. Leads belong to a contact: erasing the contact
for good erases its leads (``ON DELETE CASCADE``); a merge moves them to the surviving contact first.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

_has_key = sa.text("external_key IS NOT NULL")

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(40), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("source", sa.String(100)),
    sa.Column("owner_id", sa.String(40)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("score", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disqualification_reason", sa.Text),
    sa.Column("converted_to_deal_id", sa.String(40)),
    sa.Column("converted_at", UTCDateTime()),
    # Seed 002 feed fields.
    sa.Column("external_key", sa.String(200)),
    sa.Column("source_url", sa.String(2000)),
    sa.Column("channel", sa.String(50)),
    sa.Column("listing_ref", sa.String(200)),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.ForeignKeyConstraint(["org_id", "contact_id"], ["contacts.org_id", "contacts.id"], ondelete="CASCADE"),
    sa.Index("ux_leads_external_key", "org_id", "external_key", unique=True,
             sqlite_where=_has_key, postgresql_where=_has_key),
    sa.Index("ix_leads_created", "org_id", "created_at", "id"),
    sa.Index("ix_leads_status", "org_id", "status", "created_at", "id"),
    sa.Index("ix_leads_owner", "org_id", "owner_id", "created_at", "id"),
    sa.Index("ix_leads_contact", "org_id", "contact_id"),
    # Migration 0009: one index per remaining list filter and sort.
    sa.Index("ix_leads_source", "org_id", "source", "created_at", "id"),
    sa.Index("ix_leads_channel", "org_id", "channel", "created_at", "id"),
    sa.Index("ix_leads_updated", "org_id", "updated_at", "id"),
    sa.Index("ix_leads_score", "org_id", "score", "id"),
    sa.Index("ix_leads_title", "org_id", "title", "id"),
)
