"""The deal state machine, its reopen window, line-item money, the business rules and the stage-list
plan, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith import rules
from kith.core.errors import InvalidTransition, RuleViolation, ValidationFailed
from kith.deals import model
from kith.deals.closing import customer_path
from kith.orgs.schemas import Money, OrgSettings
from kith.pipelines import model as stage_model

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LEGAL = {("open", "won"), ("open", "lost"), ("open", "abandoned"), ("won", "open")}


@pytest.mark.parametrize("current", model.STATUSES)
@pytest.mark.parametrize("target", model.STATUSES)
def test_every_pair_of_statuses_is_legal_exactly_when_the_seed_says_so(current: str, target: str) -> None:
    if (current, target) in LEGAL:
        model.assert_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as exc:
            model.assert_transition(current, target)
        assert exc.value.status == 409 and exc.value.problem()["type"].endswith("invalid-transition")
        assert exc.value.extra["from"] == current and exc.value.extra["to"] == target


def test_the_machine_names_every_status_and_only_won_reopens() -> None:
    assert set(model.TRANSITIONS) == set(model.STATUSES)
    assert all(targets <= set(model.STATUSES) for targets in model.TRANSITIONS.values())
    assert {s for s, t in model.TRANSITIONS.items() if "open" in t} == {"won"}


@pytest.mark.parametrize(("age", "ok"), [
    pytest.param(timedelta(0), True, id="just-closed"),
    pytest.param(timedelta(days=29, hours=23), True, id="29-days"),
    pytest.param(timedelta(days=30), True, id="exactly-30-days"),
    pytest.param(timedelta(days=30, seconds=1), False, id="past-30-days"),
    pytest.param(timedelta(days=400), False, id="a-year-later"),
])
def test_a_won_deal_reopens_only_within_30_days_of_closing(age: timedelta, ok: bool) -> None:
    if ok:
        model.assert_can_reopen("won", NOW - age, NOW)
    else:
        with pytest.raises(InvalidTransition, match="within 30 days"):
            model.assert_can_reopen("won", NOW - age, NOW)


@pytest.mark.parametrize("status", ["open", "lost", "abandoned"])
def test_only_a_won_deal_reopens(status: str) -> None:
    with pytest.raises(InvalidTransition):
        model.assert_can_reopen(status, NOW, NOW)


def test_a_won_deal_without_a_closing_time_cannot_reopen() -> None:
    with pytest.raises(InvalidTransition):
        model.assert_can_reopen("won", None, NOW)


VERBS = st.sampled_from(["won", "lost", "abandoned", "open"])


@given(st.lists(st.tuples(VERBS, st.integers(min_value=0, max_value=60)), max_size=30))
def test_any_sequence_of_verbs_follows_the_machine(steps: list[tuple[str, int]]) -> None:
    """A random walk: every accepted step is an edge; a refused one leaves the status as it was;
    the closing stamps always agree with the status."""
    status, stamps = "open", model.closing_stamps("open", NOW)
    for target, days_later in steps:
        now = NOW + timedelta(days=days_later)
        try:
            if target == "open":
                model.assert_can_reopen(status, stamps["closed_at"], now)
            else:
                model.assert_transition(status, target)
        except InvalidTransition:
            assert (status, target) not in LEGAL or (target == "open" and stamps["closed_at"] is not None
                                                     and now - stamps["closed_at"] > model.REOPEN_WINDOW)
            continue
        assert (status, target) in LEGAL
        status, stamps = target, model.closing_stamps(target, now if target != "open" else NOW)
        assert (stamps["closed_at"] is None) == (status == "open")
        assert (stamps["won_at"] is not None) == (status == "won")
        assert (stamps["lost_at"] is not None) == (status == "lost")


@given(st.sampled_from(model.APPROVAL_STATUSES), st.sampled_from(model.APPROVAL_STATUSES))
def test_approval_requests_are_answered_once(current: str, target: str) -> None:
    legal = {("pending", "approved"), ("pending", "rejected"), ("pending", "cancelled"), ("approved", "cancelled")}
    if (current, target) in legal:
        model.assert_approval_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            model.assert_approval_transition(current, target)


# --- money ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("qty", "price", "discount", "total"), [
    pytest.param("1", "100.00", 0, "100.00", id="one"),
    pytest.param("3", "19.99", 0, "59.97", id="three"),
    pytest.param("1.5", "10.00", 10, "13.50", id="fraction-and-discount"),
    pytest.param("1", "0.05", 50, "0.03", id="half-cent-rounds-up"),
    pytest.param("2", "100.00", 100, "0.00", id="free"),
    pytest.param("0.001", "0.01", 0, "0.00", id="tiny"),
])
def test_line_totals_round_half_up_to_the_cent(qty: str, price: str, discount: int, total: str) -> None:
    assert model.line_total(Decimal(qty), Decimal(price), discount) == Decimal(total)


@given(st.lists(st.decimals(min_value=0, max_value=10**9, places=2), max_size=20))
def test_the_deal_amount_is_the_exact_sum_of_its_lines(totals: list[Decimal]) -> None:
    assert model.amount_of(totals) == sum(totals, Decimal(0))


@pytest.mark.parametrize(("current", "override", "expected"), [(30, False, 50), (30, True, 30)])
def test_probability_follows_the_stage_unless_overridden(current: int, override: bool, expected: int) -> None:
    assert model.probability(50, current, override) == expected


# --- rules ---------------------------------------------------------------------------------------------

SETTINGS = OrgSettings(high_value_threshold=Money(amount=Decimal("50000"), currency="USD"),
                       high_value_thresholds={"EUR": Decimal("45000")}, lead_qualify_score_threshold=30)


def test_every_seed_rule_is_data_with_its_stable_id() -> None:
    assert set(rules.RULES) == {"deal-won-requires-close-date", "deal-lost-requires-reason",
                                "high-value-deal-approval", "lead-qualify-score-threshold",
                                "contact-reassign-manager-only"}
    described = {r["id"]: r for r in rules.describe(SETTINGS)}
    assert described["lead-qualify-score-threshold"]["value"] == 30
    assert described["high-value-deal-approval"]["value"]["default"] == {"amount": "50000.00", "currency": "USD"}
    assert described["high-value-deal-approval"]["value"]["by_currency"] == {"EUR": "45000.00"}


@pytest.mark.parametrize(("rule", "facts", "passes"), [
    ("deal-won-requires-close-date", {"expected_close_date": None}, False),
    ("deal-won-requires-close-date", {"expected_close_date": "2026-12-31"}, True),
    ("deal-lost-requires-reason", {"lost_reason": None}, False),
    ("deal-lost-requires-reason", {"lost_reason": "   "}, False),
    ("deal-lost-requires-reason", {"lost_reason": "price"}, True),
    ("high-value-deal-approval", {"amount": Decimal("49999.99"), "currency": "USD"}, True),
    ("high-value-deal-approval", {"amount": Decimal("50000.00"), "currency": "USD"}, False),
    ("high-value-deal-approval", {"amount": Decimal("50000.00"), "currency": "USD", "approved": True}, True),
    ("high-value-deal-approval", {"amount": Decimal("44999.99"), "currency": "EUR"}, True),
    ("high-value-deal-approval", {"amount": Decimal("45000"), "currency": "EUR"}, False),
    ("high-value-deal-approval", {"amount": Decimal("1"), "currency": "JPY"}, False),
    ("lead-qualify-score-threshold", {"score": 29}, False),
    ("lead-qualify-score-threshold", {"score": 30}, True),
    ("contact-reassign-manager-only", {"roles": ["sales-rep"]}, False),
    ("contact-reassign-manager-only", {"roles": ["sales-manager"]}, True),
])
def test_each_rule_fails_with_its_id(rule: str, facts: dict[str, Any], passes: bool) -> None:
    if passes:
        rules.check(rule, facts, SETTINGS)
    else:
        with pytest.raises(RuleViolation) as exc:
            rules.check(rule, facts, SETTINGS)
        assert exc.value.status == 422 and exc.value.problem()["rule"] == rule


@given(st.decimals(min_value=0, max_value=10**7, places=2), st.decimals(min_value=0, max_value=10**7, places=2))
def test_high_value_is_at_or_above_the_threshold(amount: Decimal, threshold: Decimal) -> None:
    s = OrgSettings(high_value_threshold=Money(amount=threshold, currency="USD"))
    assert rules.is_high_value(amount, "USD", s) is (amount >= threshold)


# --- the contact side of "Deal Won" -----------------------------------------------------------------------

@pytest.mark.parametrize(("stage", "path"), [
    ("lead", ["qualified", "customer"]), ("qualified", ["customer"]), ("customer", []), ("churned", []),
    ("partner", []),
])
def test_a_won_deal_walks_its_contact_to_customer_along_the_stage_machine(stage: str, path: list[str]) -> None:
    assert customer_path(stage) == path


# --- stage lists ---------------------------------------------------------------------------------------

EXISTING = [{"id": "s1", "name": "A"}, {"id": "s2", "name": "B"}, {"id": "s3", "name": "Won", "outcome": "won"}]


def test_a_stage_plan_keeps_renames_creates_and_deletes() -> None:
    p = stage_model.plan(EXISTING, [{"id": "s2", "name": "B2"}, {"name": "New"}, {"id": "s3", "name": "Won",
                                                                                 "outcome": "won"}],
                         {"s1": "s2"}, kind="deal", targets_field="move_deals_to")
    assert [s["id"] for s in p.keep] == ["s2", "s3"] and [s["position"] for s in p.keep] == [0, 2]
    assert [s["name"] for s in p.create] == ["New"] and p.delete == ["s1"] and p.targets == {"s1": "s2"}


@pytest.mark.parametrize(("incoming", "targets", "field"), [
    pytest.param([{"id": "nope", "name": "X"}], {}, "stages.0.id", id="unknown-id"),
    pytest.param([{"id": "s1", "name": "X"}, {"id": "s1", "name": "Y"}], {}, "stages.1.id", id="same-id-twice"),
    pytest.param([{"name": "X"}, {"name": "x "}], {}, "stages.1.name", id="same-name"),
    pytest.param([{"name": "X"}, {"name": "W", "outcome": "won"}, {"name": "V", "outcome": "won"}], {},
                 "stages.2.outcome", id="two-won-stages"),
    pytest.param([{"name": "W", "outcome": "won"}], {}, "stages", id="no-open-stage"),
    pytest.param([{"id": "s1", "name": "A"}], {"s1": "s2"}, "move_deals_to.s1", id="target-for-kept-stage"),
    pytest.param([{"id": "s1", "name": "A"}], {"s2": "s3"}, "move_deals_to.s2", id="target-deleted-too"),
])
def test_a_bad_stage_list_names_the_field(incoming: list[dict[str, Any]], targets: dict[str, str], field: str
                                          ) -> None:
    with pytest.raises(ValidationFailed) as exc:
        stage_model.plan(EXISTING, incoming, targets, kind="deal", targets_field="move_deals_to")
    assert field in [e.field for e in exc.value.errors]


def test_company_stages_have_no_outcome() -> None:
    with pytest.raises(ValidationFailed):
        stage_model.plan([], [{"name": "X", "outcome": "won"}], {}, kind="company", targets_field="t")


def test_a_deleted_stage_holding_records_needs_a_target() -> None:
    p = stage_model.plan(EXISTING, [{"id": "s2", "name": "B"}], {}, kind="deal", targets_field="move_deals_to")
    stage_model.missing_targets(p, {"s3": 0}, "move_deals_to", "deals")
    with pytest.raises(ValidationFailed) as exc:
        stage_model.missing_targets(p, {"s1": 2}, "move_deals_to", "deals")
    assert [e.field for e in exc.value.errors] == ["move_deals_to.s1"]
