"""The lead machine of seed 004: new → contacted → qualified → converted; new|contacted|qualified →
disqualified (reason required); disqualified → new (reopen). And its two rules."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.core.errors import Conflict, InvalidTransition, RuleViolation
from kith.leads.model import (
    DISQUALIFY_RULE,
    QUALIFY_RULE,
    STATUSES,
    TRANSITIONS,
    VERBS,
    assert_can_qualify,
    assert_status_change_allowed,
    disqualification_reason,
)

# The machine written out independently of the code under test.
ALLOWED = {
    ("new", "contacted"), ("contacted", "qualified"), ("qualified", "converted"),
    ("new", "disqualified"), ("contacted", "disqualified"), ("qualified", "disqualified"),
    ("disqualified", "new"),
}


def test_the_statuses_are_the_five_of_seed_004() -> None:
    assert set(STATUSES) == {"new", "contacted", "qualified", "disqualified", "converted"}
    assert set(TRANSITIONS) == set(STATUSES)
    assert {target for target, _ in VERBS.values()} <= set(STATUSES)


@pytest.mark.parametrize("current, target", list(itertools.product(STATUSES, STATUSES)))
def test_every_status_pair_is_allowed_exactly_when_the_machine_says_so(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        assert_status_change_allowed(current, target)
        return
    with pytest.raises(InvalidTransition) as info:
        assert_status_change_allowed(current, target)
    err = info.value
    assert isinstance(err, Conflict) and err.status == 409
    problem = err.problem()
    assert problem["type"].endswith("invalid-transition")
    assert (problem["from"], problem["to"]) == (current, target)
    assert set(problem["allowed"]) == {t for (c, t) in ALLOWED if c == current}


def test_converted_is_terminal() -> None:
    assert TRANSITIONS["converted"] == frozenset()


@given(st.lists(st.sampled_from(STATUSES), max_size=40))
def test_a_random_walk_only_takes_allowed_steps_and_converts_only_from_qualified(walk: list[str]) -> None:
    current, path = "new", ["new"]
    for target in walk:
        try:
            assert_status_change_allowed(current, target)
        except InvalidTransition:
            assert (current, target) not in ALLOWED
            continue
        assert (current, target) in ALLOWED
        path.append(target)
        current = target
    if "converted" in path:
        i = path.index("converted")
        assert path[i - 1] == "qualified" and i == len(path) - 1  # nothing after converted


@given(st.integers(0, 100), st.integers(0, 100))
def test_qualifying_needs_the_score_to_reach_the_threshold(score: int, threshold: int) -> None:
    if score >= threshold:
        assert_can_qualify(score, threshold)
        return
    with pytest.raises(RuleViolation) as info:
        assert_can_qualify(score, threshold)
    assert info.value.rule == QUALIFY_RULE == "lead-qualify-score-threshold"
    assert info.value.problem()["threshold"] == threshold


@pytest.mark.parametrize("reason", [None, "", "   ", "\n\t"])
def test_a_missing_or_blank_reason_breaks_the_disqualify_rule(reason: str | None) -> None:
    with pytest.raises(RuleViolation) as info:
        disqualification_reason(reason)
    problem = info.value.problem()
    assert problem["rule"] == DISQUALIFY_RULE and problem["errors"] == [{"field": "reason", "message": "required"}]


def test_a_reason_is_kept_trimmed() -> None:
    assert disqualification_reason("  no budget ") == "no budget"
