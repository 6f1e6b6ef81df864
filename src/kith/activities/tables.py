"""Activities: calls, emails, meetings, notes, tasks, demos, SMS and chats (seed 002's
"communications" are activities). ``occurred_at`` is when it happened (or was logged); tasks carry
``due_at``, an ``assignee_id`` and ``completed_at``.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

_open_task = sa.text("completed_at IS NULL AND deleted_at IS NULL")

activities = sa.Table(
    "activities",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("contact_id", sa.String(40)),
    sa.Column("company_id", sa.String(40)),
    sa.Column("deal_id", sa.String(40)),
    sa.Column("lead_id", sa.String(40)),
    sa.Column("actor_id", sa.String(40)),
    sa.Column("assignee_id", sa.String(40)),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("outcome", sa.String(200)),
    sa.Column("channel", sa.String(50)),
    sa.Column("direction", sa.String(10)),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("due_at", UTCDateTime()),
    sa.Column("completed_at", UTCDateTime()),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_activities_created", "org_id", "created_at", "id"),
    sa.Index("ix_activities_contact", "org_id", "contact_id", "occurred_at", "id"),
    sa.Index("ix_activities_company", "org_id", "company_id", "occurred_at", "id"),
    sa.Index("ix_activities_deal", "org_id", "deal_id", "occurred_at", "id"),
    sa.Index("ix_activities_lead", "org_id", "lead_id", "occurred_at", "id"),
    sa.Index("ix_activities_actor", "org_id", "actor_id", "created_at", "id"),
    # 0010: the ``type`` and ``assignee_id`` list filters, in the list's default order.
    sa.Index("ix_activities_type", "org_id", "type", "occurred_at", "id"),
    sa.Index("ix_activities_assignee", "org_id", "assignee_id", "occurred_at", "id"),
    sa.Index("ix_activities_open_tasks", "org_id", "assignee_id", "due_at", "id",
             sqlite_where=_open_task, postgresql_where=_open_task),
)
