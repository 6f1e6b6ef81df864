"""Queries of the workflow slice (reads only; service.py writes)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.activities.tables import activities
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.orgs.tables import orgs, users
from kith.workflows.tables import workflow_tasks, workflows

DEAL_COLUMNS = (deals.c.id, deals.c.owner_id, deals.c.contact_id, deals.c.status, deals.c.amount,
                deals.c.currency, deals.c.pipeline_id, deals.c.stage_id, deals.c.deleted_at)


async def deal(uow: UnitOfWork, org_id: str, deal_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    """The live deal (not in the trash), or None."""
    q = sa.select(*DEAL_COLUMNS).where(deals.c.org_id == org_id, deals.c.id == deal_id, deals.c.deleted_at.is_(None))
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


async def workflow(uow: UnitOfWork, org_id: str, workflow_id: str, *, for_update: bool = False
                   ) -> dict[str, Any] | None:
    q = sa.select(workflows).where(workflows.c.org_id == org_id, workflows.c.id == workflow_id)
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


async def latest_for_deal(uow: UnitOfWork, org_id: str, deal_id: str, *, active_only: bool = False,
                          for_update: bool = False) -> dict[str, Any] | None:
    """The deal's active workflow, else (unless ``active_only``) its most recent one."""
    t = workflows.c
    q = sa.select(workflows).where(t.org_id == org_id, t.deal_id == deal_id)
    if active_only:
        q = q.where(t.status == "active")
    q = q.order_by(sa.case((t.status == "active", 0), else_=1), t.created_at.desc(), t.id.desc()).limit(1)
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


async def tasks(uow: UnitOfWork, org_id: str, workflow_id: str) -> list[dict[str, Any]]:
    """The workflow's tasks in creation order, with their activity's assignee and completion
    (``activity_missing`` when the activity row is gone for good)."""
    wt, a = workflow_tasks.c, activities.c
    q = (sa.select(wt.activity_id, wt.stage, wt.task_key, wt.role, wt.position, a.id.label("found"),
                   a.subject, a.assignee_id, a.due_at, a.completed_at, a.deleted_at)
         .select_from(workflow_tasks.outerjoin(activities, sa.and_(a.org_id == wt.org_id, a.id == wt.activity_id)))
         .where(wt.org_id == org_id, wt.workflow_id == workflow_id)
         .order_by(wt.position, wt.activity_id))
    out = []
    for row in (await uow.execute(q)).all():
        d = dict(row._mapping)
        d["activity_missing"] = d.pop("found") is None
        out.append(d)
    return out


async def next_position(uow: UnitOfWork, org_id: str, workflow_id: str) -> int:
    wt = workflow_tasks.c
    q = (sa.select(sa.func.coalesce(sa.func.max(wt.position), 0))
         .where(wt.org_id == org_id, wt.workflow_id == workflow_id))
    return int((await uow.execute(q)).scalar_one()) + 1


async def org_settings(uow: UnitOfWork, org_id: str) -> dict[str, Any]:
    settings = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one_or_none()
    return dict(settings or {})


async def managers_for(uow: UnitOfWork, org_id: str, owner_id: str | None) -> tuple[str | None, str | None]:
    """(the owner's manager when active, the first active sales-manager of the org)."""
    u = users.c
    owners_manager = None
    if owner_id is not None:
        q = (sa.select(u.id).select_from(users.join(
            sa.alias(users, "owner"), sa.and_(sa.literal_column("owner.org_id") == u.org_id,
                                               sa.literal_column("owner.manager_id") == u.id)))
             .where(u.org_id == org_id, sa.literal_column("owner.id") == owner_id, u.is_active.is_(True)))
        owners_manager = (await uow.execute(q)).scalar_one_or_none()
    if owners_manager is not None:
        return owners_manager, None
    q = (sa.select(u.id).where(u.org_id == org_id, u.is_active.is_(True),
                               sa.cast(u.roles, sa.Text).like('%"sales-manager"%'))
         .order_by(u.created_at, u.id).limit(1))
    return None, (await uow.execute(q)).scalar_one_or_none()


async def stage_by_name(uow: UnitOfWork, org_id: str, pipeline_id: str, name: str) -> dict[str, Any] | None:
    from kith.pipelines.tables import stages
    s = stages.c
    q = (sa.select(s.id, s.name, s.position).where(s.org_id == org_id, s.pipeline_id == pipeline_id,
                                                   sa.func.lower(s.name) == name.lower())
         .order_by(s.position).limit(1))
    row = (await uow.execute(q)).first()
    return None if row is None else dict(row._mapping)


async def stage_position(uow: UnitOfWork, org_id: str, stage_id: str) -> int | None:
    from kith.pipelines.tables import stages
    q = sa.select(stages.c.position).where(stages.c.org_id == org_id, stages.c.id == stage_id)
    pos = (await uow.execute(q)).scalar_one_or_none()
    return None if pos is None else int(pos)
