"""Realtime channels of seed 004 §9, as pure rules: names, which events go where, who may listen.

Channels (``{orgId}``/``{repId}`` are Kith ids; ``:`` separates the parts, so no part holds one):

- ``org:{orgId}:crm:pipeline`` — ``deal.*`` and ``lead.*``;
- ``org:{orgId}:crm:rep:{repId}`` — ``deal.*``, ``lead.*`` and ``activity.*`` (tasks are
  activities of type task) of records the rep owns (for activities: wrote or is assigned);
- ``org:{orgId}:crm:support`` — ``ticket.*`` and ``activity.*``.

Invariants kept here:
- ``parse_channel`` accepts exactly what ``Channel.name`` produces (round trip) and raises only
  ``ChannelError`` (a ``ValueError``) for anything else.
- An event reaches a subscriber only when the subscriber could read the record it concerns with
  the permission matrix's ``<resource>:read`` grant: ✓ always, ◑ when one of the record's owners
  is in the subscriber's team, — never. An event of a resource with no read permission in the
  matrix is never delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kith.auth.permissions import MATRIX, Grant, grant

Kind = Literal["pipeline", "rep", "support"]

# A part of a channel name: the id alphabet of kith.core.ids plus upper case and dash; bounded.
_PART = r"[A-Za-z0-9_-]{1,64}"
_CHANNEL_RE = re.compile(rf"org:({_PART}):crm:(?:(pipeline)|(support)|rep:({_PART}))")
MAX_CHANNEL_LENGTH = 200

# resource (an event type's noun) -> the channel kinds that carry its events
PIPELINE_RESOURCES = frozenset({"deal", "lead"})
REP_RESOURCES = frozenset({"deal", "lead", "activity"})
SUPPORT_RESOURCES = frozenset({"ticket", "activity"})
RESOURCES = PIPELINE_RESOURCES | REP_RESOURCES | SUPPORT_RESOURCES

# Who may open a channel at all (before per-event filtering): some read grant on one of these.
_LISTEN_PERMISSIONS: dict[Kind, tuple[str, ...]] = {
    "pipeline": ("deal:read", "lead:read"),
    "rep": ("deal:read", "lead:read", "activity:read"),
    "support": ("ticket:read",),
}
# Any rep channel of the org, not only the team's.
ALL_REPS_ROLE = "crm-admin"


class ChannelError(ValueError):
    """A malformed channel name."""


@dataclass(frozen=True, order=True)
class Channel:
    org_id: str
    kind: Kind
    rep_id: str | None = None

    @property
    def name(self) -> str:
        tail = f"rep:{self.rep_id}" if self.kind == "rep" else self.kind
        return f"org:{self.org_id}:crm:{tail}"

    def __str__(self) -> str:
        return self.name


def pipeline(org_id: str) -> Channel:
    return Channel(org_id, "pipeline")


def support(org_id: str) -> Channel:
    return Channel(org_id, "support")


def rep(org_id: str, rep_id: str) -> Channel:
    return Channel(org_id, "rep", rep_id)


def parse_channel(text: str) -> Channel:
    """The channel named ``text``; ``ChannelError`` saying what is wrong otherwise."""
    if len(text) > MAX_CHANNEL_LENGTH:
        raise ChannelError(f"a channel name has at most {MAX_CHANNEL_LENGTH} characters")
    m = _CHANNEL_RE.fullmatch(text)  # not match + $: $ also matches before a final newline
    if m is None:
        raise ChannelError("expected org:{orgId}:crm:pipeline, org:{orgId}:crm:rep:{repId} "
                           "or org:{orgId}:crm:support")
    org_id, is_pipeline, is_support, rep_id = m.groups()
    if is_pipeline:
        return pipeline(org_id)
    if is_support:
        return support(org_id)
    return rep(org_id, rep_id)


def resource_of(event_type: str) -> str:
    """The noun of ``<noun>.<verb>``: the resource whose read permission decides delivery."""
    return event_type.split(".", 1)[0]


def channels_for(org_id: str, event_type: str, owners: Iterable[str]) -> frozenset[Channel]:
    """Every channel an event of ``event_type`` on a record owned by ``owners`` is published on."""
    resource = resource_of(event_type)
    found: set[Channel] = set()
    if resource in PIPELINE_RESOURCES:
        found.add(pipeline(org_id))
    if resource in SUPPORT_RESOURCES:
        found.add(support(org_id))
    if resource in REP_RESOURCES:
        found.update(rep(org_id, o) for o in owners)
    return frozenset(found)


def can_read(roles: frozenset[str], team_ids: frozenset[str], event_type: str, owners: Iterable[str]) -> bool:
    """Whether a caller with ``roles`` and ``team_ids`` may read the record an event concerns."""
    permission = f"{resource_of(event_type)}:read"
    if permission not in MATRIX:
        return False
    g = grant(roles, permission)
    if g is Grant.ALL:
        return True
    return g is Grant.OWN and not team_ids.isdisjoint(owners)


Denial = Literal["forbidden-role", "forbidden-rep"]


def listen_denial(roles: frozenset[str], team_ids: frozenset[str], channel: Channel) -> Denial | None:
    """Why a caller of the channel's org may not open ``channel`` (``None``: they may).

    Pipeline: some read grant on deals or leads. Support: a ticket read grant (support agents,
    admins). Rep: some read grant on deals, leads or activities, and the rep is the caller or
    someone they manage, unless the caller is a crm-admin."""
    if all(grant(roles, p) is Grant.NONE for p in _LISTEN_PERMISSIONS[channel.kind]):
        return "forbidden-role"
    if channel.kind == "rep" and ALL_REPS_ROLE not in roles and channel.rep_id not in team_ids:
        return "forbidden-rep"
    return None


def owners_from_data(data: Mapping[str, Any] | None) -> frozenset[str]:
    """Owners named in an event's payload (``owner_id``, ``actor_id``, ``assignee_id`` at the top
    level or in ``after``/``before``): the fallback when the record itself is gone."""
    if not isinstance(data, Mapping):
        return frozenset()
    found: set[str] = set()
    for part in (data, data.get("after"), data.get("before")):
        if isinstance(part, Mapping):
            found.update(v for k in ("owner_id", "actor_id", "assignee_id")
                         if isinstance(v := part.get(k), str))
    return frozenset(found)
