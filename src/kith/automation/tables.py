"""The index behind ``GET /api/v1/automation/targets`` (seed 002 pipeline state for bots).

It lives on ``contacts`` but belongs to this slice: a bot asks "who in stage S, with automation on
and status active, was never contacted or last contacted before T", so the index leads with the
equality columns and ends in ``(last_contacted_at, id)``, the order the list is read in.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.contacts.tables import contacts

c = contacts.c

ix_contacts_automation = sa.Index(
    "ix_contacts_automation", c.org_id, c.stage, c.automation_enabled, c.status, c.last_contacted_at, c.id)
