"""The one door to every permission decision (DESIGN §3).

- A role with no grant at all for ``resource:action`` gets ``Forbidden`` (403).
- An own-only grant on a record the caller does not own: reads answer ``NotFound`` (404, the
  record's existence is not revealed) and writes answer ``Forbidden`` (403) when the caller may
  read the record, ``NotFound`` otherwise.
- Lists under an own-only read grant are filtered to the caller's team (``visible_owner_ids``).
"""

from __future__ import annotations

from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.core.errors import Forbidden, NotFound


def require(actor: Actor, permission: str) -> Grant:
    """Fail with 403 unless the actor holds some grant for ``permission``; return the grant."""
    g = grant(actor.roles, permission)
    if g is Grant.NONE:
        raise Forbidden(f"your role does not allow {permission}", extra={"permission": permission})
    return g


def owns(actor: Actor, owner_id: str | None) -> bool:
    return owner_id is not None and owner_id in actor.team_ids


def can(actor: Actor, permission: str, owner_id: str | None) -> bool:
    g = grant(actor.roles, permission)
    return g is Grant.ALL or (g is Grant.OWN and owns(actor, owner_id))


def check_record(actor: Actor, permission: str, owner_id: str | None, *, kind: str, record_id: str) -> None:
    """Decide ``permission`` on one visible-to-the-org record owned by ``owner_id``."""
    resource, action = permission.split(":", 1)
    g = require(actor, permission)
    if g is Grant.ALL or owns(actor, owner_id):
        return
    if action == "read" or not can(actor, f"{resource}:read", owner_id):
        raise NotFound(f"{kind} {record_id!r} does not exist", extra={"id": record_id})
    raise Forbidden(
        f"{permission} is allowed only on records you or your team own",
        extra={"permission": permission},
    )


def visible_owner_ids(actor: Actor, resource: str) -> frozenset[str] | None:
    """``None`` when the actor reads every record of ``resource``; else the owners it may see."""
    g = require(actor, f"{resource}:read")
    return None if g is Grant.ALL else actor.team_ids
