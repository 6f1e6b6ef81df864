"""Queries on custom field definitions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kith.core.db import Prepared
from kith.core.uow import UnitOfWork
from kith.customfields.model import Definition, FieldType
from kith.customfields.sql import index_kind
from kith.customfields.tables import custom_field_definitions as cfd


def definition(row: Any) -> Definition:
    return Definition(name=row.name, type=FieldType(row.type), options=tuple(row.options or ()),
                      required=bool(row.required))


async def definitions(uow: UnitOfWork, org_id: str, object_: str, *, share_lock: bool = False
                      ) -> dict[str, Definition]:
    """The org's fields of ``object_`` by name. ``share_lock`` (a record write about to store
    values) holds them, on PostgreSQL, until the write commits: a concurrent delete of a field or
    removal of an option waits for it, so it never leaves a value behind that it did not see."""
    q = _DEFINITIONS_SHARED if share_lock and uow.backend == "postgresql" else _DEFINITIONS
    return {r["name"]: Definition(name=r["name"], type=FieldType(r["type"]), options=tuple(r["options"] or ()),
                                  required=bool(r["required"]))
            for r in await uow.rows(q, {"org_id": org_id, "object": object_})}


# Prepared: every contact/company create asks (SQLAlchemy's execute costs more than the query).
_SELECT_DEFINITIONS = sa.select(cfd.c.name, cfd.c.type, cfd.c.options, cfd.c.required).where(
    cfd.c.org_id == sa.bindparam("org_id"), cfd.c.object == sa.bindparam("object"))
_DEFINITIONS = Prepared(_SELECT_DEFINITIONS)
_DEFINITIONS_SHARED = Prepared(_SELECT_DEFINITIONS.with_for_update(read=True))


async def index_still_needed(uow: UnitOfWork, object_: str, name: str, type_: FieldType) -> bool:
    """Whether any org still defines a field the index of ``(object_, name, type_)`` serves. The one
    query across orgs in this slice: it maintains a shared database object and reads no org's data."""
    types = [t.value for t in FieldType if index_kind(t) == index_kind(type_)]
    q = sa.select(cfd.c.id).where(cfd.c.object == object_, cfd.c.name == name, cfd.c.type.in_(types)).limit(1)
    return (await uow.execute(q)).first() is not None


async def is_defined(uow: UnitOfWork, org_id: str, object_: str, name: str) -> bool:
    q = sa.select(cfd.c.id).where(cfd.c.org_id == org_id, cfd.c.object == object_, cfd.c.name == name)
    return (await uow.execute(q)).first() is not None


async def lock_name(uow: UnitOfWork, org_id: str, object_: str, name: str) -> None:
    """Serialise, until the transaction ends, the writers that decide by whether ``name`` is
    defined (a definition, a purge batch). SQLite has one writer at a time already; PostgreSQL
    takes a transaction-scoped advisory lock on the (org, object, name)."""
    if uow.backend == "postgresql":
        key = f"kith.custom_field:{org_id}:{object_}:{name}"
        await uow.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
