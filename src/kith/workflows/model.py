"""Workflow templates as data, and the stage machine that walks a deal through one. Pure: no I/O.

A template is an ordered list of stages; each stage has tasks (each for a role) and an optional
entry guard. Invariants the machine keeps (``decide`` is the only place that decides):

- A workflow is in exactly one stage at a time and only ever moves to the *next* stage
  (``stage_transitions``): no stage is skipped, none is entered twice.
- The next stage is entered when every task of the current stage is complete (deleted tasks do not
  block) AND the next stage's entry guard holds. Guards are named conditions of three kinds:
  ``stage-complete`` (the previous stage's tasks are all done: implied by the first condition),
  ``task-complete`` (a named task of the workflow was completed) and ``confirmation`` (somebody
  with deal:update on the deal confirmed it: ``POST …/workflow/confirm {guard}``).
- When the last stage's tasks are complete the workflow completes: its ``on_complete`` action
  (``deal.mark-won`` for SALES_PROCESS) runs exactly once.
- A task may carry a condition (``high-value``): it exists only when the condition holds for the
  deal when its stage is entered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from kith.core.errors import InvalidTransition

Status = Literal["active", "completed", "cancelled"]
STATUSES: tuple[Status, ...] = ("active", "completed", "cancelled")

# The workflow's own lifecycle: an active workflow completes (last stage done) or is cancelled
# (its deal was lost, abandoned or deleted by hand). Nothing comes back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"completed", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}

GuardKind = Literal["stage-complete", "task-complete", "confirmation"]
TaskRole = Literal["sales-rep", "sales-manager"]
TASK_ROLES: tuple[TaskRole, ...] = ("sales-rep", "sales-manager")

# Named conditions a task may require; evaluated against the deal when the task's stage is entered.
CONDITIONS: dict[str, str] = {
    "high-value": "the deal's value is at or above the org's high_value_threshold",
}


def check_transition(current: str, target: str) -> None:
    """The one guard of the workflow lifecycle."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(
            f"a workflow cannot go from {current!r} to {target!r}",
            extra={"from": current, "to": target, "allowed": sorted(TRANSITIONS.get(current, ()))},
        )


@dataclass(frozen=True)
class TaskSpec:
    key: str  # unique within the template
    title: str
    role: TaskRole
    condition: str | None = None  # a key of CONDITIONS
    due_days: int = 3


@dataclass(frozen=True)
class GuardSpec:
    id: str
    title: str
    kind: GuardKind
    task_key: str | None = None  # for kind task-complete


@dataclass(frozen=True)
class StageSpec:
    key: str
    title: str
    tasks: tuple[TaskSpec, ...]
    guard: GuardSpec | None = None
    pipeline_stage: str | None = None  # the deal-pipeline stage name the deal moves to on entry


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    entity_type: str
    stages: tuple[StageSpec, ...]
    on_complete: str | None = None  # "deal.mark-won"

    def __post_init__(self) -> None:
        for problem in template_problems(self):
            raise ValueError(f"template {self.id}: {problem}")

    @property
    def first(self) -> StageSpec:
        return self.stages[0]

    def stage(self, key: str) -> StageSpec:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)

    def next_stage(self, key: str) -> StageSpec | None:
        keys = [s.key for s in self.stages]
        i = keys.index(key)
        return self.stages[i + 1] if i + 1 < len(keys) else None

    def guards(self) -> dict[str, GuardSpec]:
        return {s.guard.id: s.guard for s in self.stages if s.guard is not None}


def stage_transitions(template: Template) -> dict[str, frozenset[str]]:
    """The stage machine as data: each stage may move only to the one after it."""
    keys = [s.key for s in template.stages]
    return {k: frozenset(keys[i + 1:i + 2]) for i, k in enumerate(keys)}


def check_stage_move(template: Template, current: str, target: str) -> None:
    if target not in stage_transitions(template).get(current, frozenset()):
        raise InvalidTransition(
            f"workflow stage {current!r} cannot move to {target!r}",
            extra={"from": current, "to": target},
        )


ON_COMPLETE: tuple[str, ...] = ("deal.mark-won",)


