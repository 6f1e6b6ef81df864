"""The Lead noun (seed 004 §4): statuses, the state machine and the lead rules. Pure; no I/O."""

from __future__ import annotations

from kith.core.errors import FieldError, InvalidTransition, RuleViolation

STATUSES: tuple[str, ...] = ("new", "contacted", "qualified", "disqualified", "converted")

# Seed 004 "Lead FSM"; disqualify needs a reason (checked by the verb, not the machine).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"contacted", "disqualified"}),
    "contacted": frozenset({"qualified", "disqualified"}),
    "qualified": frozenset({"converted", "disqualified"}),
    "disqualified": frozenset({"new"}),
    "converted": frozenset(),
}

# verb -> the status it moves a lead to, and the event it records.
VERBS: dict[str, tuple[str, str]] = {
    "contacted": ("contacted", "lead.contacted"),
    "qualify": ("qualified", "lead.qualified"),
    "disqualify": ("disqualified", "lead.disqualified"),
    "reopen": ("new", "lead.reopened"),
    "convert": ("converted", "lead.converted"),
}

# Rules as data, with their stable ids (the problem's ``rule``).
QUALIFY_RULE = "lead-qualify-score-threshold"  # seed 004 §6: score >= the org's threshold (default 30)
DISQUALIFY_RULE = "lead-disqualify-requires-reason"  # seed 004 FSM guard: "reason provided"


def assert_status_change_allowed(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a lead cannot move from status {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )


def assert_can_qualify(score: int, threshold: int) -> None:
    if score < threshold:
        raise RuleViolation(
            QUALIFY_RULE,
            f"a lead needs a score of at least {threshold} to be qualified (it has {score})",
            extra={"field": "score", "score": score, "threshold": threshold},
        )


def disqualification_reason(reason: str | None) -> str:
    """The reason, trimmed; a missing or blank one breaks ``lead-disqualify-requires-reason``."""
    text = (reason or "").strip()
    if not text:
        raise RuleViolation(DISQUALIFY_RULE, "give a reason to disqualify a lead",
                            errors=[FieldError("reason", "required")], extra={"field": "reason"})
    return text
