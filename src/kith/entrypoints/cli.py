"""The `kith` command line: adapters only — parse, call a service, render."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from kith.auth.model import Actor
from kith.config import Settings
from kith.core import migrate as migrations
from kith.core.db import Database
from kith.core.errors import KithError, NotFound
from kith.core.uow import UnitOfWork
from kith.jobs.cli import jobs_app
from kith.orgs import service as orgs
from kith.orgs.schemas import ApiKeyCreate, UserCreate

app = typer.Typer(help="Kith: an API-first CRM server.", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")  # kith.jobs.cli, docs/jobs.md
console = Console(stderr=True)
T = TypeVar("T")

DbOpt = Annotated[str | None, typer.Option("--db", envvar="KITH_DATABASE_URL",
                                           help="Database URL (default sqlite:///./kith.db).")]
OrgOpt = Annotated[str | None, typer.Option("--org", help="Org id or name (optional with one org).")]


def _settings(db: str | None) -> Settings:
    return Settings.from_env(database_url=db)


def _run(url: str, fn: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        database = Database(url)
        try:
            return await fn(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except KithError as exc:
        problem = exc.problem()
        console.print(f"[red]error[/red] ({problem['status']} {exc.code}): {exc.detail}")
        for e in exc.errors:
            console.print(f"  {e.field}: {e.message}")
        raise typer.Exit(code=2) from None


async def _admin_actor(db: Database, org: str | None) -> Actor:
    found = await orgs.find_org(UnitOfWork(db), org)
    return Actor.system(found["id"])


@app.command()
def migrate(db: DbOpt = None) -> None:
    """Create or upgrade the schema to the newest migration."""
    url = _settings(db).database_url
    migrations.upgrade(url)
    console.print(f"schema at {migrations.current(url)} on {url.split('@')[-1]}")


@app.command()
def init(
    db: DbOpt = None,
    org: Annotated[str, typer.Option("--org", help="Name of the org to create.")] = "Demo",
    admin_email: Annotated[str, typer.Option("--admin-email")] = "admin@example.com",
    admin_password: Annotated[str | None, typer.Option("--admin-password",
                                                       help="Generated when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {org_id, user_id, api_key, widget_key}.")] = False,
    if_new: Annotated[bool, typer.Option("--if-new", help="Do nothing when the database already has an org.")]
    = False,
) -> None:
    """Create the schema, an org, its crm-admin and an API key. Run again with another --org to add an org."""
    import secrets

    url = _settings(db).database_url
    migrations.upgrade(url)
    password = admin_password or secrets.token_urlsafe(12)

    async def go(database: Database) -> dict[str, Any] | None:
        if if_new:
            try:
                await orgs.find_org(UnitOfWork(database), None)
                return None
            except KithError:
                pass
        result = await orgs.create_org(UnitOfWork(database), name=org, admin_email=admin_email,
                                       admin_password=password)
        return result.as_dict()

    out = _run(url, go)
    if out is None:
        console.print("the database already holds an org; nothing to do")
        return
    if as_json:
        typer.echo(json.dumps(out))
        return
    console.print(f"[green]created org[/green] {org} ({out['org_id']})")
    console.print(f"  admin login:  {admin_email} / {password}")
    console.print(f"  admin API key (shown once): {out['api_key']}")
    console.print(f"  widget key:   {out['widget_key']}")


@app.command()
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option("--host", envvar="KITH_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="KITH_PORT", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Server processes.")] = 1,
    embedded_worker: Annotated[bool, typer.Option(
        "--worker/--no-worker", envvar="KITH_EMBEDDED_WORKER",
        help="Run the worker (outbox relay, webhook deliveries) inside each server process.")] = True,
) -> None:
    """Serve the API (and, later, the UI) with uvicorn, with an in-process worker unless --no-worker."""
    import os

    import uvicorn

    url = _settings(db).database_url
    migrations.upgrade(url)
    os.environ["KITH_DATABASE_URL"] = url
    os.environ["KITH_EMBEDDED_WORKER"] = "true" if embedded_worker else "false"
    console.print(f"Kith on http://{host}:{port}  (API docs: http://{host}:{port}/api/v1/docs)")
    uvicorn.run("kith.entrypoints.app:create_app", factory=True, host=host, port=port, workers=workers,
                loop="auto", http="auto", log_level="warning", access_log=False,
                # open realtime streams never finish by themselves: end them this long after a stop
                timeout_graceful_shutdown=5)


@app.command()
def worker(
    db: DbOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Do what is due now, then exit (tests, cron).")] = False,
) -> None:
    """Run the worker alone: relay committed events and deliver webhooks. Run several against one
    PostgreSQL to scale out (they never hold the same delivery at once); on SQLite run one."""
    import logging
    import signal

    from kith.worker.runner import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per delivery is the delivery log's job
    settings = _settings(db)
    migrations.upgrade(settings.database_url)

    async def go(database: Database) -> int:
        w = Worker(database, settings)
        if once:
            try:
                return await w.run_once()
            finally:
                await w.aclose()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.stop)
        console.print(f"worker running on {database.backend} (Ctrl-C to stop)")
        await w.run()
        return 0

    done = _run(settings.database_url, go)
    if once:
        console.print(f"worker: {done} event(s)/deliveries handled")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option("--name")],
    roles: Annotated[str, typer.Option("--roles", help="Comma-separated, e.g. sales-rep,marketing")],
    password: Annotated[str | None, typer.Option("--password")] = None,
    manager_id: Annotated[str | None, typer.Option("--manager-id")] = None,
    with_key: Annotated[bool, typer.Option("--with-key", help="Also issue an API key.")] = False,
    db: DbOpt = None,
    org: OrgOpt = None,
) -> None:
    """Add a user to the org."""
    from pydantic import ValidationError

    try:
        cmd = UserCreate(email=email, name=name, password=password, manager_id=manager_id,
                         roles=[r.strip() for r in roles.split(",") if r.strip()])
    except ValidationError as exc:
        for e in exc.errors():
            console.print(f"[red]error[/red] {'.'.join(map(str, e['loc']))}: {e['msg']}")
        raise typer.Exit(code=2) from None

    async def go(database: Database) -> dict[str, Any]:
        actor = await _admin_actor(database, org)
        user = await orgs.create_user(UnitOfWork(database), actor, cmd)
        if with_key:
            _, user["api_key"] = await orgs.create_api_key(UnitOfWork(database), actor, user["id"],
                                                           ApiKeyCreate(name="cli"))
        return user

    user = _run(_settings(db).database_url, go)
    typer.echo(json.dumps({k: user[k] for k in ("id", "email", "roles", "api_key") if k in user}))


@users_app.command("list")
def users_list(db: DbOpt = None, org: OrgOpt = None) -> None:
    """List the org's users."""
    async def go(database: Database) -> list[dict[str, Any]]:
        return await orgs.list_users(UnitOfWork(database), await _admin_actor(database, org))

    for u in _run(_settings(db).database_url, go):
        typer.echo(f"{u['id']}  {u['email']:<40} {','.join(u['roles'])}{'' if u['is_active'] else '  (inactive)'}")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="User id or email.")],
    name: Annotated[str, typer.Option("--name")] = "cli",
    db: DbOpt = None,
    org: OrgOpt = None,
) -> None:
    """Issue an API key for a user; prints the key once."""
    async def go(database: Database) -> tuple[dict[str, Any], str]:
        actor = await _admin_actor(database, org)
        users = await orgs.list_users(UnitOfWork(database), actor)
        match = [u for u in users if user in (u["id"], u["email"])]
        if not match:
            raise NotFound(f"no user {user!r} in this org")
        return await orgs.create_api_key(UnitOfWork(database), actor, match[0]["id"], ApiKeyCreate(name=name))

    row, key = _run(_settings(db).database_url, go)
    typer.echo(json.dumps({"id": row["id"], "user_id": row["user_id"], "key": key}))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument()], db: DbOpt = None, org: OrgOpt = None) -> None:
    """Revoke an API key by id: it fails at once."""
    async def go(database: Database) -> dict[str, Any]:
        return await orgs.revoke_api_key(UnitOfWork(database), await _admin_actor(database, org), key_id)

    row = _run(_settings(db).database_url, go)
    typer.echo(f"revoked {row['id']} at {row['revoked_at'].isoformat()}")