def template_problems(t: Template) -> list[str]:
    """Why ``t`` cannot run (empty when it can): each stage reachable, each guard satisfiable."""
    problems: list[str] = []
    keys = [k.key for s in t.stages for k in s.tasks]
    if not t.stages:
        problems.append("a template needs at least one stage")
    if len({s.key for s in t.stages}) != len(t.stages):
        problems.append("stage keys must be unique")
    if len(set(keys)) != len(keys):
        problems.append("task keys must be unique across the template")
    guard_ids = [s.guard.id for s in t.stages if s.guard is not None]
    if len(set(guard_ids)) != len(guard_ids):
        problems.append("guard ids must be unique")
    if t.on_complete is not None and t.on_complete not in ON_COMPLETE:
        problems.append(f"on_complete must be one of {list(ON_COMPLETE)} or null")
    earlier: set[str] = set()
    for i, s in enumerate(t.stages):
        for k in s.tasks:
            if k.condition is not None and k.condition not in CONDITIONS:
                problems.append(f"unknown condition {k.condition!r}; conditions are {sorted(CONDITIONS)}")
        if s.guard is not None and i == 0:
            problems.append("the first stage is entered at start: it has no entry guard")
        if s.guard is not None and s.guard.kind == "task-complete" and s.guard.task_key not in earlier:
            problems.append(f"guard {s.guard.id} names an unknown task, or one of its own or a later stage")
        earlier.update(k.key for k in s.tasks)
    return problems


SALES_PROCESS = Template(
    id="SALES_PROCESS",
    name="Sales Process",
    entity_type="deal",
    on_complete="deal.mark-won",
    stages=(
        StageSpec("discovery", "Discovery", tasks=(
            TaskSpec("needs-analysis-call", "Conduct needs analysis call", "sales-rep"),
            TaskSpec("document-pain-points", "Document pain points", "sales-rep"),
        )),
        StageSpec("proposal", "Proposal", pipeline_stage="proposal",
                  guard=GuardSpec("discovery-complete", "Discovery complete", "stage-complete"),
                  tasks=(
                      TaskSpec("prepare-proposal", "Prepare proposal document", "sales-rep"),
                      TaskSpec("manager-approval", "Get manager approval (value at or above threshold)",
                               "sales-manager", condition="high-value", due_days=2),
                      TaskSpec("send-proposal", "Send proposal to contact", "sales-rep"),
                  )),
        StageSpec("negotiation", "Negotiation", pipeline_stage="negotiation",
                  guard=GuardSpec("proposal-sent", "Proposal sent", "task-complete", task_key="send-proposal"),
                  tasks=(
                      TaskSpec("address-objections", "Address objections", "sales-rep", due_days=7),
                      TaskSpec("update-deal-value", "Update deal value if changed", "sales-rep", due_days=7),
                  )),
        StageSpec("closing", "Closing",
                  guard=GuardSpec("verbal-agreement", "Verbal agreement", "confirmation"),
                  tasks=(
                      TaskSpec("send-contract", "Send contract for signature", "sales-rep", due_days=2),
                      TaskSpec("confirm-signed-contract", "Confirm signed contract received", "sales-rep",
                               due_days=7),
                  )),
    ),
)

TEMPLATES: dict[str, Template] = {SALES_PROCESS.id: SALES_PROCESS}


# --- deal facts and task selection -------------------------------------------------------------

@dataclass(frozen=True)
class DealFacts:
    """What a template's conditions may look at."""

    high_value: bool = False


def condition_holds(condition: str | None, facts: DealFacts) -> bool:
    if condition is None:
        return True
    if condition == "high-value":
        return facts.high_value
    raise KeyError(condition)


def tasks_for(stage: StageSpec, facts: DealFacts) -> tuple[TaskSpec, ...]:
    """The tasks a stage gets for this deal (conditional tasks only when their condition holds)."""
    return tuple(t for t in stage.tasks if condition_holds(t.condition, facts))


def assignee_for(role: str, owner_id: str | None, owners_manager_id: str | None,
                 any_manager_id: str | None) -> str | None:
    """sales-rep tasks go to the deal's owner; sales-manager tasks to the owner's manager, else any
    active sales-manager of the org, else the owner."""
    if role == "sales-manager":
        return owners_manager_id or any_manager_id or owner_id
    return owner_id


