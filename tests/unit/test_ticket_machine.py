"""The ticket machine (docs/tickets.md): open → pending → resolved → closed, pending|resolved → open
(reopen), closed final; the timestamps each move writes; the SLA hours and their org override."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kith.core.errors import InvalidTransition
from kith.tickets.model import (
    DEFAULT_SLA_HOURS,
    PRIORITIES,
    STATUSES,
    TRANSITIONS,
    VERBS,
    assert_editable,
    assert_transition,
    due_at,
    is_overdue,
    sla_hours,
    stamps,
)

# The machine written out independently of the code under test.
ALLOWED = {("open", "pending"), ("open", "resolved"), ("pending", "open"), ("pending", "resolved"),
           ("resolved", "open"), ("resolved", "closed")}
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_statuses_and_verbs() -> None:
    assert STATUSES == ("open", "pending", "resolved", "closed")
    assert set(TRANSITIONS) == set(STATUSES)
    assert {target for target, _ in VERBS.values()} == set(STATUSES)
    assert TRANSITIONS["closed"] == frozenset()


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_status_pair_is_allowed_exactly_when_the_machine_says_so(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        assert_transition(current, target)
        return
    with pytest.raises(InvalidTransition) as info:
        assert_transition(current, target)
    problem = info.value.problem()
    assert info.value.status == 409 and problem["type"].endswith("invalid-transition")
    assert (problem["from"], problem["to"]) == (current, target)
    assert set(problem["allowed"]) == {t for (c, t) in ALLOWED if c == current}


@given(st.lists(st.sampled_from(sorted(VERBS)), max_size=40))
def test_any_sequence_of_verbs_moves_only_along_the_machine(verbs: list[str]) -> None:
    """A random sequence of verbs: each step either follows an edge or raises 409 and stays put;
    once closed, every verb is refused; resolved_at is set exactly while resolved or closed, closed_at
    exactly once closed."""
    status, ticket = "open", {"first_response_at": None, "resolved_at": None, "closed_at": None}
    for verb in verbs:
        target = VERBS[verb][0]
        try:
            assert_transition(status, target)
        except InvalidTransition:
            assert (status, target) not in ALLOWED
            continue
        assert (status, target) in ALLOWED and status != "closed"
        ticket.update(stamps(target, NOW, ticket))
        status = target
        assert (ticket["resolved_at"] is not None) == (status in ("resolved", "closed"))
        assert (ticket["closed_at"] is not None) == (status == "closed")
        assert ticket["first_response_at"] is not None or status == "open"  # answered before leaving open


def test_the_first_response_is_stamped_once() -> None:
    first = stamps("pending", NOW, {"first_response_at": None})
    assert first["first_response_at"] == NOW
    assert "first_response_at" not in stamps("resolved", NOW, {"first_response_at": NOW - timedelta(hours=1)})


@pytest.mark.parametrize(("changed", "refused"), [
    pytest.param({"tags"}, False, id="tags-only"),
    pytest.param({"subject"}, True, id="subject"),
    pytest.param({"tags", "priority"}, True, id="tags-and-priority"),
])
def test_a_closed_ticket_takes_only_tags(changed: set[str], refused: bool) -> None:
    for status in ("open", "pending", "resolved"):
        assert_editable(status, changed)
    if refused:
        with pytest.raises(InvalidTransition):
            assert_editable("closed", changed)
    else:
        assert_editable("closed", changed)


@pytest.mark.parametrize(("settings", "expected"), [
    pytest.param(None, DEFAULT_SLA_HOURS, id="no-settings"),
    pytest.param({"ticket_sla_hours": {"urgent": 2}}, {**DEFAULT_SLA_HOURS, "urgent": 2}, id="override"),
    pytest.param({"ticket_sla_hours": {"urgent": 0, "low": "x", "high": True, "bogus": 5}}, DEFAULT_SLA_HOURS,
                 id="invalid-ignored"),
    pytest.param({"ticket_sla_hours": [1, 2]}, DEFAULT_SLA_HOURS, id="not-a-mapping"),
])
def test_sla_hours_default_and_org_override(settings: dict[str, object] | None, expected: dict[str, int]) -> None:
    assert sla_hours(settings) == expected


def test_sla_defaults_are_tighter_for_higher_priorities() -> None:
    hours = [DEFAULT_SLA_HOURS[p] for p in PRIORITIES]  # low → urgent
    assert hours == sorted(hours, reverse=True)
    assert due_at(NOW, "urgent", DEFAULT_SLA_HOURS) == NOW + timedelta(hours=4)


@pytest.mark.parametrize(("status", "due", "overdue"), [
    pytest.param("open", NOW - timedelta(seconds=1), True, id="open-late"),
    pytest.param("pending", NOW - timedelta(days=1), True, id="pending-late"),
    pytest.param("open", NOW + timedelta(seconds=1), False, id="open-in-time"),
    pytest.param("resolved", NOW - timedelta(days=1), False, id="resolved"),
    pytest.param("closed", NOW - timedelta(days=1), False, id="closed"),
])
def test_overdue_means_active_and_past_due(status: str, due: datetime, overdue: bool) -> None:
    assert is_overdue(status, due, NOW) is overdue
