"""Contacts and the contact ↔ company junction."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

_live = sa.text("deleted_at IS NULL")
_live_ext = sa.text("deleted_at IS NULL AND external_user_id IS NOT NULL")


def _dedupe_index(key: str) -> sa.Index:
    """Duplicates are looked for among live contacts with a key: a partial index holds only those,
    in key order, so grouping them is an index-only scan that stops once a page is full. It holds
    ``deleted_at`` (always NULL in it) because SQLite still reads that column to check the query's
    ``deleted_at IS NULL``: from the index, instead of one table row per entry."""
    where = sa.text(f"deleted_at IS NULL AND {key} IS NOT NULL")
    return sa.Index(f"ix_contacts_{key}", "org_id", key, "deleted_at", "id",
                    sqlite_where=where, postgresql_where=where)


contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("email", sa.String(320)),
    # The integrator's own user id (widget identify's user_id), unique among live contacts.
    sa.Column("external_user_id", sa.String(200)),
    sa.Column("phone", sa.String(50)),
    sa.Column("mobile", sa.String(50)),
    sa.Column("avatar", sa.String(2000)),
    sa.Column("title", sa.String(200)),
    sa.Column("department", sa.String(200)),
    sa.Column("role", sa.String(20)),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source", sa.String(100)),
    sa.Column("lead_score", sa.Integer, nullable=False, server_default="0"),
    sa.Column("preferred_channel", sa.String(10)),
    sa.Column("timezone", sa.String(64)),
    sa.Column("language", sa.String(35)),
    sa.Column("manager_id", sa.String(40)),
    sa.Column("linkedin_url", sa.String(2000)),
    sa.Column("twitter_handle", sa.String(100)),
    sa.Column("marketing_consent", sa.String(50)),
    sa.Column("last_engagement_at", UTCDateTime()),
    sa.Column("owner_id", sa.String(40)),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("custom_fields", JSONType, nullable=False),
    sa.Column("automation_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("last_contacted_at", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # Duplicate keys (kith.contacts.dedupe), written with their sources, never shown.
    sa.Column("email_key", sa.String(320)),
    sa.Column("phone_key", sa.String(64)),
    sa.Column("mobile_key", sa.String(64)),
    sa.Column("name_key", sa.String(200)),
    # Email is unique among live contacts: a trashed contact does not block a new one.
    sa.Index("ux_contacts_email", "org_id", "email", unique=True,
             sqlite_where=_live, postgresql_where=_live),
    sa.Index("ux_contacts_external_user_id", "org_id", "external_user_id", unique=True,
             sqlite_where=_live_ext, postgresql_where=_live_ext),
    sa.Index("ix_contacts_created", "org_id", "created_at", "id"),
    sa.Index("ix_contacts_updated", "org_id", "updated_at", "id"),
    sa.Index("ix_contacts_name", "org_id", "name", "id"),
    sa.Index("ix_contacts_score", "org_id", "lead_score", "id"),
    sa.Index("ix_contacts_stage", "org_id", "stage", "created_at", "id"),
    sa.Index("ix_contacts_status", "org_id", "status", "created_at", "id"),
    sa.Index("ix_contacts_owner", "org_id", "owner_id", "created_at", "id"),
    sa.Index("ix_contacts_source", "org_id", "source", "created_at", "id"),
    *(_dedupe_index(key) for key in ("email_key", "phone_key", "mobile_key", "name_key")),
)

contact_companies = sa.Table(
    "contact_companies",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(40), primary_key=True),
    sa.Column("company_id", sa.String(40), primary_key=True),
    sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("role", sa.String(100)),
    sa.Column("title", sa.String(200)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["org_id", "contact_id"], ["contacts.org_id", "contacts.id"]),
    sa.ForeignKeyConstraint(["org_id", "company_id"], ["companies.org_id", "companies.id"]),
    sa.Index("ix_contact_companies_company", "org_id", "company_id", "contact_id"),
)
