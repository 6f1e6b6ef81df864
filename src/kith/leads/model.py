"""The Lead noun (seed 004 §4): statuses and the state machine. Pure; no I/O."""

from __future__ import annotations

from kith.core.errors import InvalidTransition

STATUSES: tuple[str, ...] = ("new", "contacted", "qualified", "disqualified", "converted")

# Seed 004 "Lead FSM"; disqualify needs a reason (checked by the verb, not the machine).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"contacted", "disqualified"}),
    "contacted": frozenset({"qualified", "disqualified"}),
    "qualified": frozenset({"converted", "disqualified"}),
    "disqualified": frozenset({"new"}),
    "converted": frozenset(),
}


def assert_status_change_allowed(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a lead cannot move from status {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )
