"""Workflow routes: templates, and the sales-process workflow of one deal (seed 004 §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path
from starlette.responses import Response

from kith.http import responses as r
from kith.http.deps import CurrentActor, IfMatch, Uow
from kith.http.routing import READ, WRITE, router
from kith.workflows import service, templates
from kith.workflows.schemas import (
    GuardConfirm,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplatePatch,
    WorkflowOut,
    WorkflowStart,
)

api = router("workflows")
Id = Annotated[str, Path(max_length=40)]
TemplateKey = Annotated[str, Path(max_length=60)]


@api.get("/workflow-templates", response_model=TemplateList, responses=READ, summary="Workflow templates")
async def list_templates(actor: CurrentActor, uow: Uow) -> r.JSON:
    """The templates a deal workflow can be started from (deal:read): the built-in `SALES_PROCESS`
    (discovery → proposal → negotiation → closing, tasks per role, entry guards), then the org's own."""
    return r.JSON({"data": await templates.list_templates(uow, actor), "next_cursor": None})


@api.post("/workflow-templates", response_model=TemplateOut, status_code=201, responses=WRITE,
          summary="Create a workflow template")
async def create_template(body: TemplateIn, actor: CurrentActor, uow: Uow) -> r.JSON:
    """An org's own template (pipeline:manage, crm-admin). Checked before it is stored: unique
    stage, task and guard keys, no guard on the first stage, a `task-complete` guard naming a task of
    an earlier stage (422 on `stages` otherwise). A built-in or existing id answers 409."""
    return r.record(await templates.create_template(uow, actor, body), status=201)


@api.get("/workflow-templates/{template_id}", response_model=TemplateOut, responses=READ,
         summary="Get a workflow template")
async def get_template(template_id: TemplateKey, actor: CurrentActor, uow: Uow) -> r.JSON:
    return r.record(await templates.get_template(uow, actor, template_id))


@api.patch("/workflow-templates/{template_id}", response_model=TemplateOut, responses=WRITE,
           summary="Change a workflow template")
async def update_template(template_id: TemplateKey, body: TemplatePatch, actor: CurrentActor, uow: Uow,
                          version: IfMatch) -> r.JSON:
    """pipeline:manage. Only the fields sent change; `stages` is replaced whole. Workflows already
    running keep the template they started with. Built-in templates answer 409."""
    return r.record(await templates.update_template(uow, actor, template_id, body, version))


@api.delete("/workflow-templates/{template_id}", status_code=204, responses=WRITE,
            summary="Delete a workflow template")
async def delete_template(template_id: TemplateKey, actor: CurrentActor, uow: Uow, version: IfMatch) -> Response:
    """pipeline:manage. Running workflows keep their copy. Built-in templates answer 409."""
    await templates.delete_template(uow, actor, template_id, version)
    return Response(status_code=204)


@api.post("/deals/{record_id}/workflow", response_model=WorkflowOut, status_code=201, responses=WRITE,
          summary="Start a workflow on a deal")
async def start(record_id: Id, actor: CurrentActor, uow: Uow,
                body: Annotated[WorkflowStart | None, Body()] = None) -> r.JSON:
    """Start `template_id` (default `SALES_PROCESS`) on an open deal (deal:update on it). Creates the
    first stage's tasks: sales-rep tasks for the deal's owner, sales-manager tasks for the owner's
    manager (else any active sales-manager, else the owner). 409 when the deal already has an
    active workflow or is closed; 422 for an unknown template."""
    body = body or WorkflowStart()
    return r.JSON(await service.start_process(uow, actor, record_id, template_id=body.template_id),
                  status_code=201)


@api.get("/deals/{record_id}/workflow", response_model=WorkflowOut, responses=READ,
         summary="A deal's workflow")
async def get(record_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """The deal's active workflow, else its latest one (deal:read): stages with status, entry guards
    with whether they hold, tasks with assignee and completion, and what it waits for. 404 when the
    deal never had a workflow."""
    return r.JSON(await service.get_process(uow, actor, record_id))


@api.post("/deals/{record_id}/workflow/confirm", response_model=WorkflowOut, responses=WRITE,
          summary="Confirm a workflow guard")
async def confirm(record_id: Id, body: GuardConfirm, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Confirm a guard of kind `confirmation` (SALES_PROCESS: `verbal-agreement`, the entry guard of
    closing) on the deal's active workflow (deal:update), then advance as far as tasks and guards
    allow. 409 without an active workflow; 422 for a guard that is not confirmed this way."""
    return r.JSON(await service.confirm_guard(uow, actor, record_id, body.guard))


@api.post("/deals/{record_id}/workflow/advance", response_model=WorkflowOut, responses=WRITE,
          summary="Force a workflow past its current stage")
async def advance(record_id: Id, actor: CurrentActor, uow: Uow) -> r.JSON:
    """Move the active workflow to its next stage even with open tasks or an unmet guard
    (deal:approve: sales-manager or crm-admin, on a deal they can see). From the last stage this
    completes the workflow and wins the deal under the usual rules (422 with `rule` when refused)."""
    return r.JSON(await service.force_advance(uow, actor, record_id))
