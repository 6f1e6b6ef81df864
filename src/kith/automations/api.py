"""Automation rule routes (DESIGN §5.4). Thin: parse, call the service, render."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path
from starlette.responses import Response

from kith.automations import service
from kith.automations.schemas import (
    AutomationCreate,
    AutomationOut,
    AutomationPage,
    AutomationPatch,
    AutomationWithSecret,
    RunPage,
)
from kith.config import Settings
from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Listing, Uow
from kith.http.deps import settings as get_settings
from kith.http.routing import READ, WRITE, router

api = router("automations")
Id = Annotated[str, Path(max_length=40)]
Config = Annotated[Settings, Depends(get_settings)]


def _window(s: Settings) -> timedelta:
    return timedelta(seconds=s.outbox_window_seconds)


@api.post("/automations", response_model=AutomationWithSecret, status_code=201, responses=WRITE,
          summary="Create an automation rule")
async def create_automation(body: AutomationCreate, actor: CurrentActor, uow: Uow, s: Config) -> r.JSON:
    """A rule (crm-admin): when an event of type `trigger` happens and `conditions` hold on its
    record, the worker does `actions` through the same services as the API, once per event. The
    answer carries `secret`, which signs the rule's `call_webhook` requests: it is shown only here.
    See docs/automations.md for the condition language, the actions and templated values."""
    row = await service.create_automation(uow, actor, body, allow_private=s.webhooks_allow_private,
                                          window=_window(s))
    return r.record(row, 201, headers={"Location": f"/api/v1/automations/{row['id']}"})


@api.get("/automations", response_model=AutomationPage, responses=READ, summary="List automation rules")
async def list_automations(actor: CurrentActor, uow: Uow, query: Listing) -> r.JSON:
    """The org's rules, newest first (`sort=created_at` for oldest first); filters `enabled`, `trigger`."""
    return r.JSON(await service.list_automations(uow, actor, query))


@api.get("/automations/{automation_id}", response_model=AutomationOut, responses=READ,
         summary="Read an automation rule")
async def get_automation(automation_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await service.get_automation(uow, actor, automation_id))


@api.patch("/automations/{automation_id}", response_model=AutomationOut, responses=WRITE,
           summary="Change an automation rule")
async def patch_automation(automation_id: Id, body: AutomationPatch, actor: CurrentActor, uow: Uow,
                           version: IfMatch, s: Config) -> r.JSON:
    """Change `name`, `enabled`, `trigger`, `conditions` or `actions` (the rule is checked again as a
    whole). Re-enabling fires on events from that moment on."""
    return r.record(await service.update_automation(uow, actor, automation_id, body, version,
                                                    allow_private=s.webhooks_allow_private, window=_window(s)))


@api.delete("/automations/{automation_id}", status_code=204, responses=WRITE, summary="Delete an automation rule")
async def delete_automation(automation_id: Id, actor: CurrentActor, uow: Uow) -> Response:
    """Delete the rule and its run log; its pending runs never happen."""
    await service.delete_automation(uow, actor, automation_id)
    return Response(status_code=204)


@api.get("/automations/{automation_id}/runs", response_model=RunPage, responses=READ, summary="The run log")
async def list_runs(automation_id: Id, actor: CurrentActor, uow: Uow, query: Listing) -> r.JSON:
    """One run per event of the trigger type, newest first: status (pending | succeeded | failed |
    skipped), why (`reason`), and each action's result or error. Filters: `status`, `event_id`."""
    return r.JSON(await service.list_runs(uow, actor, automation_id, query))