@app.command("export")
def export_records(
    object_: Annotated[str, typer.Argument(metavar="OBJECT", help="contacts|companies|deals|leads|activities|tickets")],
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx (default: from --output's suffix, else csv).")]
    = "",
    output: Annotated[str | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="field=value, as on the list; repeatable.")]
    = None,
    q: Annotated[str | None, typer.Option("--q", help="Text search, as on the list.")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="As on the list, e.g. -created_at.")] = None,
    db: DbOpt = None,
    org: OrgOpt = None,
) -> None:
    """Export a list (everything in it, as crm-admin) as CSV or XLSX, with the list's filters."""
    from pathlib import Path

    from kith.exports.cli import export_to, parse_filters
    from kith.exports.model import Format

    path = Path(output) if output else None
    chosen = fmt or (path.suffix.lstrip(".").lower() if path and path.suffix.lower() == ".xlsx" else "csv")
    if chosen not in {f.value for f in Format}:
        console.print(f"[red]error[/red]: --format must be csv or xlsx, not {chosen!r}")
        raise typer.Exit(code=2)
    if chosen == "xlsx" and path is None:
        console.print("[red]error[/red]: an XLSX export needs --output FILE")
        raise typer.Exit(code=2)

    async def go(database: Database) -> int:
        actor = await _admin_actor(database, org)
        return await export_to(database, actor, object_, Format(chosen), path,
                               filters=parse_filters(filters or []), q=q, sort=sort)

    count = _run(_settings(db).database_url, go)
    if path is not None:
        console.print(f"exported {count} {object_} to {path}")


