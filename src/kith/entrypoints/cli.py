"""The `kith` command line: adapters only — parse, call a service, render."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from kith.auth.model import Actor
from kith.config import Settings
from kith.core import migrate as migrations
from kith.core.db import Database
from kith.core.errors import KithError, NotFound
from kith.core.uow import UnitOfWork
from kith.orgs import service as orgs
from kith.orgs.schemas import ApiKeyCreate, UserCreate

app = typer.Typer(help="Kith: an API-first CRM server.", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
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
                loop="auto", http="auto", log_level="warning", access_log=False)


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


def main() -> None:
    app(prog_name="kith")


if __name__ == "__main__":
    main()
