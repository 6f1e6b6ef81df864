"""Webhook subscriptions (DESIGN §5.4): create (the secret is shown once), read, change, delete,
rotate the secret, read the delivery log and replay a delivery. crm-admin only (``webhook:manage``).

Invariants: a target is checked (parsed, resolved, no private address unless allowed) before any
write; the secret never appears in an event, a log or any answer but create/rotate; another org's
ids answer 404; every change writes its ``webhook.*`` event in its transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock, ids, outbox
from kith.core.errors import Conflict, PreconditionFailed, invalid, not_found
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.webhooks import repo
from kith.webhooks.delivery import Refused, check_url
from kith.webhooks.fanout import CONSUMER
from kith.webhooks.schemas import WebhookCreate, WebhookPatch
from kith.webhooks.tables import webhook_deliveries, webhooks

PERMISSION = "webhook:manage"
EVENT_FIELDS = ("url", "events", "description", "enabled")


def new_secret() -> str:
    return f"whsec_{ids.token(24)}"


async def _check_target(url: str, allow_private: bool) -> None:
    try:
        await check_url(url, allow_private=allow_private)
    except Refused as exc:
        raise invalid("url", str(exc)) from None


async def _existing(uow: UnitOfWork, actor: Actor, webhook_id: str) -> Any:
    row = await repo.get(uow, actor.org_id, webhook_id)
    if row is None:
        raise not_found("webhook", webhook_id)
    return row


def _check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(f"the webhook changed since you read it (version {current}, If-Match had {expected})",
                                 extra={"current_version": current})


async def _relay_from_now(uow: UnitOfWork, org_id: str, webhook_id: str, window: timedelta) -> None:
    """The relay must cover this org from now on; when nothing else in the org listened, its
    cursor may skip history nobody wanted."""
    fresh = await repo.count_enabled(uow, org_id, besides=webhook_id) == 0
    await outbox.ensure_cursor(uow, org_id, CONSUMER, window=window, fresh=fresh)


async def create_webhook(uow: UnitOfWork, actor: Actor, cmd: WebhookCreate, *, allow_private: bool = False,
                         window: timedelta = outbox.DEFAULT_WINDOW) -> dict[str, Any]:
    require(actor, PERMISSION)
    await _check_target(cmd.url, allow_private)
    now = clock.now()
    row: dict[str, Any] = {"org_id": actor.org_id, "id": ids.new("webhook"), "url": cmd.url, "events": cmd.events,
           "description": cmd.description, "secret": new_secret(), "enabled": True, "active_since": now,
           "consecutive_failures": 0, "disabled_at": None, "disabled_reason": None, "created_by": actor.id,
           "created_at": now, "updated_at": now, "version": 1}
    async with uow.transaction(write=True):
        await _relay_from_now(uow, actor.org_id, row["id"], window)
        await uow.execute(webhooks.insert(), row)
        await uow.record(actor.org_id, "webhook.created", subject_type="webhook", subject_id=row["id"],
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"after": {k: row[k] for k in ("url", "events", "description")}})
    return {**{k: v for k, v in row.items() if k not in repo.HIDDEN}, "secret": row["secret"]}


async def list_webhooks(uow: UnitOfWork, actor: Actor, query: ListQuery) -> dict[str, Any]:
    require(actor, PERMISSION)
    async with uow.transaction():
        return await repo.list_webhooks(uow, actor.org_id, query)


async def get_webhook(uow: UnitOfWork, actor: Actor, webhook_id: str) -> dict[str, Any]:
    require(actor, PERMISSION)
    async with uow.transaction():
        return repo.out(await _existing(uow, actor, webhook_id))


async def update_webhook(uow: UnitOfWork, actor: Actor, webhook_id: str, patch: WebhookPatch,
                         expected_version: int | None = None, *, allow_private: bool = False,
                         window: timedelta = outbox.DEFAULT_WINDOW) -> dict[str, Any]:
    require(actor, PERMISSION)
    fields = patch.model_dump(exclude_unset=True)
    if "url" in fields:
        await _check_target(fields["url"], allow_private)
    async with uow.transaction(write=True):
        row = await _existing(uow, actor, webhook_id)
        _check_version(row.version, expected_version)
        changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
        if not changed:
            return repo.out(row)
        now = clock.now()
        values: dict[str, Any] = {**changed, "updated_at": now, "version": row.version + 1}
        if changed.get("enabled") is True:
            await _relay_from_now(uow, actor.org_id, webhook_id, window)
            values.update(active_since=now, consecutive_failures=0, disabled_at=None, disabled_reason=None)
        elif changed.get("enabled") is False:
            values.update(disabled_at=now, disabled_reason="disabled by a user")
        await uow.execute(webhooks.update().where(repo.w.org_id == actor.org_id, repo.w.id == webhook_id)
                          .values(**values))
        await uow.record(actor.org_id, "webhook.updated", subject_type="webhook", subject_id=webhook_id,
                         actor_id=actor.id, actor_type=actor.kind, data={
                             "before": {k: getattr(row, k) for k in changed}, "after": changed})
        return repo.out(await repo.get(uow, actor.org_id, webhook_id))


async def delete_webhook(uow: UnitOfWork, actor: Actor, webhook_id: str) -> None:
    require(actor, PERMISSION)
    async with uow.transaction(write=True):
        row = await _existing(uow, actor, webhook_id)
        await repo.delete_with_log(uow, actor.org_id, webhook_id)
        await uow.record(actor.org_id, "webhook.deleted", subject_type="webhook", subject_id=webhook_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"before": {k: getattr(row, k) for k in ("url", "events", "description", "enabled")}})


async def rotate_secret(uow: UnitOfWork, actor: Actor, webhook_id: str) -> dict[str, Any]:
    require(actor, PERMISSION)
    secret = new_secret()
    async with uow.transaction(write=True):
        row = await _existing(uow, actor, webhook_id)
        await uow.execute(webhooks.update().where(repo.w.org_id == actor.org_id, repo.w.id == webhook_id)
                          .values(secret=secret, updated_at=clock.now(), version=row.version + 1))
        await uow.record(actor.org_id, "webhook.secret-rotated", subject_type="webhook", subject_id=webhook_id,
                         actor_id=actor.id, actor_type=actor.kind, data={})
        out = repo.out(await repo.get(uow, actor.org_id, webhook_id))
    return {**out, "secret": secret}


async def list_deliveries(uow: UnitOfWork, actor: Actor, webhook_id: str, query: ListQuery) -> dict[str, Any]:
    require(actor, PERMISSION)
    async with uow.transaction():
        await _existing(uow, actor, webhook_id)
        return await repo.list_deliveries(uow, actor.org_id, webhook_id, query)


async def replay_delivery(uow: UnitOfWork, actor: Actor, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    """Queue the delivery's event again, as a new delivery due now (the original keeps its log)."""
    require(actor, PERMISSION)
    async with uow.transaction(write=True):
        hook = await _existing(uow, actor, webhook_id)
        original = await repo.get_delivery(uow, actor.org_id, webhook_id, delivery_id)
        if original is None:
            raise not_found("delivery", delivery_id)
        if not hook.enabled:
            raise Conflict("the webhook is disabled: enable it (PATCH {\"enabled\": true}) before replaying",
                           extra={"field": "enabled"})
        now = clock.now()
        row = {"org_id": actor.org_id, "id": ids.new("delivery"), "webhook_id": webhook_id,
               "event_id": original.event_id, "event_type": original.event_type, "status": "pending",
               "attempts": 0, "next_attempt_at": now, "lease_token": None, "last_status_code": None,
               "last_error": None, "last_latency_ms": None, "replay_of": original.id, "created_at": now,
               "updated_at": now, "delivered_at": None}
        await uow.execute(webhook_deliveries.insert(), row)
        await uow.record(actor.org_id, "webhook.delivery-replayed", subject_type="webhook", subject_id=webhook_id,
                         actor_id=actor.id, actor_type=actor.kind, data={
                             "delivery_id": original.id, "replay_id": row["id"], "event_id": original.event_id})
    return repo.delivery_out(row, [])

