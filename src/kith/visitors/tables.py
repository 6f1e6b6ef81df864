"""Widget visitors (seed 000): the browser-side identity keyed by the integrator's visitor_id."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

visitors = sa.Table(
    "visitors",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("visitor_id", sa.String(200), nullable=False),
    sa.Column("properties", JSONType, nullable=False),
    sa.Column("contact_id", sa.String(40)),
    sa.Column("active_company_id", sa.String(40)),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("org_id", "visitor_id"),
    sa.Index("ix_visitors_contact", "org_id", "contact_id"),
    sa.Index("ix_visitors_company", "org_id", "active_company_id"),
)
