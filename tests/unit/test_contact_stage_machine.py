"""The contact stage machine of seed 001: lead → qualified → customer → churned; any → partner."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.contacts.model import STAGES, TRANSITIONS, assert_stage_change_allowed
from kith.core.errors import Conflict, InvalidTransition

# The machine written out independently of the code under test.
ALLOWED = {
    ("lead", "qualified"), ("qualified", "customer"), ("customer", "churned"),
    ("lead", "partner"), ("qualified", "partner"), ("customer", "partner"), ("churned", "partner"),
}


def test_the_stages_are_the_five_of_seed_001() -> None:
    assert set(STAGES) == {"lead", "qualified", "customer", "churned", "partner"}
    assert set(TRANSITIONS) == set(STAGES)


@pytest.mark.parametrize("current, target", list(itertools.product(STAGES, STAGES)))
def test_every_stage_pair_is_allowed_exactly_when_the_machine_says_so(current: str, target: str) -> None:
    if current == target or (current, target) in ALLOWED:
        assert_stage_change_allowed(current, target)
        return
    with pytest.raises(InvalidTransition) as info:
        assert_stage_change_allowed(current, target)
    err = info.value
    assert isinstance(err, Conflict) and err.status == 409
    problem = err.problem()
    assert problem["type"].endswith("invalid-transition")
    assert (problem["from"], problem["to"]) == (current, target)
    assert target not in problem["allowed"]
    assert set(problem["allowed"]) == {t for (c, t) in ALLOWED if c == current}


def test_partner_is_terminal() -> None:
    for target in STAGES:
        if target != "partner":
            with pytest.raises(InvalidTransition):
                assert_stage_change_allowed("partner", target)


@given(st.lists(st.sampled_from(STAGES), max_size=30))
def test_a_random_walk_moves_only_forward_or_to_partner(walk: list[str]) -> None:
    current = "lead"
    visited = [current]
    for target in walk:
        try:
            assert_stage_change_allowed(current, target)
        except InvalidTransition:
            assert current != target and (current, target) not in ALLOWED
            continue
        assert current == target or (current, target) in ALLOWED
        current = target
        visited.append(current)
    order = {s: i for i, s in enumerate(("lead", "qualified", "customer", "churned"))}
    ranks = [order[s] for s in visited if s != "partner"]
    assert ranks == sorted(ranks), visited  # never backward
    if "partner" in visited:  # nothing leaves partner
        assert all(s == "partner" for s in visited[visited.index("partner"):])
    # every step taken moved at most one stage along the main line
    assert all(b - a <= 1 for a, b in itertools.pairwise(ranks))
