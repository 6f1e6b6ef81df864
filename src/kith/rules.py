"""The business rules of seed 004 §6, as data with stable ids. Pure; no I/O.

Each rule names the verb it guards (``scope``, as in the seed), the org setting holding its
configurable value (if any) and a check over plain facts. Services call ``check(rule_id, facts,
settings)``, which raises ``RuleViolation`` (422 with ``rule``) when the rule fails; the same id
shows in the HTTP problem, the CLI and MCP. ``GET /api/v1/rules`` lists them with the org's values.

Facts each rule reads:

- ``deal-won-requires-close-date``: ``expected_close_date``
- ``deal-lost-requires-reason``: ``lost_reason``
- ``high-value-deal-approval``: ``amount`` (Decimal), ``currency``, ``approved`` (an approved
  request exists for exactly this amount and currency)
- ``lead-qualify-score-threshold``: ``score``
- ``contact-reassign-manager-only``: ``roles`` (the actor's roles)

Money in another currency than the threshold's: Kith keeps no exchange rates, so the rule compares
against the org's threshold for the deal's own currency (``high_value_thresholds``); a deal in a
currency with no threshold at all counts as high-value (a manager looks at what Kith cannot value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kith.core.errors import RuleViolation
from kith.orgs.schemas import OrgSettings

Facts = Mapping[str, Any]
Check = Callable[[Facts, OrgSettings], "str | None"]  # why the rule fails, or None when it holds


@dataclass(frozen=True)
class Rule:
    id: str
    scope: str  # the verb it guards (seed 004 §6)
    description: str
    field: str  # the input field a failure points at
    setting: str | None  # the org setting holding its value, if configurable
    check: Check


def high_value_threshold(currency: str, settings: OrgSettings) -> Decimal | None:
    """The org's high-value threshold for an amount in ``currency``; None when it has none."""
    if currency == settings.high_value_threshold.currency:
        return settings.high_value_threshold.amount
    return settings.high_value_thresholds.get(currency)


def is_high_value(amount: Decimal, currency: str, settings: OrgSettings) -> bool:
    """Whether closing a deal of ``amount currency`` needs an approved request."""
    threshold = high_value_threshold(currency, settings)
    return threshold is None or amount >= threshold


def _close_date(f: Facts, s: OrgSettings) -> str | None:
    return None if f.get("expected_close_date") else "a deal needs an expected_close_date before it can be won"


def _lost_reason(f: Facts, s: OrgSettings) -> str | None:
    reason = f.get("lost_reason")
    return None if reason and str(reason).strip() else "a deal can be marked lost only with a reason"


def _high_value(f: Facts, s: OrgSettings) -> str | None:
    if f.get("approved") or not is_high_value(f["amount"], f["currency"], s):
        return None
    threshold = high_value_threshold(f["currency"], s)
    if threshold is None:
        return (f"the org has no high-value threshold in {f['currency']}: winning this deal needs an approved "
                "approval request (POST /api/v1/deals/{id}/approval-requests)")
    return (f"a deal of {f['amount']} {f['currency']} (threshold {threshold} {f['currency']}) needs an approved "
            "approval request before it can be won (POST /api/v1/deals/{id}/approval-requests)")


def _lead_score(f: Facts, s: OrgSettings) -> str | None:
    t = s.lead_qualify_score_threshold
    return None if f["score"] >= t else f"lead score {f['score']} is below the org's qualify threshold {t}"


def _manager_only(f: Facts, s: OrgSettings) -> str | None:
    roles = set(f["roles"])
    return None if roles & {"sales-manager", "crm-admin"} else "only a sales-manager (or crm-admin) may reassign"


RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("deal-won-requires-close-date", "deal:close-won",
         "A deal cannot be marked won without an expected close date.", "expected_close_date", None, _close_date),
    Rule("deal-lost-requires-reason", "deal:close-lost",
         "A deal cannot be marked lost without a reason.", "reason", None, _lost_reason),
    Rule("high-value-deal-approval", "deal:close-won",
         "A deal whose value is at or above the org's high-value threshold needs an approved request from a "
         "sales-manager (or crm-admin) before it is won.", "value", "high_value_threshold", _high_value),
    Rule("lead-qualify-score-threshold", "lead:qualify",
         "A lead's score must reach the org's threshold before it is qualified.", "score",
         "lead_qualify_score_threshold", _lead_score),
    Rule("contact-reassign-manager-only", "contact:reassign",
         "Only a sales-manager (or crm-admin) may choose a contact's owner.", "owner_id", None, _manager_only),
)}


def check(rule_id: str, facts: Facts, settings: OrgSettings) -> None:
    """Raise ``RuleViolation(rule_id)`` when the rule fails for ``facts``."""
    rule = RULES[rule_id]
    why = rule.check(facts, settings)
    if why is not None:
        raise RuleViolation(rule.id, why, extra={"field": rule.field})


def describe(settings: OrgSettings) -> list[dict[str, Any]]:
    """Every rule with the org's current value of its setting (``GET /api/v1/rules``)."""
    values = settings.model_dump(mode="json")
    out = []
    for rule in RULES.values():
        value = values.get(rule.setting) if rule.setting else None
        if rule.id == "high-value-deal-approval":
            value = {"default": value, "by_currency": values["high_value_thresholds"]}
        out.append({"id": rule.id, "scope": rule.scope, "description": rule.description, "field": rule.field,
                    "setting": rule.setting, "value": value})
    return out
