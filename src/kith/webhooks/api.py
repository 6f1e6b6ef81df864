"""Webhook routes (DESIGN §5.4) and the event catalogue. Thin: parse, call the service, render."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path
from starlette.responses import Response

from kith.config import Settings
from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow
from kith.http.deps import settings as get_settings
from kith.http.routing import READ, WRITE, router
from kith.webhooks import service
from kith.webhooks.catalogue import catalogue
from kith.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    EventTypeList,
    WebhookCreate,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
    WebhookWithSecret,
)

api = router("webhooks")
Id = Annotated[str, Path(max_length=40)]
Config = Annotated[Settings, Depends(get_settings)]


def _window(s: Settings) -> timedelta:
    return timedelta(seconds=s.outbox_window_seconds)


@api.post("/webhooks", response_model=WebhookWithSecret, status_code=201, responses=WRITE,
          summary="Subscribe a URL to events")
async def create_webhook(body: WebhookCreate, actor: CurrentActor, uow: Uow, s: Config) -> r.JSON:
    """Create a subscription (crm-admin). Each matching event is POSTed to `url` as `{id, type,
    created_at, data, org_id, subject, actor}`, signed with `Kith-Signature: t=<unix seconds>,v1=<hex
    HMAC-SHA256(secret, "<t>.<raw body>")>`, at least once, retried with backoff
    (`KITH_WEBHOOK_BACKOFF`). The answer carries the signing `secret`: it is shown only here (and on
    rotate). Private and loopback targets are refused (422) unless `KITH_WEBHOOKS_ALLOW_PRIVATE=true`."""
    row = await service.create_webhook(uow, actor, body, allow_private=s.webhooks_allow_private, window=_window(s))
    return r.record(row, 201, headers={"Location": f"/api/v1/webhooks/{row['id']}"})


@api.get("/webhooks", response_model=WebhookPage, responses=READ, summary="List webhook subscriptions")
async def list_webhooks(actor: CurrentActor, uow: Uow, query: Listing) -> r.JSON:
    """The org's subscriptions, newest first (`sort=created_at` for oldest first); filter `enabled=true|false`."""
    return r.JSON(await service.list_webhooks(uow, actor, query))


@api.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=READ, summary="Read a subscription")
async def get_webhook(webhook_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """One subscription, without its secret; `consecutive_failures` and `disabled_*` show its health."""
    return r.record(await service.get_webhook(uow, actor, webhook_id))


@api.patch("/webhooks/{webhook_id}", response_model=WebhookOut, responses=WRITE, summary="Change a subscription")
async def patch_webhook(webhook_id: Id, body: WebhookPatch, actor: CurrentActor, uow: Uow, version: IfMatch,
                        s: Config) -> r.JSON:
    """Change `url`, `events`, `description`, or `enabled` (true re-enables a disabled subscription:
    events from that moment on are delivered, and deliveries still pending resume)."""
    return r.record(await service.update_webhook(uow, actor, webhook_id, body, version,
                                                 allow_private=s.webhooks_allow_private, window=_window(s)))


@api.delete("/webhooks/{webhook_id}", status_code=204, responses=WRITE, summary="Delete a subscription")
async def delete_webhook(webhook_id: Id, actor: CurrentActor, uow: Uow) -> Response:
    """Delete the subscription and its delivery log; nothing more is sent to it."""
    await service.delete_webhook(uow, actor, webhook_id)
    return Response(status_code=204)


@api.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookWithSecret, responses=WRITE,
          summary="Replace the signing secret")
async def rotate_secret(webhook_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Issue a new signing secret, shown only in this answer; the old one stops signing at once."""
    return r.record(await service.rotate_secret(uow, actor, webhook_id))


@api.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage, responses=READ,
         summary="The delivery log")
async def list_deliveries(webhook_id: Id, actor: CurrentActor, uow: Uow, query: Listing) -> r.JSON:
    """Deliveries newest first, each with every attempt (time, status code, latency, error).
    Filters: `status` (pending | succeeded | failed), `event_type`, `event_id`."""
    return r.JSON(await service.list_deliveries(uow, actor, webhook_id, query))


@api.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", response_model=DeliveryOut, status_code=202,
          responses=WRITE, summary="Send a delivery again")
async def replay_delivery(webhook_id: Id, delivery_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Queue the delivery's event again as a new delivery (`replay_of` names the original), due now.
    409 when the subscription is disabled."""
    return r.JSON(await service.replay_delivery(uow, actor, webhook_id, delivery_id), status_code=202)


@api.get("/event-types", response_model=EventTypeList, responses=READ, summary="The event catalogue")
async def list_event_types(actor: CurrentActor) -> r.JSON:
    """Every event type Kith emits, with its meaning and the JSON Schema of a webhook delivery of it."""
    return r.JSON({"data": catalogue()})
