"""Inbound telephony: the org's signing secret, and one row per call received (idempotency on the
provider's call id; ``activity_id`` is the call's activity)."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import UTCDateTime, metadata

telephony_secrets = sa.Table(
    "telephony_secrets",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

telephony_calls = sa.Table(
    "telephony_calls",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("call_id", sa.String(200), primary_key=True),
    sa.Column("activity_id", sa.String(40), nullable=False),
    sa.Column("contact_id", sa.String(40)),
    sa.Column("direction", sa.String(10), nullable=False),
    sa.Column("number", sa.String(20), nullable=False),  # the other party, E.164
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)