@app.command("import")
def import_(
    object_: Annotated[str, typer.Argument(metavar="OBJECT", help="contacts | companies | leads | deals")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .xlsx file.")],
    db: DbOpt = None,
    org: OrgOpt = None,
    mode: Annotated[str, typer.Option("--mode", help="create | update | upsert")] = "create",
    match: Annotated[str | None, typer.Option("--match", help="Field rows are matched on (email, domain, …).")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help='Column override, e.g. --map "E-mail=email".')] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write no record.")] = False,
    errors: Annotated[Path | None, typer.Option("--errors", help="Write the per-row error report (CSV) here.")] = None,
) -> None:
    """Import a CSV/XLSX file in this process, with a progress bar (rows/s). Run it again after an
    interruption: it resumes after the last batch written (docs/imports.md)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from kith.imports import mapping as import_mapping
    from kith.imports import service as import_service

    settings = _settings(db)
    size = file.stat().st_size

    async def go(database: Database) -> dict[str, Any]:
        actor = await _admin_actor(database, org)
        overrides = import_mapping.parse_overrides(map_ or [])
        with Progress(TextColumn("[bold]import[/bold] {task.fields[obj]}"), BarColumn(),
                      TextColumn("{task.completed:,.0f} rows"), TextColumn("{task.fields[rate]} rows/s"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task("import", total=None, obj=object_, rate="-")
            started = time.monotonic()

            def progress(rows: int) -> None:
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=rows, rate=f"{rows / elapsed:,.0f}")

            result = await import_service.run_local(database, actor, obj=object_, mode=mode, match=match,
                                                    overrides=overrides, dry_run=dry_run, path=file,
                                                    progress=progress)
        if errors is not None:
            with errors.open("w", newline="", encoding="utf-8") as out:
                out.write("row,field,message\n")
                async for row in import_service.error_rows(UnitOfWork(database), actor, result["id"]):
                    import_service.write_csv([row], out)
        return result

    result = _run(settings.database_url, go)
    c = result
    console.print(f"import {c['id']} {c['status']}: {c['rows_done']:,} rows ({size:,} bytes) — created "
                  f"{c['created']:,}, updated {c['updated']:,}, unchanged {c['unchanged']:,}, "
                  f"errors {c['errors']:,}{' (dry run: nothing written)' if c['dry_run'] else ''}")
    if c["status"] == "failed":
        console.print(f"[red]failed[/red]: {c['failure']}")
        raise typer.Exit(code=2)
    typer.echo(json.dumps({"id": c["id"], "status": c["status"], "counts": {
        "rows": c["rows_done"], "created": c["created"], "updated": c["updated"],
        "skipped": c["unchanged"] + c["errors"], "errors": c["errors"]}}))


def main() -> None:
    app(prog_name="kith")


if __name__ == "__main__":
    main()
