"""Tickets: a contact's support request, worked through open → pending → resolved → closed.

``number`` is the per-org sequence humans quote (#1042): unique per org, allocated under a lock on
the org row (PostgreSQL) or the database write lock (SQLite). ``due_at`` is never null (it is the
SLA target computed at creation), so it can be a keyset sort column. Erasing the contact for good
erases its tickets (``ON DELETE CASCADE``, as for leads); ``company_id`` carries no foreign key
(a composite ``SET NULL`` would null ``org_id`` too): the service checks it on write.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("priority", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("contact_id", sa.String(40), nullable=False),
    sa.Column("company_id", sa.String(40)),
    sa.Column("assignee_id", sa.String(40)),
    sa.Column("resolution", sa.Text),
    sa.Column("first_response_at", UTCDateTime()),
    sa.Column("resolved_at", UTCDateTime()),
    sa.Column("closed_at", UTCDateTime()),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.ForeignKeyConstraint(["org_id", "contact_id"], ["contacts.org_id", "contacts.id"], ondelete="CASCADE"),
    sa.Index("ux_tickets_number", "org_id", "number", unique=True),
    # One index per list filter and sort, each ending in the keyset order (created_at, id).
    sa.Index("ix_tickets_created", "org_id", "created_at", "id"),
    sa.Index("ix_tickets_updated", "org_id", "updated_at", "id"),
    sa.Index("ix_tickets_due", "org_id", "due_at", "id"),
    sa.Index("ix_tickets_subject", "org_id", "subject", "id"),
    sa.Index("ix_tickets_status", "org_id", "status", "created_at", "id"),
    sa.Index("ix_tickets_status_due", "org_id", "status", "due_at", "id"),
    sa.Index("ix_tickets_priority", "org_id", "priority", "created_at", "id"),
    sa.Index("ix_tickets_channel", "org_id", "channel", "created_at", "id"),
    sa.Index("ix_tickets_assignee", "org_id", "assignee_id", "status", "created_at", "id"),
    sa.Index("ix_tickets_contact", "org_id", "contact_id", "created_at", "id"),
    sa.Index("ix_tickets_company", "org_id", "company_id", "created_at", "id"),
)
