"""The in-app inbox: one row per notification per user; ``read_at`` marks it read."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

_unread = sa.text("read_at IS NULL")

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("subject_type", sa.String(40)),
    sa.Column("subject_id", sa.String(64)),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("read_at", UTCDateTime()),
    sa.Index("ix_notifications_user", "org_id", "user_id", "id"),
    sa.Index("ix_notifications_unread", "org_id", "user_id", "id", sqlite_where=_unread, postgresql_where=_unread),
)
