"""Factories shared by the activity, timeline, notification and automation tests."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.events import events
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.leads import service as leads_service
from kith.pipelines import repo as pipelines
from tests.conftest import Org, Persona

V1 = "/api/v1"
ACTS = f"{V1}/activities"
PERSONAS = ("admin", "manager", "rep", "other_rep", "support", "marketing", "viewer")


async def contact(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Pat Doe")
    r = await client.post(f"{V1}/contacts", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def company(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Initech")
    r = await client.post(f"{V1}/companies", json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def get_contact(client: httpx.AsyncClient, org: Org, contact_id: str) -> dict[str, Any]:
    r = await client.get(f"{V1}/contacts/{contact_id}", headers=org.admin.h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def log(client: httpx.AsyncClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("type", "call")
    body.setdefault("subject", "Intro call")
    r = await client.post(ACTS, json=body, headers=who.h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def lead(db: Database, org: Org, contact_id: str, owner: Persona, *, status: str = "new",
               source: str = "web") -> str:
    """A lead through the lead service (the lead routes belong to another slice), then put in ``status``."""
    row = await leads_service.open_lead(UnitOfWork(db), Actor.system(org.id), contact_id, "Interested", source,
                                        owner_id=owner.user_id)
    if status != "new":
        from kith.leads.tables import leads

        async with db.engine.begin() as conn:
            await conn.execute(leads.update().where(leads.c.org_id == org.id, leads.c.id == row["id"])
                               .values(status=status))
    return str(row["id"])


async def lead_status(db: Database, lead_id: str) -> str:
    from kith.leads.tables import leads

    async with db.engine.connect() as conn:
        return str((await conn.execute(sa.select(leads.c.status).where(leads.c.id == lead_id))).scalar_one())


async def deal(db: Database, org: Org, owner: Persona, contact_id: str | None = None) -> str:
    """A deal row in the default pipeline (written directly: the deal routes belong to another slice)."""
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        pipeline_id, stage_id = await pipelines.default_deal_pipeline(uow, org.id)
        now = clock.now()
        deal_id = ids.new("deal")
        await uow.execute(deals.insert(), {
            "org_id": org.id, "id": deal_id, "title": "Big one", "contact_id": contact_id, "pipeline_id": pipeline_id,
            "stage_id": stage_id, "owner_id": owner.user_id, "amount": 0, "currency": "USD", "status": "open",
            "probability": 10, "stage_changed_at": now, "tags": [], "metadata": {}, "custom_fields": {},
            "created_at": now, "updated_at": now})
    return deal_id


async def events_of(db: Database, type_: str, subject_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(events).where(events.c.type == type_)
    if subject_id is not None:
        q = q.where(events.c.subject_id == subject_id)
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q.order_by(events.c.id))]


async def select(db: Database, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(sa.select(table).where(*where))]
