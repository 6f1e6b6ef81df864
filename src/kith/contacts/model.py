"""The Contact noun (seed 001): enums, the stage machine, the qualify rules and what a merge keeps.
Pure; no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kith.core.errors import InvalidTransition, RuleViolation

STAGES: tuple[str, ...] = ("lead", "qualified", "customer", "churned", "partner")
STATUSES: tuple[str, ...] = ("active", "inactive", "bounced", "unsubscribed")
ROLES: tuple[str, ...] = ("decision_maker", "influencer", "champion", "blocker", "user")
CHANNELS: tuple[str, ...] = ("email", "phone", "sms", "chat")

# lead → qualified → customer → churned; any → partner (seed 001 "Stage Progression").
TRANSITIONS: dict[str, frozenset[str]] = {
    "lead": frozenset({"qualified", "partner"}),
    "qualified": frozenset({"customer", "partner"}),
    "customer": frozenset({"churned", "partner"}),
    "churned": frozenset({"partner"}),
    "partner": frozenset(),
}


def assert_stage_change_allowed(current: str, target: str) -> None:
    if current == target:
        return
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a contact cannot move from stage {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )


# --- Rules (seed 001's "qualifying" before-hook as data; ids are stable, shown in the 422 problem) ---

@dataclass(frozen=True)
class Rule:
    id: str
    field: str
    # (contact, org settings) -> why the rule fails, or None when it holds
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]


QUALIFY_RULES: tuple[Rule, ...] = (
    Rule("contact-qualify-requires-email", "email",
         lambda c, s: None if c.get("email") else "a contact needs an email before it can be qualified"),
    Rule("contact-qualify-score-threshold", "lead_score",
         lambda c, s: None if c["lead_score"] >= s["qualify_score_threshold"] else
         f"lead_score {c['lead_score']} is below the org's qualify threshold {s['qualify_score_threshold']}"),
)


def assert_rules(rules: tuple[Rule, ...], contact: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """Raise ``RuleViolation`` for the first rule that fails."""
    for rule in rules:
        why = rule.check(contact, settings)
        if why is not None:
            raise RuleViolation(rule.id, why, extra={"field": rule.field})


# --- Merge: what the surviving contact keeps (pure; the service moves the rows) ---------------------

# Scalar fields an empty survivor field takes from the merged contacts (first non-empty, in order).
FILLABLE: tuple[str, ...] = (
    "first_name", "last_name", "email", "external_user_id", "phone", "mobile", "avatar", "title", "department",
    "role", "source", "preferred_channel", "timezone", "language", "manager_id", "linkedin_url",
    "twitter_handle", "marketing_consent", "owner_id", "notes",
)
# Timestamps where the latest wins: the merged person was engaged whenever any duplicate was.
LATEST: tuple[str, ...] = ("last_engagement_at", "last_contacted_at")


def fill_gaps(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the keys it lacks taken from ``extra``; nested objects are filled the same way."""
    out = dict(base)
    for key, value in extra.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = fill_gaps(out[key], value)
    return out


def merged_values(survivor: Mapping[str, Any], others: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The fields of ``survivor`` that change when it absorbs ``others``: the survivor wins every
    conflict; empty fields, missing metadata/custom-field keys and tags come from the others.
    A manager link to any of the merged records (or to the survivor itself) is dropped."""
    merged_ids = {survivor["id"], *(o["id"] for o in others)}
    result: dict[str, Any] = {}
    for name in FILLABLE:
        current = survivor.get(name)
        if name == "manager_id" and current in merged_ids:
            current = None
        if current in (None, ""):
            candidates = [o.get(name) for o in others]
            if name == "manager_id":
                candidates = [c for c in candidates if c not in merged_ids]
            current = next((c for c in candidates if c not in (None, "")), None)
        if current != survivor.get(name):
            result[name] = current
    for name in LATEST:
        stamps = [v for v in (survivor.get(name), *(o.get(name) for o in others)) if v is not None]
        if stamps and max(stamps) != survivor.get(name):
            result[name] = max(stamps)
    tags = list(dict.fromkeys([*survivor["tags"], *(t for o in others for t in o["tags"])]))
    if tags != list(survivor["tags"]):
        result["tags"] = tags
    for name in ("metadata", "custom_fields"):
        filled: dict[str, Any] = dict(survivor[name])
        for other in others:
            filled = fill_gaps(filled, other[name])
        if filled != survivor[name]:
            result[name] = filled
    return result
