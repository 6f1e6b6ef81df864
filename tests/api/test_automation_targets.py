"""Seed 002 pipeline state for bots (issue 4 point 10): ``GET /api/v1/automation/targets`` lists who an
outreach bot may contact now: automation on, status active, stage matches, not contacted recently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.automation import service
from kith.core import clock
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from tests.api.activity_helpers import PERSONAS, V1, contact, log
from tests.conftest import Org, Persona, problem

TARGETS = f"{V1}/automation/targets"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def patch(client: httpx.AsyncClient, org: Org, contact_id: str, **body: Any) -> None:
    r = await client.patch(f"{V1}/contacts/{contact_id}", json=body, headers=org.admin.h)
    assert r.status_code == 200, r.text


async def population(client: httpx.AsyncClient, org: Org) -> dict[str, str]:
    """One contact per case, named after it."""
    made = {}
    for name in ("never1", "never2", "long_ago", "recent", "off", "inactive", "deleted", "customer"):
        made[name] = (await contact(client, org.admin, name=name, owner_id=org.rep.user_id))["id"]
    await patch(client, org, made["long_ago"], last_contacted_at=(NOW - timedelta(days=10)).isoformat())
    await patch(client, org, made["recent"], last_contacted_at=(NOW - timedelta(hours=1)).isoformat())
    await patch(client, org, made["off"], automation_enabled=False)
    await patch(client, org, made["inactive"], status="inactive")
    await patch(client, org, made["customer"], stage="partner")
    assert (await client.delete(f"{V1}/contacts/{made['deleted']}", headers=org.admin.h)).status_code == 204
    return made


async def names(client: httpx.AsyncClient, who: Persona, **params: Any) -> list[str]:
    r = await client.get(TARGETS, params=params, headers=who.h)
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["data"]]


async def test_targets_are_the_uncontacted_active_automated_contacts_of_the_stage(
        client: httpx.AsyncClient, org: Org) -> None:
    await population(client, org)
    since = (NOW - timedelta(days=1)).isoformat()
    assert await names(client, org.admin, stage="lead", not_contacted_since=since) == ["never1", "never2", "long_ago"]
    assert await names(client, org.admin, stage="lead") == ["never1", "never2", "long_ago", "recent"]
    assert await names(client, org.admin, stage="partner") == ["customer"]
    assert await names(client, org.admin, stage="churned") == []
    r = await client.get(TARGETS, params={"stage": "lead"}, headers=org.admin.h)
    first = r.json()["data"][0]
    assert first["automation_enabled"] is True and first["last_contacted_at"] is None and "email_key" not in first


async def test_logging_an_outbound_communication_takes_a_contact_off_the_list(
        client: httpx.AsyncClient, org: Org) -> None:
    made = await population(client, org)
    with clock.frozen(NOW):
        await log(client, org.rep, type="email", direction="outbound", contact_id=made["never1"])
        since = (NOW - timedelta(days=1)).isoformat()
        assert await names(client, org.admin, stage="lead", not_contacted_since=since) == ["never2", "long_ago"]


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_targets_page_by_keyset_across_never_and_long_ago(client: httpx.AsyncClient, org: Org,
                                                                limit: int) -> None:
    await population(client, org)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"stage": "lead", "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(TARGETS, params=params, headers=org.admin.h)
        assert r.status_code == 200, r.text
        seen += [c["name"] for c in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["never1", "never2", "long_ago", "recent"]


@pytest.mark.parametrize("persona", PERSONAS)
async def test_every_role_reads_targets_and_never_another_orgs(client: httpx.AsyncClient, org: Org,
                                                               other_org: Org, persona: str) -> None:
    """contact:read is granted to every role in full (seed 004), so nobody's list is narrowed."""
    await contact(client, org.admin, name="ours", owner_id=org.other_rep.user_id)
    await contact(client, other_org.admin, name="theirs")
    assert await names(client, getattr(org, persona), stage="lead") == ["ours"]


@pytest.mark.parametrize("params", [
    {}, {"stage": "prospect"}, {"stage": "lead", "not_contacted_since": "2026-01-01T00:00:00"},
    {"stage": "lead", "not_contacted_since": "yesterday"}, {"stage": "lead", "limit": "0"},
    {"stage": "lead", "limit": "501"}, {"stage": "x" * 300},
])
async def test_bad_parameters_are_refused(client: httpx.AsyncClient, org: Org, params: dict[str, str]) -> None:
    problem(await client.get(TARGETS, params=params, headers=org.admin.h), 422)


async def test_a_bad_cursor_is_refused(client: httpx.AsyncClient, org: Org) -> None:
    p = problem(await client.get(TARGETS, params={"stage": "lead", "cursor": "garbage!!"}, headers=org.admin.h), 400)
    assert p["errors"][0]["field"] == "cursor"
    problem(await client.get(TARGETS, params={"stage": "lead"}), 401)


async def test_the_targets_are_read_through_their_index(db: Database, org: Org) -> None:
    if db.backend != "sqlite":
        pytest.skip("the plan is checked on SQLite")
    uow = UnitOfWork(db)
    captured: list[str] = []
    original = uow.execute

    async def spy(stmt: Any, params: Any = None) -> Any:
        captured.append(str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})))
        return await original(stmt, params)

    uow.execute = spy  # type: ignore[method-assign]
    await service.targets(uow, Actor.system(org.id), stage="lead", not_contacted_since=NOW, limit=10, cursor=None)
    assert len(captured) == 2  # the never-contacted group, then the contacted-before group
    async with db.engine.connect() as conn:
        for q in captured:
            plan = " | ".join(r[-1] for r in await conn.exec_driver_sql(sa.text(f"EXPLAIN QUERY PLAN {q}").text))
            assert "ix_contacts_automation" in plan and "TEMP B-TREE" not in plan, plan
