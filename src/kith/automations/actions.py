"""What a rule can do: one pydantic model per action type, validated at write time with paths such
as ``actions.1.due_in_days``. Strings marked *templated* may use ``{{ … }}`` (see ``model.render``).

Who an action targets (``owner``, ``assignee``, ``to``) is ``"owner"`` (the record's owner),
``"owner_manager"`` (that owner's manager) or a user id of the org (checked by the service).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from kith.activities.schemas import ActivityType
from kith.automations import model
from kith.automations.subjects import NOUNS
from kith.core.errors import FieldError
from kith.records.schemas import RecordId, Strict
from kith.webhooks import model as webhook_model


def _template(value: str) -> str:
    problem = model.check_template(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _url(value: str) -> str:
    webhook_model.parse_target(value)  # ValueError → 422 naming the field
    return value


Templated = Annotated[str, Field(min_length=1, max_length=model.MAX_TEMPLATE), AfterValidator(_template)]
Target = Annotated[str, Field(min_length=1, max_length=40, description=(
    '"owner" (the record\'s owner), "owner_manager" (their manager) or a user id of the org.'))]
ROLES_OF_PEOPLE = frozenset({"owner", "owner_manager"})


class DealValue(Strict):
    amount: Templated | Annotated[Decimal, Field(ge=0, le=Decimal("1e13"), allow_inf_nan=False)]
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None


class CreateDeal(Strict):
    """A deal for the record's contact (and company): seed 001's ``$.Deal.create``."""

    type: Literal["create_deal"]
    title: Templated
    value: DealValue | None = None
    pipeline_id: RecordId | None = None
    stage_id: RecordId | None = None
    owner: Target = "owner"
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=20)] = []


class CreateActivity(Strict):
    """An activity linked to the record (a task by default), due in N days, for the owner."""

    type: Literal["create_activity"]
    activity_type: ActivityType = "task"
    subject: Templated
    body: Templated | None = None
    due_in_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    assignee: Target = "owner"


class UpdateField(Strict):
    """Set one field of the record through its PATCH (``value`` may be templated text)."""

    type: Literal["update_field"]
    field: Annotated[str, Field(min_length=1, max_length=80)]
    value: Any


class AddTag(Strict):
    type: Literal["add_tag"]
    tag: Annotated[Templated, Field(max_length=64)]


class NotifyUser(Strict):
    """An in-app notification (``GET /api/v1/notifications``)."""

    type: Literal["notify_user"]
    to: Target = "owner"
    title: Annotated[Templated, Field(max_length=300)]
    body: Templated | None = None


class CallWebhook(Strict):
    """One signed POST (``Kith-Signature``, the rule's secret) of the event and ``payload``."""

    type: Literal["call_webhook"]
    url: Annotated[str, Field(min_length=1, max_length=webhook_model.MAX_URL_LENGTH), AfterValidator(_url)]
    payload: Annotated[dict[str, Any], Field(description="Sent as `payload`; strings inside are templated.")] = {}


class AddToCampaign(BaseModel):
    type: Literal["add_to_campaign"]


ACTIONS: dict[str, type[BaseModel]] = {
    "create_deal": CreateDeal, "create_activity": CreateActivity, "update_field": UpdateField,
    "add_tag": AddTag, "notify_user": NotifyUser, "call_webhook": CallWebhook, "add_to_campaign": AddToCampaign,
}
# Actions whose type is known but that cannot run yet.
RESERVED = {"add_to_campaign": "campaigns do not exist yet: add_to_campaign becomes available with them "
                               "(express it as create_activity or notify_user meanwhile)"}
MAX_ACTIONS = 20


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    return ".".join([prefix, *(str(p) for p in loc)])


def parse(raw: Any, noun: str, path: str) -> tuple[BaseModel | None, list[FieldError]]:
    """One action, checked for the trigger's record type ``noun``."""
    if not isinstance(raw, dict):
        return None, [FieldError(path, "must be an object with a type")]
    kind = raw.get("type")
    if kind not in ACTIONS:
        return None, [FieldError(f"{path}.type", f"must be one of {sorted(ACTIONS)}")]
    if kind in RESERVED:
        return None, [FieldError(f"{path}.type", RESERVED[kind])]
    try:
        action = ACTIONS[kind].model_validate(raw)
    except ValidationError as exc:
        return None, [FieldError(_path(path, tuple(e["loc"])), e["msg"]) for e in exc.errors()]
    return action, _fits(action, noun, path)


def _fits(action: BaseModel, noun: str, path: str) -> list[FieldError]:
    """Checks that depend on the trigger's record type."""
    if isinstance(action, AddTag) and not (noun in NOUNS and NOUNS[noun].has_tags):
        return [FieldError(f"{path}.type", f"{noun} records have no tags; add_tag works on "
                                           f"{sorted(n for n, x in NOUNS.items() if x.has_tags)}")]
    if isinstance(action, UpdateField):
        return _field_errors(action, noun, path)
    return []


def _field_errors(action: UpdateField, noun: str, path: str) -> list[FieldError]:
    target = NOUNS.get(noun)
    if target is None:
        return [FieldError(f"{path}.type", f"{noun} events have no record to update; update_field works on "
                                           f"{sorted(NOUNS)}")]
    fields = target.patch.model_fields
    if action.field not in fields or action.field in target.locked:
        allowed = sorted(set(fields) - target.locked)
        return [FieldError(f"{path}.field", f"{action.field!r} cannot be set on a {noun}; fields: {allowed}")]
    if isinstance(action.value, str) and model.is_template(action.value):
        problem = model.check_template(action.value)
        return [FieldError(f"{path}.value", problem)] if problem else []
    try:
        target.patch.model_validate({action.field: action.value})
    except ValidationError as exc:
        return [FieldError(_path(f"{path}.value", tuple(e["loc"])[1:]), e["msg"]) for e in exc.errors()]
    return []


def targets(action: BaseModel) -> list[tuple[str, str]]:
    """(attribute, user id) pairs naming a specific user, for the service to check."""
    found = []
    for attr in ("owner", "assignee", "to"):
        value = getattr(action, attr, None)
        if isinstance(value, str) and value not in ROLES_OF_PEOPLE:
            found.append((attr, value))
    return found
