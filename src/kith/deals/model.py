"""The Deal noun (seed 004 §4): statuses, the state machine, the reopen window and the money
arithmetic of line items. Pure; no I/O.

    open → won        (deal.mark-won)   rules: deal-won-requires-close-date, high-value-deal-approval
         → lost       (deal.mark-lost)  rule:  deal-lost-requires-reason
         → abandoned  (deal.abandon)
    won  → open       (deal.reopen)     guard: within REOPEN_WINDOW of closing

Every other pair is an illegal transition (409).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from kith.core.errors import InvalidTransition

STATUSES: tuple[str, ...] = ("open", "won", "lost", "abandoned")

TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"won", "lost", "abandoned"}),
    "won": frozenset({"open"}),
    "lost": frozenset(),
    "abandoned": frozenset(),
}

# The verb (route) that asks for each target status, and the event it writes.
VERBS: dict[str, str] = {"won": "won", "lost": "lost", "abandoned": "abandon", "open": "reopen"}
EVENTS: dict[str, str] = {"won": "deal.won", "lost": "deal.lost", "abandoned": "deal.abandoned",
                          "open": "deal.reopened"}

# Seed 004: a won deal may be reopened "within 30 days of closing".
REOPEN_WINDOW = timedelta(days=30)

# Stage outcomes: moving a deal into such a stage closes it with that status.
OUTCOMES: tuple[str, ...] = ("won", "lost")

CENT = Decimal("0.01")


def assert_transition(current: str, target: str) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is an edge of the machine."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a deal cannot go from {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )


def assert_can_reopen(current: str, closed_at: datetime | None, now: datetime) -> None:
    """won → open, and only while the deal closed less than ``REOPEN_WINDOW`` ago."""
    assert_transition(current, "open")
    if closed_at is None or now - closed_at > REOPEN_WINDOW:
        raise InvalidTransition(
            f"a won deal can be reopened only within {REOPEN_WINDOW.days} days of closing",
            extra={"from": current, "to": "open", "closed_at": closed_at.isoformat() if closed_at else None,
                   "window_days": REOPEN_WINDOW.days},
        )


def closing_stamps(target: str, now: datetime) -> dict[str, datetime | None]:
    """The won_at / lost_at / closed_at a transition to ``target`` writes (reopen clears them)."""
    if target == "open":
        return {"won_at": None, "lost_at": None, "closed_at": None}
    return {"won_at": now if target == "won" else None, "lost_at": now if target == "lost" else None,
            "closed_at": now}


def probability(stage_probability: int, current: int, overridden: bool) -> int:
    """A deal follows its stage's probability unless someone set one explicitly."""
    return current if overridden else stage_probability


def line_total(quantity: Decimal, unit_price: Decimal, discount_percent: int) -> Decimal:
    """quantity × unit price less the discount, rounded half-up to the cent."""
    gross = quantity * unit_price * (Decimal(100) - Decimal(discount_percent)) / Decimal(100)
    return gross.quantize(CENT, rounding=ROUND_HALF_UP)


def amount_of(totals: Iterable[Decimal]) -> Decimal:
    return sum(totals, Decimal("0.00")).quantize(CENT)


# --- approval requests (DESIGN §5.3) ------------------------------------------------------------------

APPROVAL_STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "cancelled")

# A request is answered once; a change of the deal's value cancels a pending or approved one.
APPROVAL_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"approved", "rejected", "cancelled"}),
    "approved": frozenset({"cancelled"}),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}


def assert_approval_transition(current: str, target: str) -> None:
    if target not in APPROVAL_TRANSITIONS[current]:
        raise InvalidTransition(
            f"an approval request that is {current!r} cannot become {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(APPROVAL_TRANSITIONS[current])},
        )
