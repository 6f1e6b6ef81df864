"""Workflow templates: the built-in ones (``model.TEMPLATES``, read-only) and an org's own.

- Everyone with deal:read lists and reads them; pipeline:manage (crm-admin: "pipeline config")
  creates, changes and deletes the org's own. Built-in ids cannot be reused, changed or deleted.
- A template is checked with ``model.template_problems`` before it is stored, so every stored
  template can run (422 naming ``stages`` otherwise).
- A workflow keeps a snapshot of its template from the moment it started: changing or deleting a
  template never changes a running workflow.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.core import clock
from kith.core.errors import Conflict, FieldError, NotFound, PreconditionFailed, ValidationFailed, invalid
from kith.core.uow import UnitOfWork
from kith.workflows import model
from kith.workflows.schemas import TemplateIn, TemplatePatch
from kith.workflows.tables import workflow_templates

# An org's own templates; a small number keeps the list one page (templates are configuration).
MAX_ORG_TEMPLATES = 100

t = workflow_templates.c


def _out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    out = dict(d["definition"])
    out.update(id=d["id"], name=d["name"], builtin=False, created_at=d["created_at"], updated_at=d["updated_at"],
               version=d["version"])
    return out


def _builtin(tpl: model.Template) -> dict[str, Any]:
    return {**model.template_as_dict(tpl), "created_at": None, "updated_at": None, "version": 1}


async def _row(uow: UnitOfWork, org_id: str, template_id: str, *, for_update: bool = False) -> Any:
    q = sa.select(workflow_templates).where(t.org_id == org_id, t.id == template_id)
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    return (await uow.execute(q)).first()


async def load_template(uow: UnitOfWork, org_id: str, template_id: str) -> tuple[model.Template, bool]:
    """(the template, whether it is built in); 422 on ``template_id`` when the org has no such one."""
    builtin = model.TEMPLATES.get(template_id)
    if builtin is not None:
        return builtin, True
    row = await _row(uow, org_id, template_id)
    if row is None:
        raise invalid("template_id", f"unknown workflow template {template_id!r}; see GET /api/v1/workflow-templates")
    return model.template_from_dict({**row.definition, "id": row.id, "name": row.name}), False


def _checked(definition: dict[str, Any]) -> model.Template:
    try:
        return model.template_from_dict(definition)
    except ValueError as exc:
        message = str(exc).split(": ", 1)[-1]
        raise ValidationFailed(f"the template cannot run: {message}", errors=[FieldError("stages", message)]) from exc


# --- reads ---------------------------------------------------------------------------------------

async def list_templates(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Built-in templates first, then the org's own by id."""
    require(actor, "deal:read")
    async with uow.transaction():
        rows = (await uow.execute(sa.select(workflow_templates).where(t.org_id == actor.org_id)
                                  .order_by(t.id).limit(MAX_ORG_TEMPLATES))).all()
    return [*(_builtin(b) for b in model.TEMPLATES.values()), *(_out(r) for r in rows)]


async def get_template(uow: UnitOfWork, actor: Actor, template_id: str) -> dict[str, Any]:
    require(actor, "deal:read")
    if template_id in model.TEMPLATES:
        return _builtin(model.TEMPLATES[template_id])
    async with uow.transaction():
        row = await _row(uow, actor.org_id, template_id)
    if row is None:
        raise NotFound(f"workflow template {template_id!r} does not exist", extra={"id": template_id})
    return _out(row)


# --- writes --------------------------------------------------------------------------------------

def _not_builtin(template_id: str, verb: str) -> None:
    if template_id in model.TEMPLATES:
        raise Conflict(f"the built-in template {template_id!r} cannot be {verb}; create your own under another id",
                       extra={"id": template_id})


async def create_template(uow: UnitOfWork, actor: Actor, cmd: TemplateIn) -> dict[str, Any]:
    require(actor, "pipeline:manage")
    _not_builtin(cmd.id, "replaced")
    definition = cmd.model_dump(mode="json")
    tpl = _checked(definition)
    stored = model.template_as_dict(tpl, builtin=False)
    now = clock.now()
    async with uow.transaction(write=True):
        if await _row(uow, actor.org_id, cmd.id) is not None:
            raise Conflict(f"a workflow template {cmd.id!r} already exists", extra={"id": cmd.id})
        count = (await uow.execute(sa.select(sa.func.count()).select_from(workflow_templates)
                                   .where(t.org_id == actor.org_id))).scalar_one()
        if count >= MAX_ORG_TEMPLATES:
            raise Conflict(f"an org keeps at most {MAX_ORG_TEMPLATES} workflow templates; delete one first")
        await uow.execute(workflow_templates.insert(), {
            "org_id": actor.org_id, "id": tpl.id, "name": tpl.name, "definition": stored, "created_by": actor.id,
            "created_at": now, "updated_at": now, "version": 1})
        await uow.record(actor.org_id, "workflow_template.created", subject_type="workflow_template",
                         subject_id=tpl.id, actor_id=actor.id, actor_type=actor.kind, data={"after": stored})
        row = await _row(uow, actor.org_id, tpl.id)
    return _out(row)


async def update_template(uow: UnitOfWork, actor: Actor, template_id: str, patch: TemplatePatch,
                          expected_version: int | None = None) -> dict[str, Any]:
    """Replace the fields sent (``stages`` as a whole). Running workflows keep their snapshot."""
    require(actor, "pipeline:manage")
    _not_builtin(template_id, "changed")
    changes = patch.model_dump(mode="json", exclude_unset=True)
    nulls = [k for k in ("name", "stages") if k in changes and changes[k] is None]
    if nulls:
        raise invalid(nulls[0], "cannot be null")
    async with uow.transaction(write=True):
        row = await _row(uow, actor.org_id, template_id, for_update=True)
        if row is None:
            raise NotFound(f"workflow template {template_id!r} does not exist", extra={"id": template_id})
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed(f"the template changed since you read it (version {row.version})",
                                     extra={"current_version": row.version})
        before = {**row.definition, "name": row.name}
        merged = {**before, **changes, "id": template_id}
        stored = model.template_as_dict(_checked(merged), builtin=False)
        if stored == {**before, "id": template_id, "builtin": False}:
            return _out(row)
        await uow.execute(workflow_templates.update().where(t.org_id == actor.org_id, t.id == template_id).values(
            name=stored["name"], definition=stored, updated_at=clock.now(), version=row.version + 1))
        await uow.record(actor.org_id, "workflow_template.updated", subject_type="workflow_template",
                         subject_id=template_id, actor_id=actor.id, actor_type=actor.kind,
                         data={"before": before, "after": stored})
        row = await _row(uow, actor.org_id, template_id)
    return _out(row)


async def delete_template(uow: UnitOfWork, actor: Actor, template_id: str, expected_version: int | None = None
                          ) -> None:
    require(actor, "pipeline:manage")
    _not_builtin(template_id, "deleted")
    async with uow.transaction(write=True):
        row = await _row(uow, actor.org_id, template_id, for_update=True)
        if row is None:
            raise NotFound(f"workflow template {template_id!r} does not exist", extra={"id": template_id})
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed(f"the template changed since you read it (version {row.version})",
                                     extra={"current_version": row.version})
        await uow.execute(workflow_templates.delete().where(t.org_id == actor.org_id, t.id == template_id))
        await uow.record(actor.org_id, "workflow_template.deleted", subject_type="workflow_template",
                         subject_id=template_id, actor_id=actor.id, actor_type=actor.kind,
                         data={"before": {**row.definition, "name": row.name}})
