"""Sales-process workflows (seed 004 §7): one row per workflow run on a deal, one row per task it
created. The tasks themselves are activities of type ``task`` (so they show in "my open tasks" and
timelines); ``workflow_tasks`` links each to its workflow, stage and template task key.

At most one *active* workflow per deal (partial unique index); finished ones stay as history.
``workflow_templates`` holds an org's own templates beside the built-in ones of ``model.TEMPLATES``.
"""

from __future__ import annotations

import sqlalchemy as sa

from kith.core.db import JSONType, UTCDateTime, metadata

_active = sa.text("status = 'active'")

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("deal_id", sa.String(40), nullable=False),
    sa.Column("template_id", sa.String(60), nullable=False),
    # The template as it was at start (model.template_as_dict): later edits do not touch running workflows.
    sa.Column("template", JSONType, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active | completed | cancelled
    sa.Column("current_stage", sa.String(60), nullable=False),
    # [{stage, entered_at, completed_at, forced_by}] in order of entry
    sa.Column("history", JSONType, nullable=False),
    # {guard_id: {by, at}}: guards of kind "confirmation" somebody confirmed
    sa.Column("confirmed", JSONType, nullable=False),
    sa.Column("started_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime()),
    sa.Column("cancelled_at", UTCDateTime()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.ForeignKeyConstraint(["org_id", "deal_id"], ["deals.org_id", "deals.id"], ondelete="CASCADE"),
    sa.Index("ix_workflows_deal", "org_id", "deal_id", "created_at"),
    sa.Index("ux_workflows_active_deal", "org_id", "deal_id", unique=True,
             sqlite_where=_active, postgresql_where=_active),
)

workflow_tasks = sa.Table(
    "workflow_tasks",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("activity_id", sa.String(40), primary_key=True),
    sa.Column("workflow_id", sa.String(40), nullable=False),
    sa.Column("stage", sa.String(60), nullable=False),
    sa.Column("task_key", sa.String(60), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["org_id", "workflow_id"], ["workflows.org_id", "workflows.id"], ondelete="CASCADE"),
    sa.Index("ix_workflow_tasks_workflow", "org_id", "workflow_id", "position"),
)

workflow_templates = sa.Table(
    "workflow_templates",
    metadata,
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), primary_key=True),
    sa.Column("id", sa.String(60), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("definition", JSONType, nullable=False),  # model.template_as_dict(...)
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)