# --- the stage machine -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    """Where a workflow stands: its stage, the open task keys of that stage, every completed task
    key of the workflow, and the guards somebody confirmed."""

    stage: str
    open_tasks: frozenset[str]
    done_tasks: frozenset[str] = field(default_factory=frozenset)
    confirmed: frozenset[str] = field(default_factory=frozenset)


def guard_holds(guard: GuardSpec | None, progress: Progress) -> bool:
    if guard is None or guard.kind == "stage-complete":
        return not progress.open_tasks
    if guard.kind == "task-complete":
        return guard.task_key in progress.done_tasks
    return guard.id in progress.confirmed


Action = Literal["wait", "blocked", "advance", "complete"]


@dataclass(frozen=True)
class Decision:
    action: Action
    stage: str | None = None  # advance: the stage to enter
    guard: str | None = None  # blocked: the guard that does not hold yet


def decide(template: Template, progress: Progress) -> Decision:
    """What the workflow does now: wait for tasks, wait for a guard, advance one stage, or complete."""
    if progress.open_tasks:
        return Decision("wait")
    nxt = template.next_stage(progress.stage)
    if nxt is None:
        return Decision("complete")
    if not guard_holds(nxt.guard, progress):
        return Decision("blocked", guard=nxt.guard.id if nxt.guard else None)
    return Decision("advance", stage=nxt.key)


def stage_statuses(template: Template, current: str, workflow_status: str) -> dict[str, str]:
    """done | current | pending per stage (all done once completed; cancelled freezes the current)."""
    keys = [s.key for s in template.stages]
    i = keys.index(current)
    out: dict[str, str] = {}
    for j, k in enumerate(keys):
        if workflow_status == "completed" or j < i:
            out[k] = "done"
        elif j == i:
            out[k] = "current" if workflow_status == "active" else workflow_status
        else:
            out[k] = "pending"
    return out


def guard_state(template: Template, progress: Progress) -> list[dict[str, object]]:
    """Every guard of the template with whether it holds now (for the GET view)."""
    return [{"stage": s.key, "id": s.guard.id, "title": s.guard.title, "kind": s.guard.kind,
             "holds": guard_holds(s.guard, progress) if s.guard.kind != "stage-complete"
             else _stage_before_done(template, s.key, progress)}
            for s in template.stages if s.guard is not None]


def _stage_before_done(template: Template, stage_key: str, progress: Progress) -> bool:
    keys = [s.key for s in template.stages]
    before = keys[keys.index(stage_key) - 1]
    return keys.index(progress.stage) > keys.index(before) or (progress.stage == before and not progress.open_tasks)


def template_as_dict(t: Template, *, builtin: bool = True) -> dict[str, Any]:
    """The template as JSON (the API's shape, and the snapshot a workflow keeps)."""
    return {
        "id": t.id, "name": t.name, "entity_type": t.entity_type, "on_complete": t.on_complete,
        "builtin": builtin,
        "stages": [{
            "key": s.key, "title": s.title, "pipeline_stage": s.pipeline_stage,
            "entry_guard": None if s.guard is None else {
                "id": s.guard.id, "title": s.guard.title, "kind": s.guard.kind, "task_key": s.guard.task_key},
            "tasks": [{"key": k.key, "title": k.title, "role": k.role, "condition": k.condition,
                       "due_days": k.due_days} for k in s.tasks],
        } for s in t.stages],
    }


def template_from_dict(d: dict[str, Any]) -> Template:
    """The inverse of ``template_as_dict`` (raises ValueError for a template that cannot run)."""
    def guard(g: dict[str, Any] | None) -> GuardSpec | None:
        return None if g is None else GuardSpec(g["id"], g["title"], g["kind"], g.get("task_key"))

    return Template(
        id=d["id"], name=d["name"], entity_type=d.get("entity_type", "deal"), on_complete=d.get("on_complete"),
        stages=tuple(StageSpec(
            key=s["key"], title=s["title"], pipeline_stage=s.get("pipeline_stage"), guard=guard(s.get("entry_guard")),
            tasks=tuple(TaskSpec(k["key"], k["title"], k["role"], k.get("condition"), int(k.get("due_days", 3)))
                        for k in s["tasks"]))
            for s in d["stages"]))


def all_task_keys(template: Template) -> Iterable[str]:
    return (t.key for s in template.stages for t in s.tasks)
