"""Who is calling: the actor every service receives. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from kith.auth.permissions import ROLES


@dataclass(frozen=True)
class Actor:
    org_id: str
    user_id: str | None
    roles: frozenset[str]
    # The caller plus the users whose manager the caller is: "◑ own" covers all of them.
    team_ids: frozenset[str] = field(default_factory=frozenset)
    kind: str = "user"  # user | system | widget
    key_id: str | None = None

    @property
    def id(self) -> str | None:
        return self.user_id

    @classmethod
    def system(cls, org_id: str) -> Actor:
        return cls(org_id=org_id, user_id=None, roles=frozenset({"crm-admin"}), kind="system")


def validate_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {list(ROLES)}")
    return sorted(set(roles), key=ROLES.index)
