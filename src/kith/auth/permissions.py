"""The permission matrix of seed 004 §3, as data.

``MATRIX`` is the seed's table verbatim (✓ all, — none, ◑ own), followed by Kith's own rows for
objects the seed does not list (marked below). ``grant(roles, permission)`` is the only reader.
"""

from __future__ import annotations

from enum import IntEnum

ROLES: tuple[str, ...] = (
    "crm-admin",
    "sales-manager",
    "sales-rep",
    "support-agent",
    "marketing",
    "viewer",
)


class Grant(IntEnum):
    """Ordered so that the best of several roles' grants is ``max``."""

    NONE = 0
    OWN = 1
    ALL = 2


_SYMBOLS = {"✓": Grant.ALL, "—": Grant.NONE, "◑": Grant.OWN}

# Columns: crm-admin  sales-manager  sales-rep  support-agent  marketing  viewer
_SEED_004 = """
contact:read                ✓  ✓  ✓  ✓  ✓  ✓
contact:create              ✓  ✓  ✓  —  ✓  —
contact:update              ✓  ✓  ◑  —  —  —
contact:delete              ✓  —  —  —  —  —
contact:reassign            ✓  ✓  —  —  —  —
lead:read                   ✓  ✓  ◑  —  ✓  ✓
lead:create                 ✓  ✓  ✓  —  ✓  —
lead:qualify                ✓  ✓  ◑  —  —  —
lead:disqualify             ✓  ✓  ◑  —  —  —
lead:convert                ✓  ✓  ◑  —  —  —
deal:read                   ✓  ✓  ◑  —  —  ✓
deal:create                 ✓  ✓  ✓  —  —  —
deal:update                 ✓  ✓  ◑  —  —  —
deal:close-won              ✓  ✓  ◑  —  —  —
deal:close-lost             ✓  ✓  ◑  —  —  —
deal:delete                 ✓  —  —  —  —  —
activity:read               ✓  ✓  ◑  ✓  —  ✓
activity:create             ✓  ✓  ✓  ✓  —  —
activity:update             ✓  ✓  ◑  ◑  —  —
ticket:read                 ✓  —  —  ✓  —  —
ticket:create               ✓  —  —  ✓  —  —
ticket:assign               ✓  —  —  ✓  —  —
ticket:resolve              ✓  —  —  ✓  —  —
campaign:read               ✓  ✓  —  —  ✓  ✓
campaign:create             ✓  —  —  —  ✓  —
campaign:launch             ✓  —  —  —  ✓  —
pipeline:manage             ✓  —  —  —  —  —
analytics:read              ✓  ✓  —  —  ✓  ✓
"""

# Kith's rows for objects and actions seed 004 does not list. Companies are account records and follow the
# contact row (support agents "read account info"); org, users, keys and custom field definitions
# are crm-admin business (everyone reads the definitions: they describe the records' fields).
# Leads and deals get the update/delete/reassign rows the seed's API surface implies (PATCH and
# DELETE routes; reassigning is a manager's act as for contacts); answering a high-value approval
# is sales-manager or crm-admin (DESIGN §5.3). Everyone reads pipelines and the product catalog
# (deal forms need them); changing them is pipeline:manage / product:manage.
# Automation rules (automation:*) act with system rights on every record of the org, so writing one
# is crm-admin only; sales managers may read the rules and their run logs.
_KITH = """
company:read                ✓  ✓  ✓  ✓  ✓  ✓
company:create              ✓  ✓  ✓  —  ✓  —
company:update              ✓  ✓  ◑  —  —  —
company:delete              ✓  —  —  —  —  —
company:reassign            ✓  ✓  —  —  —  —
org:read                    ✓  ✓  ✓  ✓  ✓  ✓
org:manage                  ✓  —  —  —  —  —
user:read                   ✓  ✓  ✓  ✓  ✓  ✓
user:manage                 ✓  —  —  —  —  —
trash:purge                 ✓  —  —  —  —  —
custom_field:read           ✓  ✓  ✓  ✓  ✓  ✓
custom_field:manage         ✓  —  —  —  —  —
lead:update                 ✓  ✓  ◑  —  —  —
lead:delete                 ✓  —  —  —  —  —
lead:reassign               ✓  ✓  —  —  —  —
deal:reassign               ✓  ✓  —  —  —  —
deal:approve                ✓  ✓  —  —  —  —
activity:delete             ✓  ✓  ◑  ◑  —  —
product:read                ✓  ✓  ✓  ✓  ✓  ✓
product:manage              ✓  —  —  —  —  —
pipeline:read               ✓  ✓  ✓  ✓  ✓  ✓
webhook:manage              ✓  —  —  —  —  —
automation:read             ✓  ✓  —  —  —  —
automation:manage           ✓  —  —  —  —  —
ticket:update               ✓  —  —  ✓  —  —
ticket:delete               ✓  —  —  —  —  —
"""


def _parse(text: str) -> dict[str, dict[str, Grant]]:
    table: dict[str, dict[str, Grant]] = {}
    for line in text.strip().splitlines():
        perm, *cells = line.split()
        if len(cells) != len(ROLES):
            raise AssertionError(f"permission row {perm!r} has {len(cells)} cells, expected {len(ROLES)}")
        table[perm] = {role: _SYMBOLS[cell] for role, cell in zip(ROLES, cells, strict=True)}
    return table


SEED_MATRIX: dict[str, dict[str, Grant]] = _parse(_SEED_004)
MATRIX: dict[str, dict[str, Grant]] = {**SEED_MATRIX, **_parse(_KITH)}


# Roles holding at least one own-only grant: only their actors need their team looked up.
ROLES_WITH_OWN_GRANTS: frozenset[str] = frozenset(
    role for row in MATRIX.values() for role, g in row.items() if g is Grant.OWN
)


def grant(roles: frozenset[str] | set[str] | tuple[str, ...], permission: str) -> Grant:
    """The best grant any of ``roles`` holds for ``permission`` (``resource:action``)."""
    row = MATRIX.get(permission)
    if row is None:
        raise KeyError(f"unknown permission {permission!r}")
    return max((row.get(r, Grant.NONE) for r in roles), default=Grant.NONE)
