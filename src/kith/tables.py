"""Imports every slice's tables so ``metadata`` is complete (Alembic, tests, `kith migrate`)."""

from kith.companies import tables as companies_tables
from kith.contacts import tables as contacts_tables
from kith.core.db import metadata
from kith.core.events import event_refs, events
from kith.customfields import tables as customfields_tables
from kith.leads import tables as leads_tables
from kith.orgs import tables as orgs_tables
from kith.pipelines import tables as pipelines_tables
from kith.records import tables as records_tables
from kith.visitors import tables as visitors_tables

__all__ = [
    "companies_tables", "contacts_tables", "customfields_tables", "event_refs", "events", "leads_tables",
    "metadata", "orgs_tables", "pipelines_tables", "records_tables", "visitors_tables",
]
from kith.http import idempotency as http_idempotency  # noqa: E402,F401
