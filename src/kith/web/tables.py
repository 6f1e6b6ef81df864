"""Browser sessions and saved list views.

A session row is found by the SHA-256 of the cookie's token alone (the cookie carries no org), the
one cross-org read besides API keys; the token itself is never stored."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 hex of the cookie token
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("remember", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_web_sessions_id", "id", unique=True),
    sa.Index("ix_web_sessions_user", "org_id", "user_id"),
)

saved_views = sa.Table(
    "saved_views",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("object", sa.String(40), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # {"filters": {field: value}, "q": str | None, "sort": str, "columns": [str]}
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("org_id", "user_id", "object", "name"),
)
