"""Stage lookups used by other slices (company stage names, the default deal pipeline, a stage
of a pipeline) and the defaults every new org gets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.core import clock, ids
from kith.core.db import Prepared
from kith.core.errors import Conflict, invalid
from kith.core.uow import UnitOfWork
from kith.pipelines.tables import (
    DEFAULT_COMPANY_STAGES,
    DEFAULT_DEAL_STAGES,
    DEFAULT_OUTCOMES,
    pipelines,
    stages,
)

STAGE_OUT = (stages.c.id, stages.c.pipeline_id, stages.c.name, stages.c.position, stages.c.probability,
             stages.c.rot_period_days, stages.c.outcome)


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
         "position": i, "probability": prob, "rot_period_days": rot_period_days,
         "outcome": DEFAULT_OUTCOMES.get(name)}
        for i, (name, prob) in enumerate(DEFAULT_DEAL_STAGES)
    ] + [
        {"org_id": org_id, "id": ids.new("stage"), "pipeline_id": company_pid, "name": name,
         "position": i, "probability": 0, "rot_period_days": None, "outcome": None}
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


async def first_open_stage(uow: UnitOfWork, org_id: str, pipeline_id: str) -> str | None:
    """The first stage (by order) of ``pipeline_id`` that is not a won/lost outcome."""
    q = (sa.select(stages.c.id).where(stages.c.org_id == org_id, stages.c.pipeline_id == pipeline_id,
                                      stages.c.outcome.is_(None))
         .order_by(stages.c.position, stages.c.id).limit(1))
    return (await uow.execute(q)).scalar_one_or_none()


async def default_deal_pipeline(uow: UnitOfWork, org_id: str) -> tuple[str, str]:
    """``(pipeline id, id of its first open stage)`` of the org's default deal pipeline.
    409 when the org has none, or it has no open stage (an admin removed them all)."""
    async with uow.transaction():
        q = sa.select(pipelines.c.id).where(pipelines.c.org_id == org_id, pipelines.c.kind == "deal",
                                            pipelines.c.is_default.is_(True))
        pipeline_id = (await uow.execute(q)).scalar_one_or_none()
        if pipeline_id is None:
            raise Conflict("the org has no default deal pipeline", extra={"field": "pipeline_id"})
        stage_id = await first_open_stage(uow, org_id, pipeline_id)
        if stage_id is None:
            raise Conflict("the default deal pipeline has no open stage", extra={"field": "stage_id"})
    return pipeline_id, stage_id


# Every move-stage reads its target stage: prepared once (kith.core.db.Prepared).
_DEAL_STAGE = Prepared(
    sa.select(*STAGE_OUT)
    .select_from(stages.join(pipelines, sa.and_(pipelines.c.org_id == stages.c.org_id,
                                                pipelines.c.id == stages.c.pipeline_id)))
    .where(stages.c.org_id == sa.bindparam("org_id"), stages.c.id == sa.bindparam("stage_id"),
           pipelines.c.kind == "deal"))


async def deal_stage(uow: UnitOfWork, org_id: str, stage_id: str, *, field: str = "stage_id") -> dict[str, Any]:
    """A stage of one of the org's deal pipelines (with its pipeline id); 422 naming ``field`` otherwise."""
    row = await uow.row(_DEAL_STAGE, {"org_id": org_id, "stage_id": stage_id})
    if row is None:
        raise invalid(field, f"no deal stage {stage_id!r} in this org")
    return dict(row)


async def deal_pipeline_exists(uow: UnitOfWork, org_id: str, pipeline_id: str) -> bool:
    q = sa.select(pipelines.c.id).where(pipelines.c.org_id == org_id, pipelines.c.id == pipeline_id,
                                        pipelines.c.kind == "deal")
    return (await uow.execute(q)).first() is not None
