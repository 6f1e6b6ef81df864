"""Helpers shared by the deal, approval, pipeline and product API tests."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from kith.core.db import Database
from kith.core.events import events
from kith.notifications.tables import notifications
from tests.conftest import Org, Persona, count_rows

V1 = "/api/v1"
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")


async def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


async def contact(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Ann Buyer")
    return await ok(await client.post(f"{V1}/contacts", json=body, headers=who.h), 201)  # type: ignore[no-any-return]


async def deal(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "A deal")
    return await ok(await client.post(f"{V1}/deals", json=body, headers=who.h), 201)  # type: ignore[no-any-return]


async def get_deal(client: httpx.AsyncClient, org: Org, deal_id: str, **params: str) -> dict[str, Any]:
    return await ok(await client.get(f"{V1}/deals/{deal_id}", params=params, headers=org.admin.h))  # type: ignore[no-any-return]


async def verb(client: httpx.AsyncClient, who: Persona, deal_id: str, name: str, body: Any = None) -> httpx.Response:
    return await client.post(f"{V1}/deals/{deal_id}/{name}", json=body, headers=who.h)


async def pipeline(client: httpx.AsyncClient, org: Org) -> dict[str, Any]:
    """The org's default deal pipeline."""
    data = (await ok(await client.get(f"{V1}/pipelines", headers=org.admin.h)))["data"]
    return next(p for p in data if p["is_default"])  # type: ignore[no-any-return]


def stage_named(p: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in p["stages"] if s["name"] == name)  # type: ignore[no-any-return]


async def events_of(db: Database, type_: str, subject_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(events).where(events.c.type == type_)
    if subject_id is not None:
        q = q.where(events.c.subject_id == subject_id)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q.order_by(events.c.id))]


async def notifications_of(db: Database, user_id: str, type_: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(notifications).where(notifications.c.user_id == user_id)
    if type_ is not None:
        q = q.where(notifications.c.type == type_)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q.order_by(notifications.c.id))]


async def snapshot(client: httpx.AsyncClient, db: Database, org: Org, urls: list[str]
                   ) -> tuple[dict[str, int], list[tuple[int, Any]]]:
    """Every table's row count plus what the admin reads at ``urls``: the "nothing changed" probe."""
    reads = []
    for url in urls:
        r = await client.get(url, headers=org.admin.h)
        reads.append((r.status_code, r.json()))
    return await count_rows(db), reads
