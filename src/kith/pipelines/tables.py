"""Pipelines and their ordered stages: deal pipelines and the org's one company-stage list."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import UTCDateTime, metadata

_default = sa.text("is_default")

pipelines = sa.Table(
    "pipelines",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # deal | company
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_pipelines_kind", "org_id", "kind"),
    # Exactly one default per kind: the deal pipeline new deals land in, the company-stage list.
    sa.Index("ux_pipelines_default", "org_id", "kind", unique=True, sqlite_where=_default,
             postgresql_where=_default),
)

stages = sa.Table(
    "stages",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("pipeline_id", sa.String(40), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("probability", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rot_period_days", sa.Integer),
    sa.Column("outcome", sa.String(10)),  # won | lost: moving a deal here closes it; null: an open stage
    sa.ForeignKeyConstraint(["org_id", "pipeline_id"], ["pipelines.org_id", "pipelines.id"]),
    sa.Index("ix_stages_pipeline", "org_id", "pipeline_id", "position"),
)

DEFAULT_DEAL_STAGES: tuple[tuple[str, int], ...] = (
    ("appointment", 10),
    ("qualification", 20),
    ("proposal", 50),
    ("negotiation", 80),
    ("closed won", 100),
    ("closed lost", 0),
)
# The default stages that close a deal (``stages.outcome``).
DEFAULT_OUTCOMES: dict[str, str] = {"closed won": "won", "closed lost": "lost"}
DEFAULT_COMPANY_STAGES: tuple[str, ...] = ("Lead", "Qualified", "Opportunity", "Customer", "Churned")
