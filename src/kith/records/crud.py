"""Create, read, list, update, delete and restore for the CRM objects that share one shape
(contacts, companies): org-scoped rows with an owner, tags, metadata, a version and the trash.

Each object describes itself with a ``Kind``: its table, permission resource, sortable columns,
filters and two hooks: ``prepare`` (validate and normalise the values about to be written:
uniqueness, stage rules) and ``detach`` (remove the links a delete removes, returning what a
restore needs to put back). Everything else (permissions, versions, events, trash) is here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from kith.auth.access import check_record, require, visible_owner_ids
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.core import clock, hooks, ids
from kith.core.db import Prepared
from kith.core.errors import FieldError, Forbidden, NotFound, PreconditionFailed, ValidationFailed, invalid
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.customfields import listing as custom_listing
from kith.customfields import values as custom_values
from kith.orgs.tables import users
from kith.records import service as rec
from kith.records.tables import trash

Values = dict[str, Any]
Prepare = Callable[[UnitOfWork, Actor, Values, Any], Awaitable[None]]
Detach = Callable[[UnitOfWork, str, str], Awaitable[dict[str, Any]]]
Reattach = Callable[[UnitOfWork, str, str, dict[str, Any]], Awaitable[None]]
FilterFn = Callable[[str, str], sa.ColumnElement[bool]]  # (org_id, raw value) -> condition


async def _noop_detach(uow: UnitOfWork, org_id: str, record_id: str) -> dict[str, Any]:
    return {}


async def _noop_reattach(uow: UnitOfWork, org_id: str, record_id: str, links: dict[str, Any]) -> None:
    return None


@dataclass
class Kind:
    name: str  # "contact"
    table: sa.Table
    resource: str  # permission resource
    sortable: tuple[str, ...]
    filters: Mapping[str, FilterFn]
    search_columns: tuple[str, ...]
    not_null: tuple[str, ...]
    prepare: Prepare
    detach: Detach = _noop_detach
    reattach: Reattach = _noop_reattach
    unique_fields: tuple[str, ...] = ()
    hidden: frozenset[str] = field(default_factory=lambda: frozenset({"org_id", "deleted_at"}))
    # Columns ``prepare`` computes from the values (contacts' duplicate keys): written with the
    # row, never read out, so they stay out of responses and events.
    derived: tuple[str, ...] = ()
    # The column naming a record in the trash and in delete events (deals have a title).
    label: str = "name"

    # Built once per Kind (every request reads them): see ``live_statement``.
    _columns: list[sa.Column[Any]] | None = field(default=None, init=False, repr=False, compare=False)
    _live: dict[bool, sa.Select[Any]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _get: Prepared | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def columns(self) -> list[sa.Column[Any]]:
        if self._columns is None:
            self._columns = [c for c in self.table.c if c.name not in self.hidden and c.name not in self.derived]
        return list(self._columns)

    def live_statement(self, for_update: bool) -> sa.Select[Any]:
        """The live record by ``org_id`` and ``record_id`` bind parameters, built once (building a
        statement costs more than running it)."""
        stmt = self._live.get(for_update)
        if stmt is None:
            t = self.table
            stmt = sa.select(*self.columns).where(t.c.org_id == sa.bindparam("org_id"),
                                                  t.c.id == sa.bindparam("record_id"), t.c.deleted_at.is_(None))
            if for_update:
                stmt = stmt.with_for_update()
            self._live[for_update] = stmt
        return stmt

    def get_statement(self) -> Prepared:
        if self._get is None:
            self._get = Prepared(self.live_statement(False))
        return self._get

    def derived_values(self, values: Values) -> Values:
        return {k: values[k] for k in self.derived if k in values}

    def event(self, verb: str) -> str:
        return f"{self.name}.{verb}"


def out(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


async def load_live(uow: UnitOfWork, kind: Kind, org_id: str, record_id: str, *, for_update: bool = False
                    ) -> Any:
    q = kind.live_statement(for_update and uow.backend == "postgresql")
    row = (await uow.execute(q, {"org_id": org_id, "record_id": record_id})).first()
    if row is None:
        raise NotFound(f"{kind.name} {record_id!r} does not exist", extra={"id": record_id})
    return row


async def check_owner(uow: UnitOfWork, actor: Actor, kind: Kind, owner_id: str | None, *, current: str | None
                      ) -> None:
    """``owner_id`` must be an active user of the org; handing a record to anyone but yourself (or
    to nobody) needs the reassign grant."""
    if owner_id == current:
        return
    if owner_id != actor.user_id and grant(actor.roles, f"{kind.resource}:reassign") is not Grant.ALL:
        raise Forbidden(f"only a manager may assign a {kind.name} to another user",
                        extra={"permission": f"{kind.resource}:reassign", "rule": "contact-reassign-manager-only"})
    if owner_id is None:
        return
    q = sa.select(users.c.id).where(users.c.org_id == actor.org_id, users.c.id == owner_id,
                                    users.c.is_active.is_(True))
    if (await uow.execute(q)).first() is None:
        raise invalid("owner_id", f"no active user {owner_id!r} in this org")


async def create(uow: UnitOfWork, actor: Actor, kind: Kind, cmd: BaseModel, *, extra: Values | None = None,
                 enforce_required: bool = False) -> dict[str, Any]:
    """``enforce_required``: refuse the record when a required custom field has no value (the
    create routes and services; Kith's own intake, such as lead captures, does not)."""
    require(actor, f"{kind.resource}:create")
    values: Values = cmd.model_dump()
    values.update(extra or {})
    if values.get("owner_id") is None:
        values["owner_id"] = actor.user_id
    rec.check_metadata(values.get("metadata", {}))
    now = clock.now()
    record_id = ids.new(kind.name)
    async with uow.transaction(write=True):
        await check_owner(uow, actor, kind, values["owner_id"], current=actor.user_id)
        await kind.prepare(uow, actor, values, None)
        row: dict[str, Any] = {c.name: None for c in kind.columns}
        row.update({k: v for k, v in values.items() if k in row})
        custom = await custom_values.for_create(uow, actor.org_id, kind.name, values.get("custom_fields") or {},
                                                enforce_required=enforce_required)
        row.update(org_id=actor.org_id, id=record_id, created_at=now, updated_at=now, version=1, custom_fields=custom)
        command = hooks.Command(f"{kind.name}.create", actor, None, cmd.model_dump(exclude_unset=True))
        await hooks.run_before(command.verb, {k: v for k, v in row.items() if k != "org_id"}, command)
        await uow.insert(kind.table, [{**row, **kind.derived_values(values)}])
        await rec.set_tags(uow, actor.org_id, kind.name, record_id, row.get("tags") or [], replace=False)
        del row["org_id"]
        await uow.record(actor.org_id, kind.event("created"), subject_type=kind.name, subject_id=record_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"after": {k: rec.jsonable(v) for k, v in row.items()}})
        hooks.run_after(uow, kind.event("created"), row, command)
    return row


