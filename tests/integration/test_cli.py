"""The `kith` command line against real databases, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from kith.config import Settings
from kith.entrypoints.app import create_app

KITH = [sys.executable, "-m", "kith.entrypoints.cli"]


def kith(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KITH_DATABASE_URL"}
    proc = subprocess.run([*KITH, *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def init(db_url: str, org: str) -> dict[str, str]:
    proc = kith("init", "--db", db_url, "--org", org, "--admin-email", f"boss@{org.lower()}.test",
                "--admin-password", "a long password", "--json")
    out: dict[str, str] = json.loads(proc.stdout)
    return out


async def status_with(db_url: str, key: str, path: str = "/api/v1/org") -> int:
    app = create_app(Settings(database_url=db_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get(path, headers={"Authorization": f"Bearer {key}"})
    await app.state.db.dispose()
    return r.status_code


async def test_init_prints_working_credentials_and_can_add_a_second_org(db_url: str) -> None:
    first = init(db_url, "First")
    assert set(first) == {"org_id", "user_id", "api_key", "widget_key"}
    assert first["api_key"].startswith("kith_key_") and first["widget_key"].startswith("pk_")
    second = init(db_url, "Second")
    assert second["org_id"] != first["org_id"]
    assert await status_with(db_url, first["api_key"]) == 200
    assert await status_with(db_url, second["api_key"]) == 200
    again = kith("init", "--db", db_url, "--org", "First", "--json", check=False)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_init_if_new_leaves_an_existing_database_alone(db_url: str) -> None:
    init(db_url, "Only")
    proc = kith("init", "--db", db_url, "--org", "Other", "--if-new")
    assert "nothing to do" in proc.stderr
    listing = kith("users", "list", "--db", db_url)
    assert "boss@only.test" in listing.stdout


async def test_users_add_and_keys_create_and_revoke(db_url: str) -> None:
    creds = init(db_url, "Keys")
    added = json.loads(kith("users", "add", "rep@keys.test", "--name", "Rep", "--roles", "sales-rep",
                            "--db", db_url, "--with-key").stdout)
    assert added["roles"] == ["sales-rep"] and added["api_key"].startswith("kith_key_")
    assert await status_with(db_url, added["api_key"], "/api/v1/contacts") == 200

    made = json.loads(kith("keys", "create", "--user", "rep@keys.test", "--name", "ci", "--db", db_url).stdout)
    assert await status_with(db_url, made["key"]) == 200
    kith("keys", "revoke", made["id"], "--db", db_url)
    assert await status_with(db_url, made["key"]) == 401
    assert await status_with(db_url, creds["api_key"]) == 200  # other keys unaffected


def test_cli_refuses_bad_input_with_a_clear_message(db_url: str) -> None:
    init(db_url, "Bad")
    bad_role = kith("users", "add", "x@bad.test", "--name", "X", "--roles", "wizard", "--db", db_url, check=False)
    assert bad_role.returncode == 2 and "unknown role" in bad_role.stderr
    bad_email = kith("users", "add", "not-an-email", "--name", "X", "--roles", "viewer", "--db", db_url,
                     check=False)
    assert bad_email.returncode == 2 and "email" in bad_email.stderr
    unknown_key = kith("keys", "revoke", "key_nope", "--db", db_url, check=False)
    assert unknown_key.returncode == 2 and "404" in unknown_key.stderr


def test_several_orgs_require_org_flag(db_url: str) -> None:
    init(db_url, "One")
    init(db_url, "Two")
    proc = kith("users", "list", "--db", db_url, check=False)
    assert proc.returncode == 2 and "--org" in proc.stderr
    assert "boss@two.test" in kith("users", "list", "--db", db_url, "--org", "Two").stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_migrate_is_idempotent(db_url: str) -> None:
    kith("migrate", "--db", db_url)
    proc = kith("migrate", "--db", db_url)
    from alembic.script import ScriptDirectory

    from kith.core.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert f"schema at {head}" in proc.stderr
