"""Generic record tables shared by the CRM objects: tags (for indexed tag filters) and the trash."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

# One row per (record, tag). Records also keep their tags as a JSON list for reads; this table
# exists so `?tag=vip` is an index range scan at 1M records instead of a JSON scan.
record_tags = sa.Table(
    "record_tags",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("record_type", sa.String(20), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(40), primary_key=True),
    sa.Index("ix_record_tags_record", "org_id", "record_id"),
)

# One row per trashed record: who deleted it, when, and the links removed with it, so a restore
# within the retention window can put them back.
trash = sa.Table(
    "trash",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.String(40), primary_key=True),
    sa.Column("record_type", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_by", sa.String(40)),
    sa.Column("links", JSONType, nullable=False),
    sa.Index("ix_trash_deleted", "org_id", "deleted_at"),
)
