"""`kith jobs list|run` as a real process against real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from kith.config import Settings
from kith.entrypoints.app import create_app
from tests.integration.test_cli import init, kith


async def make_deal(db_url: str, key: str) -> str:
    app = create_app(Settings(database_url=db_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/api/v1/deals", json={"title": "Stuck"}, headers={"Authorization": f"Bearer {key}"})
    await app.state.db.dispose()
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def run(db_url: str, *args: str) -> dict[str, object]:
    out: dict[str, object] = json.loads(kith("jobs", "run", *args, "--db", db_url).stdout)
    return out


async def test_jobs_run_is_idempotent_per_period_unless_forced(db_url: str) -> None:
    creds = init(db_url, "Jobs")
    deal_id = await make_deal(db_url, creds["api_key"])
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    first = run(db_url, "deal-rotting", "--at", later)
    assert first["ran"] is True and first["result"] == {"deals_flagged": 1, "deals_rotting": 1}
    assert first["org_id"] == creds["org_id"]
    assert run(db_url, "deal-rotting", "--at", later)["ran"] is False
    forced = run(db_url, "deal-rotting", "--at", later, "--force", "--org", "Jobs")
    assert forced["ran"] is True and forced["result"] == {"deals_flagged": 1, "deals_rotting": 1}
    assert deal_id

    assert run(db_url, "campaign-stats-sync")["ran"] is True
    listing = kith("jobs", "list", "--db", db_url).stdout
    assert f"org {creds['org_id']}" in listing
    lines = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert set(lines) == {"deal-rotting", "follow-up-reminders", "lead-score-decay", "campaign-stats-sync",
                          "analytics-snapshot"}
    assert "(due)" not in lines["campaign-stats-sync"] and "(due)" in lines["lead-score-decay"]
    listed = json.loads(kith("jobs", "list", "--json", "--db", db_url).stdout)
    jobs = {j["name"]: j for j in listed[creds["org_id"]]}
    assert jobs["deal-rotting"]["last_run"]["runs"] == 2


def test_jobs_list_covers_every_org_and_run_needs_one(db_url: str) -> None:
    a, b = init(db_url, "Alpha"), init(db_url, "Beta")
    listing = kith("jobs", "list", "--db", db_url).stdout
    assert f"org {a['org_id']}" in listing and f"org {b['org_id']}" in listing
    ambiguous = kith("jobs", "run", "campaign-stats-sync", "--db", db_url, check=False)
    assert ambiguous.returncode == 2
    assert run(db_url, "campaign-stats-sync", "--org", "Beta")["org_id"] == b["org_id"]


def test_bad_job_names_and_times_are_refused(db_url: str) -> None:
    init(db_url, "Bad")
    unknown = kith("jobs", "run", "nope", "--db", db_url, check=False)
    assert unknown.returncode == 2 and "no job 'nope'" in unknown.stderr
    for at in ("yesterday", "2026-12-01T10:00:00"):
        bad = kith("jobs", "run", "deal-rotting", "--at", at, "--db", db_url, check=False)
        assert bad.returncode == 2 and "at:" in bad.stderr, bad.stderr
