"""Workflow request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from kith.records.schemas import Strict

TemplateId = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")]


Key = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Title = Annotated[str, Field(min_length=1, max_length=200)]


class TaskIn(Strict):
    key: Key
    title: Title
    role: Literal["sales-rep", "sales-manager"]
    condition: Literal["high-value"] | None = Field(default=None, description=(
        "`high-value`: the task exists only when the deal's value is at or above the org's threshold."))
    due_days: Annotated[int, Field(ge=0, le=365)] = 3


class GuardIn(Strict):
    id: Key
    title: Title
    kind: Literal["stage-complete", "task-complete", "confirmation"]
    task_key: Key | None = Field(default=None, description="For `task-complete`: a task of an earlier stage.")

    @model_validator(mode="after")
    def _task_key(self) -> GuardIn:
        if (self.kind == "task-complete") != (self.task_key is not None):
            raise ValueError("task_key is required for kind task-complete, and only for it")
        return self


class StageIn(Strict):
    key: Key
    title: Title
    pipeline_stage: Annotated[str, Field(min_length=1, max_length=120)] | None = Field(default=None, description=(
        "Entering this stage moves the deal to the pipeline stage of this name, when ahead of it."))
    entry_guard: GuardIn | None = None
    tasks: Annotated[list[TaskIn], Field(max_length=20)] = []


Stages = Annotated[list[StageIn], Field(min_length=1, max_length=20)]
OnComplete = Literal["deal.mark-won"] | None


class TemplateIn(Strict):
    id: TemplateId
    name: Title
    on_complete: OnComplete = Field(default="deal.mark-won", description="`deal.mark-won` or null.")
    stages: Stages


class TemplatePatch(Strict):
    """Only the fields sent change; ``stages`` is replaced as a whole."""

    name: Title | None = None
    on_complete: OnComplete = None
    stages: Stages | None = None


class WorkflowStart(Strict):
    template_id: TemplateId = Field(default="SALES_PROCESS", description="A template of `GET /workflow-templates`.")


class GuardConfirm(Strict):
    guard: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z0-9-]+$")] = Field(
        description="The id of a guard of kind `confirmation`, e.g. `verbal-agreement`.")


class TaskOut(BaseModel):
    activity_id: str
    key: str
    title: str | None
    role: str
    assignee_id: str | None
    due_at: datetime | None
    completed_at: datetime | None
    status: Literal["open", "done", "deleted"]


class GuardOut(BaseModel):
    id: str
    title: str
    kind: Literal["stage-complete", "task-complete", "confirmation"]
    holds: bool
    confirmed: dict[str, Any] | None


class StageOut(BaseModel):
    key: str
    title: str
    status: Literal["done", "current", "pending", "completed", "cancelled"]
    entered_at: str | None
    completed_at: str | None
    forced_by: str | None
    entry_guard: GuardOut | None
    tasks: list[TaskOut]


class WorkflowOut(BaseModel):
    id: str
    deal_id: str
    template_id: str
    template_name: str
    status: Literal["active", "completed", "cancelled"]
    current_stage: str
    deal_status: str
    waiting_for: str | None = Field(description="`tasks`, `guard:<id>`, or null when not active.")
    started_by: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    version: int
    stages: list[StageOut]


class TemplateTaskOut(BaseModel):
    key: str
    title: str
    role: str
    condition: str | None
    due_days: int


class TemplateGuardOut(BaseModel):
    id: str
    title: str
    kind: str
    task_key: str | None


class TemplateStageOut(BaseModel):
    key: str
    title: str
    pipeline_stage: str | None
    entry_guard: TemplateGuardOut | None
    tasks: list[TemplateTaskOut]


class TemplateOut(BaseModel):
    id: str
    name: str
    entity_type: str
    on_complete: str | None
    builtin: bool
    stages: list[TemplateStageOut]
    created_at: datetime | None
    updated_at: datetime | None
    version: int


class TemplateList(BaseModel):
    data: list[TemplateOut]
    next_cursor: str | None
