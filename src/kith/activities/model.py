"""The Activity noun (seed 004 §4, seed 002 "communications"): types, directions, the open →
completed machine and the rules deciding what a logged activity means. Pure; no I/O.

An activity is either a *to-do* (open: ``completed_at`` is NULL) or a *record of something that
happened* (completed). Tasks, anything given a ``due_at`` and anything dated in the future start
open; everything else (a call logged, a note) is complete from the moment it occurred.
"""

from __future__ import annotations

from datetime import datetime

from kith.core.errors import InvalidTransition

TYPES: tuple[str, ...] = ("call", "email", "meeting", "note", "task", "demo", "sms", "chat")
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")

# Seed 002: the types that reach the person. An *outbound* one of these, once done, is "contact made".
COMMUNICATIONS: frozenset[str] = frozenset({"call", "email", "meeting", "demo", "sms", "chat"})

STATUSES: tuple[str, ...] = ("open", "completed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"completed"}),
    "completed": frozenset(),
}


def status_of(completed_at: datetime | None) -> str:
    return "open" if completed_at is None else "completed"


def assert_status_change_allowed(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"an activity cannot move from {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )


def starts_open(type_: str, due_at: datetime | None, occurred_at: datetime, now: datetime) -> bool:
    """A task, anything with a due date and anything planned for later is a to-do."""
    return type_ == "task" or due_at is not None or occurred_at > now


def is_outbound_communication(type_: str, direction: str | None) -> bool:
    return type_ in COMMUNICATIONS and direction == "outbound"


def contact_made_at(type_: str, direction: str | None, completed_at: datetime | None,
                    now: datetime) -> datetime | None:
    """When a done outbound communication reached its contact (``None``: it did not, or not yet)."""
    if not is_outbound_communication(type_, direction) or completed_at is None or completed_at > now:
        return None
    return completed_at


def is_overdue(due_at: datetime | None, completed_at: datetime | None, now: datetime) -> bool:
    return completed_at is None and due_at is not None and due_at < now
