"""Stage lookups used by other slices (company stage names, default deal pipeline)."""

from __future__ import annotations

import sqlalchemy as sa

from kith.core import clock, ids
from kith.core.uow import UnitOfWork
from kith.pipelines.tables import DEFAULT_COMPANY_STAGES, DEFAULT_DEAL_STAGES, pipelines, stages


async def create_defaults(uow: UnitOfWork, org_id: str, rot_period_days: int) -> None:
    now = clock.now()
    deal_pid, company_pid = ids.new("pipeline"), ids.new("pipeline")
    await uow.execute(
        pipelines.insert(),
        [
            {"org_id": org_id, "id": deal_pid, "kind": "deal", "name": "Sales", "is_default": True,
             "created_at": now, "updated_at": now},
            {"org_id": org_id, "id": company_pid, "kind": "company", "name": "Company stages",
             "is_default": True, "created_at": now, "updated_at": now},
        ],
    )
    rows = [
        {"org_id": org_id, "id": ids.new("stage"), "pipeline_id": deal_pid, "name": name,
         "position": i, "probability": prob, "rot_period_days": rot_period_days}
        for i, (name, prob) in enumerate(DEFAULT_DEAL_STAGES)
    ] + [
        {"org_id": org_id, "id": ids.new("stage"), "pipeline_id": company_pid, "name": name,
         "position": i, "probability": 0, "rot_period_days": None}
        for i, name in enumerate(DEFAULT_COMPANY_STAGES)
    ]
    await uow.execute(stages.insert(), rows)


async def company_stage_names(uow: UnitOfWork, org_id: str) -> list[str]:
    """The org's company stages in order."""
    q = (
        sa.select(stages.c.name)
        .select_from(stages.join(pipelines, sa.and_(
            pipelines.c.org_id == stages.c.org_id, pipelines.c.id == stages.c.pipeline_id)))
        .where(stages.c.org_id == org_id, pipelines.c.kind == "company")
        .order_by(stages.c.position)
    )
    return list((await uow.execute(q)).scalars())
