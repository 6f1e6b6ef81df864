"""Realtime across processes: an event made through server process A reaches an SSE subscriber
connected to server process B (two real `kith serve` processes on one database)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.test_realtime import Stream, subscribe
from tests.conftest import Persona
from tests.integration.test_multiprocess import two_servers  # noqa: F401  (the fixture)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql", "sqlite"], indirect=True)
async def test_an_event_made_on_process_a_reaches_a_subscriber_on_process_b(
        two_servers: tuple[list[str], dict[str, str]]) -> None:  # noqa: F811
    (a, b), creds = two_servers
    admin = Persona("admin", creds["user_id"], creds["api_key"], "", ("crm-admin",), creds["org_id"])
    channel = f"org:{creds['org_id']}:crm:pipeline"
    async with subscribe(b, admin, channel) as stream, httpx.AsyncClient(base_url=a, timeout=30) as client:
        started = time.monotonic()
        made = await client.post("/api/v1/deals", json={"title": "Made on A"}, headers=admin.h)
        assert made.status_code == 201, made.text

        def arrived(s: Stream) -> bool:
            return any(e.type == "deal.created" and e.data["data"]["after"]["id"] == made.json()["id"]
                       for e in s.events)

        await stream.until(arrived, timeout=15)
        latency = time.monotonic() - started
    # NOTIFY on PostgreSQL, a 0.2 s poll on SQLite: well under the 1 s fallback poll either way
    assert latency < 5, latency
