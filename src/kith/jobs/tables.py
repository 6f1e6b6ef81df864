"""Scheduled-job bookkeeping.

``job_runs``: one row per (org, job, period) that ran — the primary key *is* the idempotency
claim: a run inserts its row in the transaction that does the job's work, so a second worker
(or a second `kith jobs run`) in the same period finds the row, or waits on it and then finds it,
and does nothing. Rows of per-owner claims (``follow-up-reminders:owner``) use the same table.

``deal_rot_alerts``: the last rot episode flagged per deal (``progress_at``: the deal's last
progress when it was flagged), so a rotting deal is flagged once per episode, not every day.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("job", sa.String(80), primary_key=True),
    sa.Column("period_key", sa.String(80), primary_key=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("runs", sa.Integer, nullable=False, server_default="1"),
    sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("result", JSONType, nullable=False),
    sa.Index("ix_job_runs_started", "org_id", "job", "started_at"),
)

deal_rot_alerts = sa.Table(
    "deal_rot_alerts",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("deal_id", sa.String(40), primary_key=True),
    sa.Column("progress_at", UTCDateTime(), nullable=False),
    sa.Column("alerted_at", UTCDateTime(), nullable=False),
)
