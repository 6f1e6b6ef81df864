"""Custom field definitions, one row per (org, object, name). The values live in each record's
``custom_fields`` JSON column; their per-field indexes are made by ``kith.customfields.sql``."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

custom_field_definitions = sa.Table(
    "custom_field_definitions",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("object", sa.String(20), nullable=False),  # contact | company
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("options", JSONType, nullable=False),  # [] unless select / multi_select
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("description", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ux_custom_field_definitions_name", "org_id", "object", "name", unique=True),
)
