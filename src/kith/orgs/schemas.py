"""Request/response shapes for the org, users and API keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, field_validator

from kith.auth.model import validate_roles
from kith.core.validate import check_currency, check_timezone, normalise_email
from kith.records.schemas import Amount, Strict

Email = Annotated[str, Field(max_length=320), AfterValidator(normalise_email)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("cannot be null")
    return value


class Money(Strict):
    amount: Amount
    currency: Annotated[str, AfterValidator(check_currency)]


Currency = Annotated[str, AfterValidator(check_currency)]
# Rule ``high-value-deal-approval`` in currencies other than ``high_value_threshold``'s: Kith keeps
# no exchange rates, so an org selling in several currencies names a threshold per currency.
# A deal in a currency with no threshold at all needs approval (see ``kith.rules``).
HighValueThresholds = Annotated[dict[Currency, Amount], Field(max_length=60, description=(
    "Extra high-value thresholds by currency (`{\"EUR\": \"45000\"}`) for deals not in "
    "`high_value_threshold`'s currency; a deal in a currency listed nowhere needs approval."))]


TicketPriority = Literal["low", "normal", "high", "urgent"]
SlaHours = Annotated[int, Field(ge=1, le=24 * 365)]


class OrgSettings(Strict):
    qualify_score_threshold: Annotated[int, Field(ge=0, le=100)] = 40
    lead_qualify_score_threshold: Annotated[int, Field(ge=0, le=100)] = 30
    high_value_threshold: Money = Money(amount=Decimal("50000"), currency="USD")
    high_value_thresholds: HighValueThresholds = {}
    rot_period_days: Annotated[int, Field(ge=1, le=3650)] = 30
    timezone: Annotated[str, AfterValidator(check_timezone)] = "UTC"
    currency: Annotated[str, AfterValidator(check_currency)] = "USD"
    widget_origins: Annotated[list[Annotated[str, Field(max_length=300)]], Field(max_length=50)] = []
    ticket_sla_hours: Annotated[dict[TicketPriority, SlaHours], Field(description=(
        "Ticket resolution targets in hours per priority; a priority left out keeps its default "
        "(urgent 4, high 8, normal 24, low 72)."))] = {}


class OrgSettingsPatch(Strict):
    qualify_score_threshold: Annotated[int, Field(ge=0, le=100)] | None = None
    lead_qualify_score_threshold: Annotated[int, Field(ge=0, le=100)] | None = None
    high_value_threshold: Money | None = None
    high_value_thresholds: Annotated[dict[Currency, Amount | None], Field(
        max_length=60, description="Merged by currency; null removes one.")] | None = None
    rot_period_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    timezone: Annotated[str, AfterValidator(check_timezone)] | None = None
    currency: Annotated[str, AfterValidator(check_currency)] | None = None
    widget_origins: Annotated[list[Annotated[str, Field(max_length=300)]], Field(max_length=50)] | None = None
    ticket_sla_hours: Annotated[dict[TicketPriority, SlaHours | None], Field(
        description="Merged by priority; null restores that priority's default.")] | None = None

    _nulls = field_validator("*")(_not_null)  # every setting has a value: send it or leave it out


class OrgPatch(Strict):
    name: Name | None = None
    settings: OrgSettingsPatch | None = None
    rotate_widget_key: StrictBool = Field(False, description="Issue a new publishable widget key.")

    _nulls = field_validator("name", "settings")(_not_null)


class OrgOut(BaseModel):
    id: str
    name: str
    settings: OrgSettings
    widget_key: str
    created_at: datetime
    updated_at: datetime
    version: int


Roles = Annotated[list[str], Field(min_length=1, max_length=6)]


class UserCreate(Strict):
    email: Email
    name: Name
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None
    roles: Roles
    manager_id: Annotated[str, Field(max_length=40)] | None = None
    timezone: Annotated[str, AfterValidator(check_timezone)] | None = None

    _roles = field_validator("roles")(lambda v: validate_roles(v))


class UserPatch(Strict):
    name: Name | None = None
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None
    roles: Roles | None = None
    manager_id: Annotated[str, Field(max_length=40)] | None = None
    timezone: Annotated[str, AfterValidator(check_timezone)] | None = None
    is_active: StrictBool | None = None

    _roles = field_validator("roles")(lambda v: v if v is None else validate_roles(v))


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    roles: list[str]
    manager_id: str | None
    timezone: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class ApiKeyCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] = "default"


class ApiKeyOut(BaseModel):
    id: str
    user_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret: shown once, store it now.")
