"""The Ticket noun (seed 004 SupportApp): statuses, the state machine, priorities, channels and the
SLA arithmetic. Pure; no I/O.

    open     → pending   (ticket.mark-pending)  waiting on the customer
             → resolved  (ticket.resolve)       optional resolution text
    pending  → open      (ticket.reopen)        the customer answered
             → resolved  (ticket.resolve)
    resolved → open      (ticket.reopen)        the fix did not hold
             → closed    (ticket.close)
    closed   is final, for every role: a closed ticket is the audit record of what was done; a
             follow-up is a new ticket (docs/tickets.md).

Every other pair is an illegal transition (409).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kith.core.errors import InvalidTransition

STATUSES: tuple[str, ...] = ("open", "pending", "resolved", "closed")
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
CHANNELS: tuple[str, ...] = ("email", "chat", "phone", "web", "api")

TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"pending", "resolved"}),
    "pending": frozenset({"open", "resolved"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}

# verb (route) -> (the status it moves a ticket to, the event it records)
VERBS: dict[str, tuple[str, str]] = {
    "pending": ("pending", "ticket.marked-pending"),
    "resolve": ("resolved", "ticket.resolved"),
    "reopen": ("open", "ticket.reopened"),
    "close": ("closed", "ticket.closed"),
}

# Statuses in which the desk still owes the customer something: the SLA clock runs, a due_at in the
# past makes the ticket overdue.
ACTIVE: tuple[str, ...] = ("open", "pending")

# Resolution targets in hours from creation, per priority (org setting ``ticket_sla_hours``
# overrides any of them). Defaults follow common desk practice: urgent within a working half-day.
DEFAULT_SLA_HOURS: dict[str, int] = {"urgent": 4, "high": 8, "normal": 24, "low": 72}
MAX_SLA_HOURS = 24 * 365

# Rule ids (the problem's ``rule``).
ASSIGNEE_RULE = "ticket-assignee-must-handle-tickets"  # the assignee needs ticket:read (an agent or admin)


def assert_transition(current: str, target: str) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is an edge of the machine."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a ticket cannot go from {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )


def assert_editable(status: str, changed: set[str]) -> None:
    """A closed ticket is final: only its tags may still change (409 otherwise)."""
    if status == "closed" and changed - {"tags"}:
        raise InvalidTransition("a closed ticket cannot change (only its tags can)",
                                extra={"from": "closed", "fields": sorted(changed - {"tags"})})


def sla_hours(settings: Mapping[str, Any] | None) -> dict[str, int]:
    """The org's SLA hours per priority: the defaults, overridden by a valid ``ticket_sla_hours``
    entry of the org's settings (an invalid entry is ignored: settings are validated on write)."""
    hours = dict(DEFAULT_SLA_HOURS)
    raw = (settings or {}).get("ticket_sla_hours")
    if isinstance(raw, Mapping):
        for priority, value in raw.items():
            if priority in hours and isinstance(value, int) and not isinstance(value, bool) \
                    and 1 <= value <= MAX_SLA_HOURS:
                hours[priority] = value
    return hours


def due_at(created_at: datetime, priority: str, hours: Mapping[str, int]) -> datetime:
    return created_at + timedelta(hours=hours[priority])


def stamps(target: str, now: datetime, ticket: Mapping[str, Any]) -> dict[str, Any]:
    """The timestamps a move to ``target`` writes. The first pending or resolve is the desk's first
    response to the customer; a reopen clears resolved_at (the resolution text is kept for history
    until the next resolve replaces it)."""
    values: dict[str, Any] = {}
    if target in ("pending", "resolved") and ticket.get("first_response_at") is None:
        values["first_response_at"] = now
    if target == "resolved":
        values["resolved_at"] = now
    elif target == "open":
        values["resolved_at"] = None
    elif target == "closed":
        values["closed_at"] = now
    return values


def is_overdue(status: str, due: datetime | None, now: datetime) -> bool:
    return status in ACTIVE and due is not None and due < now
