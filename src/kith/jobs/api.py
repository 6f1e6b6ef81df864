"""Scheduled-job routes (crm-admin): list with next runs, run one now. Thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, WRITE, router
from kith.jobs import service
from kith.jobs.schemas import JobList, JobRunOut, JobRunRequest

api = router("jobs")
Name = Annotated[str, Path(max_length=80)]


@api.get("/jobs", response_model=JobList, responses=READ, summary="Scheduled jobs and their next runs")
async def list_jobs(actor: CurrentActor, uow: Uow) -> r.JSON:
    """Every scheduled job (seed 004 §10) with its schedule, the current period, whether it is due,
    its next run and its last run for your org. crm-admin."""
    return r.JSON({"data": await service.list_for(uow, actor)})


@api.post("/jobs/{name}/run", response_model=JobRunOut, responses=WRITE, summary="Run a job now")
async def run_job(name: Name, actor: CurrentActor, uow: Uow, body: JobRunRequest | None = None) -> r.JSON:
    """Run the job for your org now. Idempotent per period: when the current period already ran,
    nothing happens and `ran` is false, unless `force` is true. crm-admin."""
    cmd = body or JobRunRequest()
    return r.JSON(await service.run_for(uow, actor, name, at=cmd.at, force=cmd.force))
