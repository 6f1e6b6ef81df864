"""Webhook subscriptions, their deliveries (one per subscription and event, plus manual replays)
and every attempt made to deliver one."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", JSONType, nullable=False),
    sa.Column("description", sa.String(500)),
    # Kept in clear: signing needs it. Shown once on create and rotate, never read back by the API.
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # Events that happened before this moment (creation, or the last re-enable) are not delivered.
    sa.Column("active_since", UTCDateTime(), nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disabled_at", UTCDateTime()),
    sa.Column("disabled_reason", sa.String(500)),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The relay asks which orgs have an enabled subscription (a worker serves every org).
    sa.Index("ix_webhooks_enabled", "enabled", "org_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # When a worker may (next) try it; a claim pushes it forward by the lease, so the delivery of a
    # worker that died comes due again by itself.
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_token", sa.String(40)),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.String(500)),
    sa.Column("last_latency_ms", sa.Integer),
    sa.Column("replay_of", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime()),
    sa.Index("ix_webhook_deliveries_webhook", "org_id", "webhook_id", "id"),
    sa.Index("ix_webhook_deliveries_status", "org_id", "webhook_id", "status", "id"),
    sa.Index("ix_webhook_deliveries_event", "org_id", "webhook_id", "event_type", "id"),
    # The workers' claim: due pending deliveries of every org, oldest first.
    sa.Index("ix_webhook_deliveries_due", "next_attempt_at",
             sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'")),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("delivery_id", sa.String(40), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("error", sa.String(500)),
    sa.Index("ix_webhook_attempts_delivery", "org_id", "delivery_id", "id"),
)
