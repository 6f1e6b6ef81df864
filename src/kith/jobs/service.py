"""Running scheduled jobs: at most once per (org, job, period), on demand or from the worker.

The claim is the ``job_runs`` row, inserted (``ON CONFLICT DO NOTHING``) in the same write
transaction as the job's work: a second run in the same period — another worker, a CLI run —
either sees the row or waits for the first transaction and then sees it, and does nothing; a run
that fails rolls its claim back with its writes, so the period is tried again at the next check.
``force`` runs anyway (the row counts ``runs`` and is marked ``forced``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import NotFound, invalid
from kith.core.outbox import insert_ignoring_duplicates
from kith.core.uow import UnitOfWork
from kith.jobs.base import Job, JobContext
from kith.jobs.model import Every, zone
from kith.jobs.registry import BY_NAME, JOBS
from kith.jobs.tables import job_runs
from kith.orgs.tables import orgs

PERMISSION = "org:manage"  # listing and running jobs is org administration (crm-admin)
# Runs of sub-daily jobs are kept a week (48 a day for a 30-minute job); daily and weekly ones stay.
FREQUENT_RUNS_KEPT = timedelta(days=7)

j = job_runs.c


async def claim(uow: UnitOfWork, row: dict[str, Any]) -> bool:
    """Insert the run's ``job_runs`` row unless it exists; whether it was inserted (RETURNING, as
    the driver's rowcount is not reliable for ``ON CONFLICT DO NOTHING`` on every backend)."""
    stmt = insert_ignoring_duplicates(uow.backend, job_runs).values(**row).returning(j.job)
    return (await uow.execute(stmt)).first() is not None


def get_job(name: str) -> Job:
    job = BY_NAME.get(name)
    if job is None:
        raise NotFound(f"no job {name!r}; jobs are {[x.name for x in JOBS]}", extra={"id": name})
    return job


async def org_timezone(uow: UnitOfWork, org_id: str) -> str | None:
    row = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).first()
    if row is None:
        raise NotFound(f"org {org_id!r} does not exist", extra={"id": org_id})
    tz: str | None = (row.settings or {}).get("timezone")
    return tz


def _check_at(at: datetime | None) -> datetime:
    if at is None:
        return clock.now()
    if at.tzinfo is None:
        raise invalid("at", "give a timezone, e.g. 2026-12-03T08:00:00Z")
    return at


async def run_job(uow: UnitOfWork, org_id: str, name: str, *, at: datetime | None = None,
                  force: bool = False) -> dict[str, Any]:
    """Run ``name`` for ``org_id`` for the period holding ``at`` (default now), unless that period
    already ran (``ran: false``) or ``force``."""
    job, at = get_job(name), _check_at(at)
    async with uow.transaction(write=True):
        tz = zone(await org_timezone(uow, org_id))
        period = job.schedule.period(at, tz)
        started: datetime = clock.now()
        row: dict[str, Any] = {"org_id": org_id, "job": name, "period_key": period.key, "started_at": started,
               "finished_at": None, "runs": 1, "forced": force, "result": {}}
        claimed = await claim(uow, row)
        if not claimed and not force:
            last = (await uow.execute(sa.select(j.started_at, j.result).where(
                j.org_id == org_id, j.job == name, j.period_key == period.key))).first()
            return _outcome(name, org_id, period.key, False, last.result if last else {},
                            last.started_at if last else None)
        if not claimed:
            await uow.execute(job_runs.update().where(j.org_id == org_id, j.job == name, j.period_key == period.key)
                              .values(runs=j.runs + 1, forced=True, started_at=started))
        result = await job.fn(JobContext(uow, org_id, period, at, tz, force))
        await uow.execute(job_runs.update().where(j.org_id == org_id, j.job == name, j.period_key == period.key)
                          .values(finished_at=clock.now(), result=result))
        if isinstance(job.schedule, Every):
            await uow.execute(job_runs.delete().where(j.org_id == org_id, j.job == name,
                                                      j.started_at < started - FREQUENT_RUNS_KEPT))
    return _outcome(name, org_id, period.key, True, result, started)


def _outcome(name: str, org_id: str, key: str, ran: bool, result: dict[str, Any], at: datetime | None
             ) -> dict[str, Any]:
    return {"job": name, "org_id": org_id, "period_key": key, "ran": ran, "result": result, "run_at": at}


async def due_jobs(uow: UnitOfWork, org_id: str, tz_name: str | None, at: datetime) -> list[str]:
    """The jobs whose current period has not run yet for the org (one indexed read)."""
    tz = zone(tz_name)
    keys = {job.name: job.schedule.period(at, tz).key for job in JOBS}
    async with uow.transaction():
        done = {(r.job, r.period_key) for r in await uow.execute(sa.select(j.job, j.period_key).where(
            j.org_id == org_id, j.job.in_(sorted(keys)), j.period_key.in_(sorted(set(keys.values())))))}
    return [name for name, key in keys.items() if (name, key) not in done]


async def list_jobs(uow: UnitOfWork, org_id: str, at: datetime | None = None) -> list[dict[str, Any]]:
    """Every job with its schedule, last run and next run for the org."""
    at = _check_at(at)
    out = []
    async with uow.transaction():
        tz = zone(await org_timezone(uow, org_id))
        for job in JOBS:
            period = job.schedule.period(at, tz)
            last = (await uow.execute(sa.select(j.period_key, j.started_at, j.finished_at, j.result, j.runs)
                                      .where(j.org_id == org_id, j.job == job.name)
                                      .order_by(j.started_at.desc()).limit(1))).first()
            done = (await uow.execute(sa.select(j.period_key).where(
                j.org_id == org_id, j.job == job.name, j.period_key == period.key))).first() is not None
            out.append({
                "name": job.name, "description": job.description, "schedule": job.schedule_label,
                "period_key": period.key, "due": not done,
                "next_run_at": period.end if done else max(period.start, at),
                "last_run": None if last is None else {
                    "period_key": last.period_key, "started_at": last.started_at,
                    "finished_at": last.finished_at, "runs": last.runs, "result": last.result},
            })
    return out


# --- the API's door: crm-admin, the caller's own org -------------------------------------------------------

async def list_for(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    require(actor, PERMISSION)
    return await list_jobs(uow, actor.org_id)


async def run_for(uow: UnitOfWork, actor: Actor, name: str, *, at: datetime | None = None,
                  force: bool = False) -> dict[str, Any]:
    require(actor, PERMISSION)
    return await run_job(uow, actor.org_id, name, at=at, force=force)

