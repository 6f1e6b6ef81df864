"""Writers racing on one database: no duplicates, no lost updates, no 500s — on both backends."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa

from kith.auth.model import Actor
from kith.contacts import service as contacts
from kith.contacts.schemas import ContactCreate, ContactPatch
from kith.contacts.tables import contacts as contacts_table
from kith.core.db import Database
from kith.core.errors import Conflict, PreconditionFailed
from kith.core.uow import UnitOfWork
from tests.conftest import Org


def admin(org: Org) -> Actor:
    p = org.admin
    return Actor(org_id=p.org_id, user_id=p.user_id, roles=frozenset(p.roles), team_ids=frozenset({p.user_id}))


async def test_concurrent_creates_with_one_email_make_exactly_one_contact(db: Database, org: Org) -> None:
    actor = admin(org)

    async def create(i: int) -> str:
        try:
            row = await contacts.create_contact(UnitOfWork(db), actor,
                                                ContactCreate(name=f"Racer {i}", email="Same@Example.com"))
            return str(row["id"])
        except Conflict:
            return "conflict"

    results = await asyncio.gather(*(create(i) for i in range(24)))
    winners = [r for r in results if r != "conflict"]
    assert len(winners) == 1
    async with db.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(contacts_table).where(
            contacts_table.c.email == "same@example.com"))).scalar_one()
    assert n == 1


async def test_concurrent_patches_with_if_match_let_exactly_one_win(db: Database, org: Org) -> None:
    actor = admin(org)
    row = await contacts.create_contact(UnitOfWork(db), actor, ContactCreate(name="Target"))

    async def patch(i: int) -> str:
        try:
            await contacts.update_contact(UnitOfWork(db), actor, row["id"], ContactPatch(title=f"T{i}"),
                                          expected_version=1)
            return f"T{i}"
        except PreconditionFailed:
            return "stale"

    results = await asyncio.gather(*(patch(i) for i in range(12)))
    winners = [r for r in results if r != "stale"]
    assert len(winners) == 1
    final = await contacts.get_contact(UnitOfWork(db), actor, row["id"])
    assert final["title"] == winners[0] and final["version"] == 2


async def test_concurrent_unconditional_patches_lose_no_update(db: Database, org: Org) -> None:
    """Each PATCH touches its own metadata key; all of them survive (no read-modify-write loss)."""
    actor = admin(org)
    row = await contacts.create_contact(UnitOfWork(db), actor, ContactCreate(name="Merge target"))

    async def patch(i: int) -> None:
        for _ in range(20):
            try:
                await contacts.update_contact(UnitOfWork(db), actor, row["id"],
                                              ContactPatch(metadata={f"k{i}": i}))
                return
            except PreconditionFailed:
                await asyncio.sleep(0.01)  # lost the race on version: retry like a client would
        raise AssertionError("never got through")

    await asyncio.gather(*(patch(i) for i in range(10)))
    final = await contacts.get_contact(UnitOfWork(db), actor, row["id"])
    assert final["metadata"] == {f"k{i}": i for i in range(10)}
    assert final["version"] == 11


async def test_concurrent_retries_with_one_idempotency_key_create_one_record(
        client: httpx.AsyncClient, db: Database, org: Org) -> None:
    headers = {**org.admin.h, "Idempotency-Key": "create-alice-once"}
    body = {"name": "Alice", "email": "alice@once.test"}
    responses = await asyncio.gather(*(client.post("/api/v1/contacts", json=body, headers=headers)
                                       for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert all(s in (201, 409) for s in statuses), statuses
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    replay = await client.post("/api/v1/contacts", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json()["id"] in ids
    assert replay.headers["idempotent-replayed"] == "true"
    async with db.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(contacts_table))).scalar_one()
    assert n == 1
