"""Automation rules and their run log: one run per (rule, event), unique, so an event relayed twice
runs a rule's actions once."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

automations = sa.Table(
    "automations",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("trigger", sa.String(80), nullable=False),
    sa.Column("conditions", JSONType, nullable=False),
    sa.Column("actions", JSONType, nullable=False),
    # Signs the rule's call_webhook requests; shown once, on create.
    sa.Column("secret", sa.String(100), nullable=False),
    # Events that happened before this moment (creation, or the last re-enable) do not fire the rule.
    sa.Column("active_since", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The relay asks which orgs have an enabled rule; the fan-out reads an org's enabled rules.
    sa.Index("ix_automations_enabled", "enabled", "org_id"),
    sa.Index("ix_automations_trigger", "org_id", "trigger"),
)

automation_runs = sa.Table(
    "automation_runs",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("automation_id", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    # pending | succeeded | failed | skipped
    sa.Column("status", sa.String(20), nullable=False),
    # How many automated hops led to this run (1: the event was caused by a person or the system).
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(500)),
    # One entry per action done so far: {index, type, status, result?, error?}.
    sa.Column("results", JSONType, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_token", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.UniqueConstraint("org_id", "automation_id", "event_id", name="uq_automation_runs_event"),
    sa.Index("ix_automation_runs_log", "org_id", "automation_id", "id"),
    sa.Index("ix_automation_runs_status", "org_id", "automation_id", "status", "id"),
    # The workers' claim: due pending runs of every org, oldest first.
    sa.Index("ix_automation_runs_due", "next_attempt_at",
             sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'")),
)
