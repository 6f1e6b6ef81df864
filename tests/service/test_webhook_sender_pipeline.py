"""The deliverer overlaps sending one batch with the next round's database work: a step starts its
batch and records the one before; nothing claimed is left unrecorded when the worker stops."""

from __future__ import annotations

import sqlalchemy as sa

from kith.auth.model import Actor
from kith.config import Settings
from kith.core import ids
from kith.core.db import Database
from kith.core.uow import UnitOfWork
from kith.orgs import service as orgs
from kith.webhooks import service as webhooks
from kith.webhooks.schemas import WebhookCreate
from kith.webhooks.tables import webhook_attempts, webhook_deliveries
from kith.worker.runner import Worker
from tests.receiver import serve


async def _org_with_hook(db: Database, url: str) -> str:
    made = await orgs.create_org(UnitOfWork(db), name=f"Pipe {ids.token(4)}", admin_email="pipe@kith.test",
                                 admin_password="pipe password")
    await webhooks.create_webhook(UnitOfWork(db), Actor.system(made.org_id), WebhookCreate(
        url=url, events=["contact.created"]), allow_private=True)
    return made.org_id


async def _commit_events(db: Database, org_id: str, n: int) -> None:
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        for _ in range(n):
            await uow.record(org_id, "contact.created", subject_type="contact", subject_id=ids.new("contact"),
                             actor_id=None, actor_type="system", data={"after": {"name": "Ada"}})


async def _statuses(db: Database) -> list[str]:
    async with UnitOfWork(db).transaction() as uow:
        return sorted(r.status for r in await uow.execute(sa.select(webhook_deliveries.c.status)))


async def test_a_step_records_the_batch_started_by_the_step_before(db: Database, db_url: str) -> None:
    worker = Worker(db, Settings(database_url=db_url, webhooks_allow_private=True))
    try:
        with serve() as rx:
            org_id = await _org_with_hook(db, rx.url)
            await _commit_events(db, org_id, 3)
            await worker.relay.step()
            assert await worker.deliverer.step() == 3  # claimed and started
            assert await _statuses(db) == ["pending"] * 3
            assert await worker.deliverer.step() == 3  # nothing new claimed; the 3 recorded
            assert len(rx.wait_for(3)) == 3
            assert await _statuses(db) == ["succeeded"] * 3
            assert await worker.deliverer.step() == 0
    finally:
        await worker.aclose()


async def test_stopping_the_worker_records_the_batch_in_flight(db: Database, db_url: str) -> None:
    worker = Worker(db, Settings(database_url=db_url, webhooks_allow_private=True))
    with serve() as rx:
        org_id = await _org_with_hook(db, rx.url)
        await _commit_events(db, org_id, 2)
        await worker.relay.step()
        assert await worker.deliverer.step() == 2
        await worker.aclose()
        assert len(rx.received) == 2
    assert await _statuses(db) == ["succeeded"] * 2
    async with UnitOfWork(db).transaction() as uow:
        attempts = list(await uow.execute(sa.select(webhook_attempts.c.status_code)))
    assert [a.status_code for a in attempts] == [200, 200]
