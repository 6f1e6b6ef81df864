"""The custom field values of a record write: what ``kith.records.crud`` calls on every create
and update of a contact or company, so each object gets the same rules once.

Rules: every key written must be one of the org's fields of that object and a valid value of its
type (``kith.customfields.model.clean``); a PATCH merges key by key and a null (or empty) value
removes the key; a required field cannot be removed, and must be given on create when the caller
asks for it (the create routes and services do; records Kith makes on its own, such as widget
contacts and lead captures, are not refused for a missing value). A bad value refuses the whole
write: nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kith.core.uow import UnitOfWork
from kith.customfields import model, repo


async def for_create(uow: UnitOfWork, org_id: str, object_: str, given: Mapping[str, Any], *,
                     enforce_required: bool) -> dict[str, Any]:
    """The ``custom_fields`` to insert. Runs inside the write transaction."""
    if not given and not enforce_required:
        return {}
    defs = await repo.definitions(uow, org_id, object_, share_lock=bool(given))
    return model.merge(defs, {}, given, require_all=enforce_required)


async def definitions_for_patch(uow: UnitOfWork, org_id: str, object_: str) -> dict[str, model.Definition]:
    """Load (and share-lock) the definitions a PATCH validates against. Call it before locking the
    record: the field's delete locks the definition, then the records, and the same order here
    keeps the two from deadlocking on PostgreSQL."""
    return await repo.definitions(uow, org_id, object_, share_lock=True)


def patched(defs: Mapping[str, model.Definition], current: Mapping[str, Any], patch: Mapping[str, Any]
            ) -> dict[str, Any]:
    return model.merge(defs, current, patch)
