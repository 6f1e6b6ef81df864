"""activities slice: schema changes beyond 0007 (activities, notifications, timeline)

Indexes for the activity list filters ``type`` and ``assignee_id``, and the automation-targets
index on contacts (seed 002 pipeline state for bots, ``kith.automation.tables``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_activities_type", "activities", ["org_id", "type", "occurred_at", "id"])
    op.create_index("ix_activities_assignee", "activities", ["org_id", "assignee_id", "occurred_at", "id"])
    op.create_index("ix_contacts_automation", "contacts",
                    ["org_id", "stage", "automation_enabled", "status", "last_contacted_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_contacts_automation", table_name="contacts")
    op.drop_index("ix_activities_assignee", table_name="activities")
    op.drop_index("ix_activities_type", table_name="activities")
