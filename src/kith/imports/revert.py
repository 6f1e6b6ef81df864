"""Reverting an import, one batch of its change log per transaction.

A created record is removed for good with its tags and company links (it did not exist before
the import); an updated record gets its before-image back (the changed columns, its tags and
duplicate keys) as a new version, and the company links the import added are removed. Each
change-log row is deleted in the same transaction as the change it undoes, so a revert that is
killed is finished by asking again, and never undoes anything twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kith.auth.model import Actor
from kith.contacts.tables import contact_companies
from kith.core import clock
from kith.core.db import Cents, UTCDateTime
from kith.core.uow import UnitOfWork
from kith.imports.objects import Spec
from kith.imports.tables import import_changes
from kith.records.tables import record_tags


def _typed(table: sa.Table, name: str, value: Any) -> Any:
    """A before-image value (JSON) back in the column's Python type."""
    if value is None or name not in table.c:
        return value
    t = table.c[name].type
    if isinstance(t, UTCDateTime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(t, Cents):
        return Decimal(str(value))
    return value


async def revert_batch(uow: UnitOfWork, actor: Actor, spec: Spec, import_id: str, size: int
                       ) -> tuple[int, int] | None:
    """Undo up to ``size`` changes; ``(deleted, restored)``, or None when none were left."""
    ic = import_changes.c
    org = actor.org_id
    rows = [dict(r._mapping) for r in await uow.execute(
        sa.select(ic.record_id, ic.action, ic.before).where(ic.org_id == org, ic.import_id == import_id)
        .order_by(ic.record_id).limit(size))]
    if not rows:
        return None
    t = spec.table
    created = [r["record_id"] for r in rows if r["action"] == "created"]
    updated = [r for r in rows if r["action"] == "updated"]
    if created:
        await uow.execute(record_tags.delete().where(record_tags.c.org_id == org,
                                                     record_tags.c.record_id.in_(created)))
        if spec.name == "contacts":
            await uow.execute(contact_companies.delete().where(contact_companies.c.org_id == org,
                                                               contact_companies.c.contact_id.in_(created)))
        if spec.name == "companies":
            await uow.execute(contact_companies.delete().where(contact_companies.c.org_id == org,
                                                               contact_companies.c.company_id.in_(created)))
        await uow.execute(t.delete().where(t.c.org_id == org, t.c.id.in_(created)))
    for r in updated:
        await _restore(uow, spec, org, r["record_id"], dict(r["before"] or {}))
    await uow.execute(import_changes.delete().where(ic.org_id == org, ic.import_id == import_id,
                                                    ic.record_id.in_([r["record_id"] for r in rows])))
    return len(created), len(updated)


async def _restore(uow: UnitOfWork, spec: Spec, org: str, record_id: str, before: dict[str, Any]) -> None:
    t = spec.table
    links = before.pop("_links_added", None)
    before.pop("version", None)
    if links:
        cc = contact_companies.c
        await uow.execute(contact_companies.delete().where(cc.org_id == org, cc.contact_id == record_id,
                                                           cc.company_id.in_(links)))
    if not before:
        return
    values = {k: _typed(t, k, v) for k, v in before.items() if k in t.c}
    await uow.execute(t.update().where(t.c.org_id == org, t.c.id == record_id)
                      .values(**values, updated_at=clock.now(), version=t.c.version + 1))
    if "tags" in values:
        rt = record_tags.c
        await uow.execute(record_tags.delete().where(rt.org_id == org, rt.record_id == record_id))
        await uow.insert(record_tags, [{"org_id": org, "record_type": spec.kind, "tag": tag, "record_id": record_id}
                                       for tag in dict.fromkeys(values["tags"] or ())])
