"""Imports every slice's tables so ``metadata`` is complete (Alembic, tests, `kith migrate`)."""

from kith.activities import tables as activities_tables
from kith.companies import tables as companies_tables
from kith.contacts import tables as contacts_tables
from kith.core.db import metadata
from kith.core.events import event_refs, events
from kith.core.outbox import outbox_cursors, outbox_marks
from kith.customfields import tables as customfields_tables
from kith.deals import tables as deals_tables
from kith.leads import tables as leads_tables
from kith.notifications import tables as notifications_tables
from kith.orgs import tables as orgs_tables
from kith.pipelines import tables as pipelines_tables
from kith.products import tables as products_tables
from kith.records import tables as records_tables
from kith.visitors import tables as visitors_tables
from kith.webhooks import tables as webhooks_tables
from kith.workflows import tables as workflows_tables

__all__ = [
    "activities_tables", "deals_tables", "notifications_tables", "products_tables", "workflows_tables",
    "companies_tables", "contacts_tables", "customfields_tables", "event_refs", "events", "leads_tables",
    "metadata", "orgs_tables", "pipelines_tables", "records_tables", "visitors_tables",
    "outbox_cursors", "outbox_marks", "webhooks_tables",
]
from kith.analytics import tables as analytics_tables  # noqa: E402,F401
from kith.automation import tables as automation_tables  # noqa: E402,F401  (ix_contacts_automation)
from kith.automations import tables as automations_tables  # noqa: E402,F401
from kith.http import idempotency as http_idempotency  # noqa: E402,F401
from kith.imports import tables as imports_tables  # noqa: E402,F401
from kith.jobs import tables as jobs_tables  # noqa: E402,F401
from kith.telephony import tables as telephony_tables  # noqa: E402,F401
from kith.tickets import tables as tickets_tables  # noqa: E402,F401
from kith.web import reveal as web_reveal  # noqa: E402,F401  (web_reveals, migration 0022)
from kith.web import tables as web_tables  # noqa: E402,F401
