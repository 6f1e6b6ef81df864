"""Scheduled-job request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from kith.records.schemas import Strict


class JobRunRequest(Strict):
    at: AwareDatetime | None = Field(default=None, description=(
        "Run for the period holding this instant instead of now (with a timezone)."))
    force: bool = Field(default=False, description="Run even if this period already ran.")


class LastRun(BaseModel):
    period_key: str
    started_at: datetime
    finished_at: datetime | None
    runs: int
    result: dict[str, Any]


class JobOut(BaseModel):
    name: str
    description: str
    schedule: str
    period_key: str = Field(description="The current period's key (the idempotency key of a run now).")
    due: bool = Field(description="The current period has not run yet.")
    next_run_at: datetime
    last_run: LastRun | None


class JobList(BaseModel):
    data: list[JobOut]


class JobRunOut(BaseModel):
    job: str
    org_id: str
    period_key: str
    ran: bool = Field(description="false: this period had already run (nothing was done).")
    result: dict[str, Any]
    run_at: datetime | None
