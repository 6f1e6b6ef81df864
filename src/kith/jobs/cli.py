"""`kith jobs list|run`: adapters over kith.jobs.service."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from kith.core.db import Database
from kith.core.errors import invalid
from kith.core.uow import UnitOfWork
from kith.http.responses import dumps
from kith.jobs import service
from kith.orgs import service as orgs

jobs_app = typer.Typer(help="Scheduled jobs: list them, run one now.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", envvar="KITH_DATABASE_URL",
                                           help="Database URL (default sqlite:///./kith.db).")]


def _parse_at(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid("at", f"not an ISO 8601 datetime: {raw!r}") from None
    if at.tzinfo is None:
        raise invalid("at", "give a timezone, e.g. 2026-12-03T08:00:00Z")
    return at


async def _org_ids(database: Database, org: str | None, *, every: bool) -> list[str]:
    if org is None and every:
        from kith.orgs.tables import orgs as orgs_table

        async with UnitOfWork(database).transaction() as uow:
            return [r.id for r in await uow.execute(orgs_table.select().order_by(orgs_table.c.id))]
    return [(await orgs.find_org(UnitOfWork(database), org))["id"]]


@jobs_app.command("list")
def list_jobs(db: DbOpt = None, org: Annotated[str | None, typer.Option(
        "--org", help="Org id or name (default: every org).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each job's schedule, last run and next run, per org."""
    from kith.entrypoints.cli import _run, _settings

    async def go(database: Database) -> dict[str, list[dict[str, Any]]]:
        return {org_id: await service.list_jobs(UnitOfWork(database), org_id)
                for org_id in await _org_ids(database, org, every=True)}

    found = _run(_settings(db).database_url, go)
    if as_json:
        typer.echo(dumps(found).decode())
        return
    for org_id, jobs in found.items():
        typer.echo(f"org {org_id}")
        for job in jobs:
            last = job["last_run"]["started_at"].isoformat() if job["last_run"] else "never"
            typer.echo(f"  {job['name']:<22} {job['schedule']:<66} last {last:<32} "
                       f"next {job['next_run_at'].isoformat()}{'  (due)' if job['due'] else ''}")


@jobs_app.command("run")
def run_job(
    name: Annotated[str, typer.Argument(help="The job, e.g. deal-rotting.")],
    db: DbOpt = None,
    org: Annotated[str | None, typer.Option("--org", help="Org id or name (optional with one org).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Run as if now were this ISO datetime (with zone).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Run even if this period already ran.")] = False,
) -> None:
    """Run one job now for one org (idempotent per period unless --force); prints the outcome as JSON."""
    from kith.core import clock
    from kith.entrypoints.cli import _run, _settings

    async def go(database: Database) -> dict[str, Any]:
        when = _parse_at(at)
        service.get_job(name)
        org_id = (await _org_ids(database, org, every=False))[0]
        if when is None:
            return await service.run_job(UnitOfWork(database), org_id, name, force=force)
        with clock.frozen(when):  # everything the run stamps (events, notifications) says `at`
            return await service.run_job(UnitOfWork(database), org_id, name, at=when, force=force)

    typer.echo(json.dumps(json.loads(dumps(_run(_settings(db).database_url, go)))))
