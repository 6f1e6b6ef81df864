"""Import jobs: statuses, counts and the tuning constants. Pure; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUSES = ("queued", "running", "done", "failed")

# Rows per write transaction: big enough that per-transaction costs (commit, fsync, the progress
# update, the IN lookups) vanish per row; small enough that a killed import loses little work
# and a transaction's parameters stay far below SQLite's and PostgreSQL's bind limits.
BATCH_ROWS = 2000
# Imports with at most this many data rows write one event per record (timelines, webhooks,
# automations see each record); larger ones write only import.completed (docs/imports.md).
RECORD_EVENTS_MAX_ROWS = 10_000
# How many errors GET /imports/{id} shows; the CSV report has them all.
ERRORS_SHOWN = 100
# A worker holds an import this long per batch; a killed worker's import is taken up again after.
LEASE_SECONDS = 120
CHUNK_BYTES = 1 << 20  # the uploaded file is stored in chunks of this size


def counts(row: Mapping[str, Any]) -> dict[str, int]:
    """``rows`` read so far; ``skipped`` = rows that wrote nothing (unchanged or refused)."""
    return {"rows": int(row["rows_done"]), "created": int(row["created"]), "updated": int(row["updated"]),
            "skipped": int(row["unchanged"]) + int(row["errors"]), "errors": int(row["errors"])}
