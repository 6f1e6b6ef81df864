"""Pipeline and stage request/response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool
from pydantic_core import PydanticCustomError

from kith.records.schemas import RecordId, Strict

StageName = Annotated[str, Field(min_length=1, max_length=120)]
PipelineName = Annotated[str, Field(min_length=1, max_length=200)]
Outcome = Literal["won", "lost"]


class StageIn(Strict):
    id: RecordId | None = Field(default=None, description="An existing stage of this pipeline (kept, renamed or "
                                                  "moved); leave out to create a stage.")
    name: StageName
    probability: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, description="Default probability of deals in this stage (0–100). Default: unchanged, or 0.")
    rot_period_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        default=None, description="A deal staying longer than this is rotting. Default: unchanged, or the org's.")
    outcome: Outcome | None = Field(default=None, description=(
        "won | lost: moving a deal here closes it so. At most one of each per pipeline."))
    order: Annotated[int, Field(ge=0, le=10_000)] | None = Field(default=None, description=(
        "Optional position, as GET returns it: when every stage has one, the stages are put in this order "
        "(equal values keep the list's order); otherwise the list's order decides."))


class CompanyStageIn(Strict):
    id: RecordId | None = Field(default=None, description="An existing company stage (kept or renamed); leave out to "
                                                  "create one.")
    name: StageName
    order: Annotated[int, Field(ge=0, le=10_000)] | None = Field(default=None, description=(
        "Optional position, as GET returns it: when every stage has one, the stages are put in this order."))
    # GET shows company stages in the deal-stage shape; these echo it back and change nothing
    probability: Literal[0] | None = Field(default=None, description=(
        "Read-only: company stages have no probability. GET shows 0; 0 or nothing is accepted back."))
    rot_period_days: None = Field(default=None, description="Read-only: always null for company stages.")
    outcome: None = Field(default=None, description="Read-only: always null for company stages.")

    ECHOED: ClassVar[frozenset[str]] = frozenset({"order", "probability", "rot_period_days", "outcome"})


def by_order(items: list[Any]) -> list[Any]:
    """A stage list in its ``order`` values' order when every item has one (a stable sort: equal
    values keep the list's order); as given when none has. Some but not all: a 422 naming the first
    item without one, since half an ordering cannot be read either way."""
    given = [i.order is not None for i in items]
    if not any(given):
        return items
    if not all(given):
        missing = given.index(False)
        raise PydanticCustomError("order_partial", "give every stage an order, or none (stage {index} has none)",
                                  {"index": missing})
    return sorted(items, key=lambda i: i.order)


Stages = Annotated[list[StageIn], Field(min_length=1, max_length=50), AfterValidator(by_order)]
Targets = Annotated[dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=40)]],
                    Field(max_length=50)]


class PipelineCreate(Strict):
    name: PipelineName
    is_default: StrictBool = Field(default=False, description="Make it the org's default deal pipeline (the previous "
                                                      "default stops being one).")
    stages: Stages | None = Field(default=None, description="In order. Default: the standard stages (appointment … "
                                                    "closed won, closed lost).")


class PipelinePatch(Strict):
    name: PipelineName | None = None
    is_default: Literal[True] | None = Field(default=None, description="true makes this the default; to stop being the "
                                                               "default, make another pipeline the default.")


class StagesPatch(Strict):
    """The full ordered stage list: stages with an ``id`` are kept (renamed, re-ordered, changed),
    stages without one are created, stages left out are deleted."""

    stages: Stages
    move_deals_to: Targets = Field(default={}, description=(
        "{deleted stage id: stage id}: where the deals of a deleted stage go (a kept stage of this pipeline). "
        "Required for every deleted stage that holds deals."))


class CompanyStagesPatch(Strict):
    stages: Annotated[list[CompanyStageIn], Field(min_length=1, max_length=50), AfterValidator(by_order)]
    move_companies_to: Targets = Field(default={}, description=(
        "{deleted stage id: kept stage id}: the stage companies of a deleted stage get. Required for every "
        "deleted stage some company is in."))


class StageOut(BaseModel):
    id: str
    name: str
    order: int
    probability: int
    rot_period_days: int | None
    outcome: Outcome | None


class PipelineOut(BaseModel):
    id: str
    kind: Literal["deal", "company"]
    name: str
    is_default: bool
    stages: list[StageOut]
    created_at: datetime
    updated_at: datetime
    version: int


class PipelineList(BaseModel):
    data: list[PipelineOut]
