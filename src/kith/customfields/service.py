"""Custom field definition use cases: define, list, read, change and delete (crm-admin manages,
everyone reads). Only these functions write ``custom_field_definitions``.

- Defining a field builds its index (``kith.customfields.sql``). Deleting it commits at once,
  then removes the field's key from every record of the org in batches
  (``kith.customfields.purge``) and drops the index if no org still needs it. One
  ``custom_field.deleted`` event; the records' timelines do not show the removal.
- Removing a select option that any record of the org (the trash included) still holds is
  refused with 409 naming the options: change those records first. Adding and reordering options
  is free. ``object``, ``name`` and ``type`` never change (409).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.auth.access import require
from kith.auth.model import Actor
from kith.companies.service import KIND as COMPANY
from kith.contacts.service import KIND as CONTACT
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.errors import Conflict, FieldError, NotFound, PreconditionFailed, RuleViolation, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.customfields import model, repo, sql
from kith.customfields.purge import purge
from kith.customfields.schemas import CustomFieldCreate, CustomFieldPatch
from kith.customfields.tables import custom_field_definitions as cfd
from kith.records import crud
from kith.records.service import diff

KINDS: dict[str, crud.Kind] = {"contact": CONTACT, "company": COMPANY}
IMMUTABLE = ("object", "name", "type")


def builtin_names(kind: crud.Kind) -> frozenset[str]:
    """What a custom field of ``kind`` may not be called: the object's columns, filters and sorts."""
    return frozenset(c.name for c in kind.table.c) | frozenset(kind.filters) | frozenset(kind.sortable)


def _out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    del d["org_id"]
    d["options"] = list(d["options"] or [])
    return d


def _options(type_: model.FieldType, options: list[str] | None) -> tuple[str, ...]:
    try:
        return model.check_options(type_, options)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("options", str(exc))]) from None


async def _load(uow: UnitOfWork, actor: Actor, field_id: str, *, for_update: bool = False) -> Any:
    q = sa.select(cfd).where(cfd.c.org_id == actor.org_id, cfd.c.id == field_id)
    if for_update and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"custom field {field_id!r} does not exist", extra={"id": field_id})
    return row


def _check_version(row: Any, expected: int | None) -> None:
    if expected is not None and expected != row.version:
        raise PreconditionFailed(f"the custom field changed since you read it (version {row.version}, If-Match "
                                 f"had {expected})", extra={"current_version": row.version})


async def _check_new_name(uow: UnitOfWork, actor: Actor, cmd: CustomFieldCreate) -> None:
    try:
        model.check_name(cmd.name, builtin_names(KINDS[cmd.object]))
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("name", str(exc))]) from None
    names = (await uow.execute(sa.select(cfd.c.name).where(
        cfd.c.org_id == actor.org_id, cfd.c.object == cmd.object))).scalars().all()
    if cmd.name in names:
        raise Conflict(f"a {cmd.object} custom field named {cmd.name!r} already exists", extra={"field": "name"})
    if len(names) >= model.MAX_FIELDS_PER_OBJECT:
        raise RuleViolation("custom-field-limit", f"an org has at most {model.MAX_FIELDS_PER_OBJECT} custom "
                            f"fields per object", errors=[FieldError("object", "too many custom fields")])


async def _build_index(uow: UnitOfWork, object_: str, defn: model.Definition) -> None:
    table = KINDS[object_].table.name
    ddl = sql.create_index(table, defn, uow.backend)
    if ddl is None:
        return
    if uow.backend != "postgresql":
        await uow.execute(sa.text(ddl))
        return
    db, name = uow.db, sql.index_name(table, defn.name, defn.type)

    async def build() -> None:
        await sql.run_outside_transaction(db, ddl, index=name)
    uow.after_commit(build)


async def _drop_index_if_unneeded(db: Database, object_: str, defn: model.Definition) -> None:
    """After a field's values are gone: drop its index unless another org still defines the name."""
    ddl = sql.drop_index(KINDS[object_].table.name, defn, db.backend)
    if ddl is None:
        return
    uow = UnitOfWork(db)
    if db.backend == "postgresql":
        async with uow.transaction():
            needed = await repo.index_still_needed(uow, object_, defn.name, defn.type)
        if not needed:
            await sql.run_outside_transaction(db, ddl)
        return
    async with uow.transaction(write=True):  # SQLite: the check and the drop in one writer's turn
        if not await repo.index_still_needed(uow, object_, defn.name, defn.type):
            await uow.execute(sa.text(ddl))


# --- use cases -------------------------------------------------------------------------------------

async def create_field(uow: UnitOfWork, actor: Actor, cmd: CustomFieldCreate) -> dict[str, Any]:
    require(actor, "custom_field:manage")
    options = _options(cmd.type, cmd.options)
    # Values a cut-short purge left under this name go first (kith.customfields.purge); a no-op
    # when the name is defined (the 409 below).
    await purge(uow.db, actor.org_id, cmd.object, KINDS[cmd.object].table, cmd.name)
    now, field_id = clock.now(), ids.new("custom_field")
    row: dict[str, Any] = {"org_id": actor.org_id, "id": field_id, "object": cmd.object, "name": cmd.name,
           "label": cmd.label, "type": cmd.type.value, "options": list(options), "required": cmd.required,
           "description": cmd.description, "created_at": now, "updated_at": now, "version": 1}
    async with uow.transaction(write=True):
        await repo.lock_name(uow, actor.org_id, cmd.object, cmd.name)
        await _check_new_name(uow, actor, cmd)
        await uow.execute(cfd.insert(), row)
        await _build_index(uow, cmd.object, model.Definition(cmd.name, cmd.type, options, cmd.required))
        del row["org_id"]
        await uow.record(actor.org_id, "custom_field.created", subject_type="custom_field", subject_id=field_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"after": {k: v for k, v in row.items() if k not in {"created_at", "updated_at"}}})
    return row


