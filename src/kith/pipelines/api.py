"""Pipeline routes: deal pipelines with their ordered stages, and the org's company-stage list.
Reading needs pipeline:read (everyone); changing needs pipeline:manage (crm-admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.responses import Response

from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Uow
from kith.http.routing import READ, WRITE, router
from kith.pipelines import service
from kith.pipelines.schemas import (
    CompanyStagesPatch,
    PipelineCreate,
    PipelineList,
    PipelineOut,
    PipelinePatch,
    StagesPatch,
)

api = router("pipelines")
Id = Annotated[str, Path(max_length=40)]


@api.get("/pipelines", response_model=PipelineList, responses=READ, summary="List deal pipelines")
async def list_pipelines(actor: CurrentActor, uow: Uow) -> r.JSON:
    """Every deal pipeline of the org (the default first), each with its stages in order."""
    return r.JSON({"data": await service.list_pipelines(uow, actor)})


@api.post("/pipelines", response_model=PipelineOut, status_code=201, responses=WRITE, summary="Create a pipeline")
async def create_pipeline(body: PipelineCreate, actor: CurrentActor, uow: Uow) -> r.JSON:
    """A new deal pipeline (pipeline:manage). `stages` in order (default: the standard ones, with
    `closed won` / `closed lost` as the won and lost outcomes); `is_default: true` makes it the
    org's default (the previous default stops being one)."""
    row = await service.create_pipeline(uow, actor, body)
    return r.record(row, 201, {"Location": f"/api/v1/pipelines/{row['id']}"})


@api.get("/pipelines/{pipeline_id}", response_model=PipelineOut, responses=READ, summary="Get a pipeline")
async def get_pipeline(pipeline_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_pipeline(uow, actor, pipeline_id))


@api.patch("/pipelines/{pipeline_id}", response_model=PipelineOut, responses=WRITE, summary="Update a pipeline")
async def update_pipeline(pipeline_id: Id, body: PipelinePatch, actor: CurrentActor, uow: Uow,
                          version: IfMatch) -> r.JSON:
    """Rename it, or `is_default: true` to make it the default."""
    return r.record(await service.update_pipeline(uow, actor, pipeline_id, body, version))


@api.delete("/pipelines/{pipeline_id}", status_code=204, responses=WRITE, summary="Delete a pipeline")
async def delete_pipeline(pipeline_id: Id, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """409 for the default pipeline, and for one still holding deals (trash included)."""
    await service.delete_pipeline(uow, actor, pipeline_id, version)
    return Response(status_code=204)


@api.patch("/pipelines/{pipeline_id}/stages", response_model=PipelineOut, responses=WRITE,
           summary="Replace a pipeline's stages")
async def replace_stages(pipeline_id: Id, body: StagesPatch, actor: CurrentActor, uow: Uow,
                         version: IfMatch) -> r.JSON:
    """Send the full ordered list: a stage with an `id` is kept (renamed, re-ordered, its
    probability, rot period or outcome changed), one without is created, one left out is deleted.
    A deleted stage holding deals (trash included) needs `move_deals_to: {deleted id: kept id}`;
    each deal moves there with a `deal.stage-moved` event, so no deal is ever lost. Deals that
    follow a stage's probability follow its new one. Names are unique per pipeline; at least one
    open stage; at most one `won` and one `lost` outcome."""
    return r.record(await service.replace_stages(uow, actor, pipeline_id, body, version))


@api.get("/company-stages", response_model=PipelineOut, responses=READ, summary="The company-stage list")
async def company_stages(actor: CurrentActor, uow: Uow) -> r.JSON:
    """The org's company stages in order (companies and the widget name them)."""
    return r.record(await service.company_stages(uow, actor))


@api.patch("/company-stages", response_model=PipelineOut, responses=WRITE, summary="Replace the company stages")
async def replace_company_stages(body: CompanyStagesPatch, actor: CurrentActor, uow: Uow, version: IfMatch
                                 ) -> r.JSON:
    """The full ordered list, as for a pipeline's stages. Renaming a stage renames it on its
    companies; a deleted stage some company is in needs `move_companies_to: {deleted id: kept id}`
    (each company gets a `company.stage-changed` event). The order is what the widget's
    `advance_only` mode follows."""
    return r.record(await service.replace_company_stages(uow, actor, body, version))
