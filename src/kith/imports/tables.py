"""Imports: the job row, its uploaded file (in the database, in chunks, so a worker in another
process can read it), its per-row errors, and the change log that makes a revert possible.

Invariants:
- ``imports.rows_done`` and the counts move in the same transaction as the batch they describe,
  so after a crash the row says exactly which data rows are in the database.
- ``import_changes`` holds one row per record an import created or updated (with the changed
  columns' before-image for an update), written in the batch's transaction; a revert walks it.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

imports = sa.Table(
    "imports",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("object", sa.String(20), nullable=False),  # contacts | companies | leads | deals
    sa.Column("mode", sa.String(10), nullable=False),  # create | update | upsert
    sa.Column("match", sa.String(64), nullable=False),
    sa.Column("mapping", JSONType, nullable=False),  # overrides {column: field}
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(10), nullable=False),  # queued | running | done | failed
    sa.Column("source", sa.String(10), nullable=False),  # upload (worker) | cli (in-process)
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("actor", JSONType, nullable=False),  # who runs it: {user_id, roles, team_ids, kind}
    sa.Column("record_events", sa.Boolean),  # decided on the first run (docs/imports.md)
    sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("errors", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("failure", sa.Text),
    sa.Column("lease_until", UTCDateTime()),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("reverted_at", UTCDateTime()),
    sa.Index("ix_imports_created", "org_id", "created_at", "id"),
    sa.Index("ix_imports_status", "status", "created_at"),
    sa.Index("ix_imports_sha", "org_id", "sha256"),
)

import_chunks = sa.Table(
    "import_chunks",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("import_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.ForeignKeyConstraint(["org_id", "import_id"], ["imports.org_id", "imports.id"], ondelete="CASCADE"),
)

import_errors = sa.Table(
    "import_errors",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("import_id", sa.String(40), primary_key=True),
    sa.Column("row", sa.BigInteger, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("field", sa.String(120), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(["org_id", "import_id"], ["imports.org_id", "imports.id"], ondelete="CASCADE"),
)

import_changes = sa.Table(
    "import_changes",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("import_id", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.String(40), primary_key=True),
    sa.Column("row", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(10), nullable=False),  # created | updated
    sa.Column("before", JSONType),  # updated: the changed columns' values before the import
    sa.ForeignKeyConstraint(["org_id", "import_id"], ["imports.org_id", "imports.id"], ondelete="CASCADE"),
)
