"""Two real server processes on one PostgreSQL: concurrent widget identify calls for one email,
split across both, make exactly one contact; a key revoked through one fails at once on the other."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_cli import init


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    creds = init(db_url, "Multi")
    env = {**os.environ, "KITH_DATABASE_URL": db_url}
    procs, urls = [], []
    try:
        for i in range(2):
            port = _free_port()
            with open(tmp_path / f"server{i}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "kith.entrypoints.cli", "serve", "--port", str(port)],
                    env=env, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    logs = [(tmp_path / f"server{i}.log").read_text() for i in range(2)]
                    raise AssertionError(f"server did not start: {logs}")
                time.sleep(0.2)
        yield urls, creds
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_identify_from_two_processes_makes_one_contact(two_servers: tuple[list[str], dict[str, str]]) -> None:
    urls, creds = two_servers
    headers = {"X-Kith-Widget-Key": creds["widget_key"]}
    async with httpx.AsyncClient(timeout=30) as client:
        calls = [client.post(f"{urls[i % 2]}/api/v1/widget/identify", headers=headers,
                             json={"visitor_id": f"visitor-{i}", "email": "Same.Person@Race.test"})
                 for i in range(32)]
        responses = await asyncio.gather(*calls)
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
        assert len({r.json()["contact"]["id"] for r in responses}) == 1
        auth = {"Authorization": f"Bearer {creds['api_key']}"}
        listed = await client.get(f"{urls[0]}/api/v1/contacts", params={"email": "same.person@race.test"},
                                  headers=auth)
        assert len(listed.json()["data"]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_key_revoked_on_one_process_fails_at_once_on_the_other(
        two_servers: tuple[list[str], dict[str, str]]) -> None:
    urls, creds = two_servers
    admin = {"Authorization": f"Bearer {creds['api_key']}"}
    made = httpx.post(f"{urls[0]}/api/v1/users/{creds['user_id']}/api-keys", json={"name": "temp"}, headers=admin)
    key = made.json()
    temp = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.get(f"{urls[1]}/api/v1/org", headers=temp).status_code == 200
    assert httpx.delete(f"{urls[0]}/api/v1/api-keys/{key['id']}", headers=admin).status_code == 200
    assert httpx.get(f"{urls[1]}/api/v1/org", headers=temp).status_code == 401
