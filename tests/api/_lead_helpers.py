"""Helpers shared by the lead tests (test_leads, test_lead_feed, test_lead_convert)."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from kith.core.db import Database
from kith.core.events import events
from kith.leads.tables import leads
from kith.notifications.tables import notifications
from tests.conftest import Org, Persona, count_rows

V1 = "/api/v1"
LEADS = f"{V1}/leads"
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")


async def new_contact(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Someone")
    r = await client.post(f"{V1}/contacts", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def new_lead(client: httpx.AsyncClient, who: Persona, contact_id: str | None = None, **body: Any
                   ) -> dict[str, Any]:
    if contact_id is None and "contact" not in body:
        contact_id = (await new_contact(client, who))["id"]
    if contact_id is not None:
        body["contact_id"] = contact_id
    body.setdefault("title", "A lead")
    r = await client.post(LEADS, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def get_lead(client: httpx.AsyncClient, org: Org, lead_id: str) -> dict[str, Any]:
    r = await client.get(f"{LEADS}/{lead_id}", headers=org.admin.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def set_status(db: Database, lead_id: str, status: str, **values: Any) -> None:
    """Put a lead straight into ``status`` (test setup, no event)."""
    async with db.engine.begin() as conn:
        await conn.execute(leads.update().where(leads.c.id == lead_id).values(status=status, **values))


async def verb(client: httpx.AsyncClient, who: Persona, lead_id: str, name: str,
               body: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(f"{LEADS}/{lead_id}/{name}", json=body, headers=who.h)


async def events_of(db: Database, type_: str, subject_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(events).where(events.c.type == type_)
    if subject_id is not None:
        q = q.where(events.c.subject_id == subject_id)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q.order_by(events.c.id))]


async def rows(db: Database, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(sa.select(table).where(*where))]


async def notifications_of(db: Database, user_id: str, type_: str) -> list[dict[str, Any]]:
    return await rows(db, notifications, notifications.c.user_id == user_id, notifications.c.type == type_)


async def snapshot(client: httpx.AsyncClient, db: Database, org: Org, lead_ids: list[str]
                   ) -> tuple[dict[str, int], list[Any]]:
    """Every table's row count plus the leads as the admin reads them: the "nothing changed" probe."""
    reads = []
    for lead_id in lead_ids:
        r = await client.get(f"{LEADS}/{lead_id}", headers=org.admin.h)
        reads.append((r.status_code, r.json()))
    return await count_rows(db), reads