async def list_fields(uow: UnitOfWork, actor: Actor, object_: str | None = None) -> list[dict[str, Any]]:
    require(actor, "custom_field:read")
    q = sa.select(cfd).where(cfd.c.org_id == actor.org_id)
    if object_ is not None:
        q = q.where(cfd.c.object == object_)
    async with uow.transaction():
        rows = await uow.execute(q.order_by(cfd.c.object, cfd.c.created_at, cfd.c.id))
        return [_out(r) for r in rows]


async def get_field(uow: UnitOfWork, actor: Actor, field_id: str) -> dict[str, Any]:
    require(actor, "custom_field:read")
    async with uow.transaction():
        return _out(await _load(uow, actor, field_id))


def _check_immutable(current: dict[str, Any], patch: CustomFieldPatch) -> None:
    for name in IMMUTABLE:
        sent = getattr(patch, name)
        if sent is not None and str(sent) != current[name]:
            raise Conflict(f"a custom field's {name} cannot change (it is {current[name]!r}); define a new field "
                           "instead", errors=[FieldError(name, "cannot change")], extra={"field": name})


async def _options_in_use(uow: UnitOfWork, actor: Actor, current: dict[str, Any], removed: tuple[str, ...]
                          ) -> list[str]:
    defn = model.Definition(current["name"], model.FieldType(current["type"]), tuple(current["options"]))
    t = KINDS[current["object"]].table
    used = []
    for option in removed:  # the trash too: a restored record must still hold a valid value
        q = sa.select(t.c.id).where(t.c.org_id == actor.org_id, sql.holds_any(t, defn, [option], uow.backend))
        if (await uow.execute(q.limit(1))).first() is not None:
            used.append(option)
    return used


async def _changes(uow: UnitOfWork, actor: Actor, current: dict[str, Any], patch: CustomFieldPatch
                   ) -> dict[str, Any]:
    sent = patch.model_dump(exclude_unset=True, exclude=set(IMMUTABLE))
    nulls = [k for k in ("label", "required") if k in sent and sent[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null", errors=[FieldError(k, "cannot be null") for k in nulls])
    if "options" in sent:
        sent["options"] = list(_options(model.FieldType(current["type"]), sent["options"]))
        removed = model.removed_options(current["options"], sent["options"])
        used = await _options_in_use(uow, actor, current, removed) if removed else []
        if used:
            raise Conflict(f"records still hold the options {used}: change them before removing the options",
                           errors=[FieldError("options", f"in use: {used}")], extra={"in_use": used})
    return {k: v for k, v in sent.items() if current.get(k) != v}


async def update_field(uow: UnitOfWork, actor: Actor, field_id: str, patch: CustomFieldPatch,
                       expected_version: int | None = None) -> dict[str, Any]:
    require(actor, "custom_field:manage")
    async with uow.transaction(write=True):
        # Locked first: record writes validating against this definition wait (kith.customfields.repo).
        row = await _load(uow, actor, field_id, for_update=True)
        _check_version(row, expected_version)
        current = _out(row)
        _check_immutable(current, patch)
        values = await _changes(uow, actor, current, patch)
        if not values:
            return current
        before, after = diff(current, values)
        values.update(updated_at=clock.now(), version=row.version + 1)
        await uow.execute(cfd.update().where(cfd.c.org_id == actor.org_id, cfd.c.id == field_id).values(**values))
        await uow.record(actor.org_id, "custom_field.updated", subject_type="custom_field", subject_id=field_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"name": current["name"], "before": before, "after": after})
        current.update(values)
    return current


async def delete_field(uow: UnitOfWork, actor: Actor, field_id: str, expected_version: int | None = None) -> None:
    """Delete the definition at once, then remove its values from the records in batches
    (``kith.customfields.purge``) and drop its index when no org needs it any more."""
    require(actor, "custom_field:manage")
    async with uow.transaction(write=True):
        row = await _load(uow, actor, field_id, for_update=True)  # waits for record writes using it
        _check_version(row, expected_version)
        current = _out(row)
        await uow.execute(cfd.delete().where(cfd.c.org_id == actor.org_id, cfd.c.id == field_id))
        await uow.record(actor.org_id, "custom_field.deleted", subject_type="custom_field", subject_id=field_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"before": {k: v for k, v in current.items() if k not in {"created_at", "updated_at"}}})
    defn = model.Definition(current["name"], model.FieldType(current["type"]))
    await purge(uow.db, actor.org_id, current["object"], KINDS[current["object"]].table, defn.name)
    await _drop_index_if_unneeded(uow.db, current["object"], defn)
