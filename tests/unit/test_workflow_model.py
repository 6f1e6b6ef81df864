"""The SALES_PROCESS template of seed 004 §7 and the workflow stage machine, without a database."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kith.core.errors import InvalidTransition
from kith.workflows import model
from kith.workflows.model import SALES_PROCESS, DealFacts, GuardSpec, Progress, StageSpec, TaskSpec, Template

STAGES = ("discovery", "proposal", "negotiation", "closing")


# --- the template as data ----------------------------------------------------------------------

def test_sales_process_has_the_four_stages_of_seed_004_in_order() -> None:
    assert [s.key for s in SALES_PROCESS.stages] == list(STAGES)
    assert SALES_PROCESS.entity_type == "deal"
    assert SALES_PROCESS.on_complete == "deal.mark-won"
    assert model.TEMPLATES["SALES_PROCESS"] is SALES_PROCESS


def test_sales_process_tasks_and_roles_follow_the_seed() -> None:
    tasks = {s.key: [(t.title, t.role) for t in s.tasks] for s in SALES_PROCESS.stages}
    assert tasks == {
        "discovery": [("Conduct needs analysis call", "sales-rep"), ("Document pain points", "sales-rep")],
        "proposal": [("Prepare proposal document", "sales-rep"),
                     ("Get manager approval (value at or above threshold)", "sales-manager"),
                     ("Send proposal to contact", "sales-rep")],
        "negotiation": [("Address objections", "sales-rep"), ("Update deal value if changed", "sales-rep")],
        "closing": [("Send contract for signature", "sales-rep"), ("Confirm signed contract received", "sales-rep")],
    }


def test_sales_process_entry_guards() -> None:
    guards = {s.key: s.guard for s in SALES_PROCESS.stages}
    assert guards["discovery"] is None
    assert guards["proposal"] == GuardSpec("discovery-complete", "Discovery complete", "stage-complete")
    assert guards["negotiation"] == GuardSpec("proposal-sent", "Proposal sent", "task-complete", "send-proposal")
    assert guards["closing"] == GuardSpec("verbal-agreement", "Verbal agreement", "confirmation")


@pytest.mark.parametrize("high_value, expected", [
    pytest.param(False, ["prepare-proposal", "send-proposal"], id="below-threshold"),
    pytest.param(True, ["prepare-proposal", "manager-approval", "send-proposal"], id="at-or-above-threshold"),
])
def test_manager_approval_task_exists_only_for_high_value_deals(high_value: bool, expected: list[str]) -> None:
    stage = SALES_PROCESS.stage("proposal")
    assert [t.key for t in model.tasks_for(stage, DealFacts(high_value=high_value))] == expected


@pytest.mark.parametrize("role, owners_manager, any_manager, expected", [
    pytest.param("sales-rep", "m1", "m2", "owner", id="rep-task-to-owner"),
    pytest.param("sales-manager", "m1", "m2", "m1", id="manager-task-to-owners-manager"),
    pytest.param("sales-manager", None, "m2", "m2", id="else-any-sales-manager"),
    pytest.param("sales-manager", None, None, "owner", id="else-the-owner"),
])
def test_assignees(role: str, owners_manager: str | None, any_manager: str | None, expected: str) -> None:
    assert model.assignee_for(role, "owner", owners_manager, any_manager) == expected


@pytest.mark.parametrize("build, message", [
    pytest.param(lambda: Template("T", "t", "deal", ()), "at least one", id="no-stages"),
    pytest.param(lambda: Template("T", "t", "deal", (
        StageSpec("a", "A", (TaskSpec("x", "X", "sales-rep"),)),
        StageSpec("b", "B", (TaskSpec("x", "X", "sales-rep"),)))), "unique", id="duplicate-task-key"),
    pytest.param(lambda: Template("T", "t", "deal", (
        StageSpec("a", "A", (TaskSpec("x", "X", "sales-rep", condition="full-moon"),)),)), "condition",
        id="unknown-condition"),
    pytest.param(lambda: Template("T", "t", "deal", (
        StageSpec("a", "A", (TaskSpec("x", "X", "sales-rep"),)),
        StageSpec("b", "B", (), guard=GuardSpec("g", "G", "task-complete", "nope")))), "unknown task",
        id="guard-names-unknown-task"),
])
def test_malformed_templates_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_template_as_dict_lists_stages_tasks_and_guards() -> None:
    d = model.template_as_dict(SALES_PROCESS)
    assert d["id"] == "SALES_PROCESS" and d["builtin"] is True
    stages = d["stages"]
    assert isinstance(stages, list) and [s["key"] for s in stages] == list(STAGES)
    assert stages[1]["tasks"][1]["condition"] == "high-value"
    assert stages[3]["entry_guard"]["kind"] == "confirmation"


# --- the lifecycle and stage machines ------------------------------------------------------------

LIFECYCLE = {("active", "completed"), ("active", "cancelled")}


@pytest.mark.parametrize("current, target", list(itertools.product(model.STATUSES, model.STATUSES)))
def test_every_workflow_status_pair(current: str, target: str) -> None:
    if (current, target) in LIFECYCLE:
        model.check_transition(current, target)
        return
    with pytest.raises(InvalidTransition) as info:
        model.check_transition(current, target)
    assert info.value.status == 409 and info.value.problem()["type"].endswith("invalid-transition")


@pytest.mark.parametrize("current, target", list(itertools.product(STAGES, STAGES)))
def test_every_stage_pair_moves_only_to_the_next(current: str, target: str) -> None:
    if STAGES.index(target) == STAGES.index(current) + 1:
        model.check_stage_move(SALES_PROCESS, current, target)
        return
    with pytest.raises(InvalidTransition):
        model.check_stage_move(SALES_PROCESS, current, target)


def test_stage_transitions_are_data() -> None:
    assert model.stage_transitions(SALES_PROCESS) == {
        "discovery": frozenset({"proposal"}), "proposal": frozenset({"negotiation"}),
        "negotiation": frozenset({"closing"}), "closing": frozenset()}


# --- decide ----------------------------------------------------------------------------------------

def _p(stage: str, open_: set[str] = frozenset(), done: set[str] = frozenset(),  # type: ignore[assignment]
       confirmed: set[str] = frozenset()) -> Progress:  # type: ignore[assignment]
    return Progress(stage, frozenset(open_), frozenset(done), frozenset(confirmed))


@pytest.mark.parametrize("progress, decision", [
    pytest.param(_p("discovery", {"document-pain-points"}), model.Decision("wait"), id="open-tasks-wait"),
    pytest.param(_p("discovery"), model.Decision("advance", stage="proposal"), id="discovery-done"),
    pytest.param(_p("proposal", done={"prepare-proposal"}), model.Decision("blocked", guard="proposal-sent"),
                 id="proposal-not-sent"),
    pytest.param(_p("proposal", done={"send-proposal"}), model.Decision("advance", stage="negotiation"),
                 id="proposal-sent"),
    pytest.param(_p("negotiation"), model.Decision("blocked", guard="verbal-agreement"), id="no-verbal-agreement"),
    pytest.param(_p("negotiation", confirmed={"verbal-agreement"}), model.Decision("advance", stage="closing"),
                 id="verbal-agreement"),
    pytest.param(_p("negotiation", {"address-objections"}, confirmed={"verbal-agreement"}), model.Decision("wait"),
                 id="confirmed-early-still-waits-for-tasks"),
    pytest.param(_p("closing", {"send-contract"}), model.Decision("wait"), id="closing-open"),
    pytest.param(_p("closing"), model.Decision("complete"), id="closing-done"),
])
def test_decide(progress: Progress, decision: model.Decision) -> None:
    assert model.decide(SALES_PROCESS, progress) == decision


@pytest.mark.parametrize("current, status, expected", [
    pytest.param("discovery", "active", ["current", "pending", "pending", "pending"], id="start"),
    pytest.param("negotiation", "active", ["done", "done", "current", "pending"], id="middle"),
    pytest.param("closing", "completed", ["done", "done", "done", "done"], id="completed"),
    pytest.param("proposal", "cancelled", ["done", "cancelled", "pending", "pending"], id="cancelled"),
])
def test_stage_statuses(current: str, status: str, expected: list[str]) -> None:
    assert list(model.stage_statuses(SALES_PROCESS, current, status).values()) == expected


def test_guard_state_reports_each_guard() -> None:
    state = {g["id"]: g["holds"] for g in model.guard_state(SALES_PROCESS, _p("proposal", {"send-proposal"}))}
    assert state == {"discovery-complete": True, "proposal-sent": False, "verbal-agreement": False}


# --- property: any order of task completions -----------------------------------------------------

class Sim:
    """Drives the model the way the service does: tasks created on entering a stage, ``decide``
    consulted after each completion or confirmation."""

    def __init__(self, high_value: bool) -> None:
        self.facts = DealFacts(high_value=high_value)
        self.stage = SALES_PROCESS.first.key
        self.status = "active"
        self.tasks: dict[str, str] = {}
        self.done: set[str] = set()
        self.confirmed: set[str] = set()
        self.visited = [self.stage]
        self.won = 0
        self._enter(SALES_PROCESS.first)

    def _enter(self, stage: StageSpec) -> None:
        self.tasks.update({t.key: stage.key for t in model.tasks_for(stage, self.facts)})

    def progress(self) -> Progress:
        open_ = {k for k, s in self.tasks.items() if s == self.stage and k not in self.done}
        return Progress(self.stage, frozenset(open_), frozenset(self.done), frozenset(self.confirmed))

    def settle(self) -> None:
        while self.status == "active":
            d = model.decide(SALES_PROCESS, self.progress())
            if d.action == "advance":
                assert d.stage is not None
                model.check_stage_move(SALES_PROCESS, self.stage, d.stage)
                self.stage = d.stage
                self.visited.append(d.stage)
                self._enter(SALES_PROCESS.stage(d.stage))
            elif d.action == "complete":
                model.check_transition(self.status, "completed")
                self.status = "completed"
                self.won += 1
            else:
                return

    def complete(self, key: str) -> None:
        if self.status != "active" or key in self.done:
            return
        self.done.add(key)
        if self.tasks[key] == self.stage:
            self.settle()

    def confirm(self, guard: str) -> None:
        if self.status == "active":
            self.confirmed.add(guard)
            self.settle()


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.data())
def test_any_order_of_completions_never_skips_a_stage_and_wins_exactly_once(high_value: bool, data: st.DataObject
                                                                            ) -> None:
    sim = Sim(high_value)
    for _ in range(40):
        actions = [("task", k) for k in sorted(sim.tasks) if k not in sim.done]
        actions += [("confirm", "verbal-agreement"), ("confirm", "verbal-agreement")]
        kind, arg = data.draw(st.sampled_from(actions))
        if kind == "task":
            sim.complete(arg)
        else:
            sim.confirm(arg)
        assert sim.visited == list(STAGES[:len(sim.visited)]), "a stage was skipped or repeated"
        assert sim.won <= 1
        if sim.status == "completed":
            break
    # Whatever happened so far, finishing everything that is left ends in exactly one win.
    sim.confirm("verbal-agreement")
    while sim.status == "active":
        open_ = sorted(sim.progress().open_tasks)
        assert open_, "an active workflow with nothing open must be waiting for a guard"
        sim.complete(open_[0])
    assert sim.visited == list(STAGES)
    assert sim.won == 1
    assert ("manager-approval" in sim.tasks) is high_value
    sim.complete("confirm-signed-contract")
    sim.confirm("verbal-agreement")
    assert sim.won == 1


# --- templates as JSON -----------------------------------------------------------------------------

def test_a_template_survives_its_json_round_trip() -> None:
    again = model.template_from_dict(model.template_as_dict(SALES_PROCESS))
    assert again == SALES_PROCESS


@pytest.mark.parametrize("change, problem", [
    pytest.param({"on_complete": "deal.mark-lost"}, "on_complete", id="unknown-on-complete"),
    pytest.param({"guard_on_first": True}, "first stage", id="guard-on-first-stage"),
    pytest.param({"later_task_guard": True}, "later stage", id="guard-on-a-later-task"),
])
def test_template_problems(change: dict[str, object], problem: str) -> None:
    d = model.template_as_dict(SALES_PROCESS)
    stages = d["stages"]
    if "on_complete" in change:
        d["on_complete"] = change["on_complete"]
    if change.get("guard_on_first"):
        stages[0]["entry_guard"] = {"id": "g", "title": "G", "kind": "confirmation"}
    if change.get("later_task_guard"):
        stages[2]["entry_guard"] = {"id": "g", "title": "G", "kind": "task-complete", "task_key": "send-contract"}
    with pytest.raises(ValueError, match=problem):
        model.template_from_dict(d)