async def get(uow: UnitOfWork, actor: Actor, kind: Kind, record_id: str) -> dict[str, Any]:
    async with uow.transaction(autocommit=True):
        row = await uow.row(kind.get_statement(), {"org_id": actor.org_id, "record_id": record_id})
        if row is None:
            raise NotFound(f"{kind.name} {record_id!r} does not exist", extra={"id": record_id})
        check_record(actor, f"{kind.resource}:read", row["owner_id"], kind=kind.name, record_id=record_id)
    return row


async def list_(uow: UnitOfWork, actor: Actor, kind: Kind, query: ListQuery) -> Page:
    owners = visible_owner_ids(actor, kind.resource)
    t = kind.table
    stmt = sa.select(*kind.columns).where(t.c.org_id == actor.org_id, t.c.deleted_at.is_(None))
    if owners is not None:
        stmt = stmt.where(t.c.owner_id.in_(sorted(owners)))
    custom = await custom_listing.definitions_named(uow, actor.org_id, kind.name, query, filters=kind.filters,
                                                    sorts=kind.sortable)
    errors: list[FieldError] = []
    for name, raw in query.filters.items():
        fn = kind.filters.get(name)
        if fn is None and name in custom:
            fn = custom_listing.filter_fn(t, custom[name], uow.backend)
        if fn is None:
            errors.append(FieldError(name, f"unknown filter; filter by one of {sorted([*kind.filters, *custom])}"))
            continue
        try:
            stmt = stmt.where(fn(actor.org_id, raw))
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    if query.q is not None:
        from kith.search import service as search  # search builds on this module: imported here

        return await search.list_page(uow, kind, stmt, query)
    sort_name, desc = parse_sort(query.sort, (*kind.sortable, *custom_listing.sortable(custom)))
    if sort_name not in kind.sortable:
        return await custom_listing.sorted_page(uow, t, stmt, custom[sort_name], query, desc=desc)
    stmt = keyset(stmt, sort_col=t.c[sort_name], id_col=t.c.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [out(r) for r in await uow.execute(stmt)]
    return page(rows, query, sort_name)


async def update(uow: UnitOfWork, actor: Actor, kind: Kind, record_id: str, patch: BaseModel,
                 expected_version: int | None = None) -> dict[str, Any]:
    fields: Values = patch.model_dump(exclude_unset=True)
    nulls = [k for k in kind.not_null if k in fields and fields[k] is None]
    if nulls:
        raise ValidationFailed("these fields cannot be null",
                               errors=[FieldError(k, "cannot be null") for k in nulls])
    async with uow.transaction(write=True):
        defs = (await custom_values.definitions_for_patch(uow, actor.org_id, kind.name)
                if "custom_fields" in fields else None)  # before the row lock (see there)
        row = await load_live(uow, kind, actor.org_id, record_id, for_update=True)
        check_record(actor, f"{kind.resource}:update", row.owner_id, kind=kind.name, record_id=record_id)
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed(
                f"the {kind.name} changed since you read it (version {row.version}, If-Match had "
                f"{expected_version})", extra={"current_version": row.version})
        current = out(row)
        if "metadata" in fields:
            fields["metadata"] = rec.check_metadata(rec.merge_patch(current["metadata"], fields["metadata"]))
        if defs is not None:
            fields["custom_fields"] = custom_values.patched(defs, current["custom_fields"], fields["custom_fields"])
        if "owner_id" in fields:
            await check_owner(uow, actor, kind, fields["owner_id"], current=current["owner_id"])
        await kind.prepare(uow, actor, fields, row)
        before, after = rec.diff(current, {k: v for k, v in fields.items() if k in current})
        if not after:
            return current
        values = {k: fields[k] for k in after}
        command = hooks.Command(f"{kind.name}.update", actor, record_id, values)
        await hooks.run_before(command.verb, current, command)
        values.update(updated_at=clock.now(), version=row.version + 1)
        t = kind.table
        res = await uow.execute(t.update().where(t.c.org_id == actor.org_id, t.c.id == record_id,
                                                 t.c.version == row.version)
                                 .values(**values, **kind.derived_values(fields)))
        if res.rowcount != 1:  # a concurrent writer won the race between our read and write
            raise PreconditionFailed(f"the {kind.name} changed while you were updating it")
        if "tags" in values:
            await rec.set_tags(uow, actor.org_id, kind.name, record_id, values["tags"])
        await uow.record(actor.org_id, kind.event("updated"), subject_type=kind.name, subject_id=record_id,
                         actor_id=actor.id, actor_type=actor.kind, data={"before": before, "after": after})
        current.update(values)
        hooks.run_after(uow, kind.event("updated"), current, command)
    return current


async def delete(uow: UnitOfWork, actor: Actor, kind: Kind, record_id: str, *, permanent: bool = False,
                 retention_days: int = 30, expected_version: int | None = None) -> None:
    require(actor, f"{kind.resource}:delete")
    if permanent:
        require(actor, "trash:purge")
    t = kind.table
    async with uow.transaction(write=True):
        q = sa.select(*kind.columns, t.c.deleted_at).where(
            t.c.org_id == actor.org_id, t.c.id == record_id)
        row = (await uow.execute(q)).first()
        if row is None or (row.deleted_at is not None and not permanent):
            raise NotFound(f"{kind.name} {record_id!r} does not exist", extra={"id": record_id})
        check_record(actor, f"{kind.resource}:delete", row.owner_id, kind=kind.name, record_id=record_id)
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed(f"the {kind.name} changed since you read it",
                                     extra={"current_version": row.version})
        command = hooks.Command(f"{kind.name}.delete", actor, record_id, {"permanent": permanent})
        await hooks.run_before(command.verb, out(row), command)
        links = await kind.detach(uow, actor.org_id, record_id)
        if permanent:
            await rec.drop_trash_entry(uow, actor.org_id, record_id)
            await rec.set_tags(uow, actor.org_id, kind.name, record_id, [])
            await uow.execute(t.delete().where(t.c.org_id == actor.org_id, t.c.id == record_id))
        else:
            now = await rec.put_in_trash(uow, actor.org_id, kind.name, record_id, getattr(row, kind.label), actor.id,
                                      links)
            await uow.execute(t.update().where(t.c.org_id == actor.org_id, t.c.id == record_id)
                              .values(deleted_at=now, version=row.version + 1))
        await uow.record(actor.org_id, kind.event("deleted"), subject_type=kind.name, subject_id=record_id,
                         actor_id=actor.id, actor_type=actor.kind,
                         data={"permanent": permanent, "links": links,
                               "before": {kind.label: getattr(row, kind.label)}})
        hooks.run_after(uow, kind.event("deleted"), out(row), command)


async def restore(uow: UnitOfWork, actor: Actor, kind: Kind, record_id: str, *, retention_days: int = 30
                  ) -> dict[str, Any]:
    require(actor, f"{kind.resource}:delete")
    t = kind.table
    async with uow.transaction(write=True):
        entry = await rec.take_from_trash(uow, actor.org_id, kind.name, record_id, retention_days)
        q = sa.select(*kind.columns).where(t.c.org_id == actor.org_id, t.c.id == record_id)
        row = (await uow.execute(q)).one()
        # Check the unique fields as if newly written (no ``existing``): against the record itself
        # they never differ, so a live record that took the email/domain meanwhile would slip past.
        await kind.prepare(uow, actor, {k: getattr(row, k) for k in kind.unique_fields}, None)
        await uow.execute(t.update().where(t.c.org_id == actor.org_id, t.c.id == record_id)
                          .values(deleted_at=None, updated_at=clock.now(), version=row.version + 1))
        await kind.reattach(uow, actor.org_id, record_id, entry["links"])
        await uow.record(actor.org_id, kind.event("restored"), subject_type=kind.name, subject_id=record_id,
                         actor_id=actor.id, actor_type=actor.kind, data={"links": entry["links"]})
        row = await load_live(uow, kind, actor.org_id, record_id)
    return out(row)


async def list_trash(uow: UnitOfWork, actor: Actor, record_type: str | None, retention_days: int
                     ) -> list[dict[str, Any]]:
    require(actor, "trash:purge")
    from datetime import timedelta

    since = clock.now() - timedelta(days=retention_days)
    q = sa.select(trash.c.record_id.label("id"), trash.c.record_type, trash.c.name, trash.c.deleted_at,
                  trash.c.deleted_by).where(trash.c.org_id == actor.org_id, trash.c.deleted_at >= since)
    if record_type:
        q = q.where(trash.c.record_type == record_type)
    async with uow.transaction():
        rows = await uow.execute(q.order_by(trash.c.deleted_at.desc()).limit(500))
        return [dict(r._mapping) for r in rows]
