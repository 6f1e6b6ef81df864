"""Automation rules, the pure part: the condition language (validate, evaluate), templated values
(a sandboxed Jinja2), and loop protection. No I/O here.

Conditions are JSON: ``{}`` (always), or a group ``{"all": [...]}`` / ``{"any": [...]}`` whose
items are groups or leaves ``{"field", "op", "value"}``. ``op`` is one of ``OPS``; ``changed``
compares the event's ``before``/``after`` (optionally ``from`` / ``to``), every other op the
record's after-state. Invariants:
- ``validate_conditions`` accepts exactly what ``evaluate`` can evaluate: a known field, a known
  op, a value of the field's type (``in``: a list of them), no value for ``is_empty`` /
  ``is_not_empty`` / ``changed``. Every error names its path (``conditions.all.0.value``).
- ``evaluate`` never raises: a missing field is null; a comparison with null (or of values that
  do not compare) is false.
- A rule never fires on an event its own run caused, directly or through other rules (its id is in
  the event's provenance chain), and a chain stops after ``MAX_DEPTH`` automated hops.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from kith.core.errors import FieldError

# Automated hops an event chain may take (rule → event → rule …) before it is stopped and logged:
# deep enough for "qualified → deal → task", shallow enough that a cycle dies quickly.
MAX_DEPTH = 5
MAX_ITEMS = 50  # leaves and groups per group
MAX_NESTING = 5  # groups inside groups
MAX_TEMPLATE = 2000  # characters of one templated value
MAX_RENDERED = 10_000  # characters a rendered value may have
MAX_REPEAT = 10_000  # the sandbox refuses "x" * n (and n ** m) beyond this


class Kind(StrEnum):
    STRING = "string"
    ENUM = "enum"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    LIST = "list"
    OBJECT = "object"
    ANY = "any"


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    choices: tuple[str, ...] = ()


OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "is_empty", "is_not_empty", "changed")
ORDERED = frozenset({Kind.NUMBER, Kind.DATETIME, Kind.ANY})
NO_VALUE = frozenset({"is_empty", "is_not_empty", "changed"})
GROUPS = ("all", "any")
LEAF_KEYS = frozenset({"field", "op", "value", "from", "to"})


# --- fields ------------------------------------------------------------------------------------------

def field_spec(fields: Mapping[str, FieldSpec], name: str) -> FieldSpec | None:
    """The spec of ``name``; a dotted path under an object field (``metadata.plan``) is ``ANY``."""
    spec = fields.get(name)
    if spec is not None:
        return spec
    head, _, rest = name.partition(".")
    parent = fields.get(head)
    # custom fields are declared one by one (``custom_fields.<name>``); other objects are free-form
    if rest and parent is not None and parent.kind is Kind.OBJECT and head != "custom_fields":
        return FieldSpec(Kind.ANY)
    return None


def lookup(record: Mapping[str, Any] | None, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def present(record: Mapping[str, Any] | None, path: str) -> bool:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


# --- values ------------------------------------------------------------------------------------------

def _number(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float | Decimal | str):
        try:
            d = Decimal(str(v).strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _moment(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=UTC)
    if isinstance(v, str):
        try:
            parsed = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def normalise(v: Any, kind: Kind) -> Any:
    """A value in the form comparisons use for ``kind`` (``None`` when it is not of that kind)."""
    if v is None:
        return None
    if kind is Kind.NUMBER:
        return _number(v)
    if kind is Kind.DATETIME:
        return _moment(v)
    if kind is Kind.ANY and isinstance(v, int | float | Decimal) and not isinstance(v, bool):
        return _number(v)
    return v


def type_error(v: Any, spec: FieldSpec) -> str | None:
    """Why ``v`` is not a value of ``spec`` (``None``: it is)."""
    k = spec.kind
    if k is Kind.ANY:
        return None
    if k is Kind.ENUM:
        return None if v in spec.choices else f"must be one of {list(spec.choices)}"
    if k in (Kind.STRING, Kind.LIST):
        return None if isinstance(v, str) else "must be a string"
    if k is Kind.BOOLEAN:
        return None if isinstance(v, bool) else "must be true or false"
    if k is Kind.NUMBER:
        return None if _number(v) is not None else "must be a number"
    if k is Kind.DATETIME:
        return None if isinstance(v, str) and _moment(v) is not None else "must be an ISO 8601 date or date-time"
    return "an object field can only be tested with is_empty / is_not_empty or a dotted path"


# --- validation --------------------------------------------------------------------------------------

def validate_conditions(raw: Any, fields: Mapping[str, FieldSpec], path: str = "conditions") -> list[FieldError]:
    if not isinstance(raw, Mapping):
        return [FieldError(path, "must be an object: {} or {\"all\": [...]} or {\"any\": [...]}")]
    if not raw:
        return []
    return _group(raw, fields, path, 1)


def _group(raw: Mapping[str, Any], fields: Mapping[str, FieldSpec], path: str, level: int) -> list[FieldError]:
    if len(raw) != 1 or next(iter(raw)) not in GROUPS:
        return [FieldError(path, "a group has exactly one key: all or any")]
    key = next(iter(raw))
    items, here = raw[key], f"{path}.{key}"
    if not isinstance(items, list):
        return [FieldError(here, "must be a list of conditions")]
    if len(items) > MAX_ITEMS:
        return [FieldError(here, f"at most {MAX_ITEMS} conditions per group")]
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        errors += _node(item, fields, f"{here}.{i}", level)
    return errors


def _node(raw: Any, fields: Mapping[str, FieldSpec], path: str, level: int) -> list[FieldError]:
    if not isinstance(raw, Mapping):
        return [FieldError(path, "must be an object (a condition or a group)")]
    if any(k in raw for k in GROUPS):
        if level >= MAX_NESTING:
            return [FieldError(path, f"groups nest at most {MAX_NESTING} deep")]
        return _group(raw, fields, path, level + 1)
    return _leaf(raw, fields, path)


def _leaf(raw: Mapping[str, Any], fields: Mapping[str, FieldSpec], path: str) -> list[FieldError]:
    unknown = sorted(set(raw) - LEAF_KEYS)
    if unknown:
        return [FieldError(f"{path}.{unknown[0]}", "unknown key; a condition has field, op, value (from, to)")]
    name, op = raw.get("field"), raw.get("op")
    if not isinstance(name, str) or not name:
        return [FieldError(f"{path}.field", "required: the name of a field of the record")]
    spec = field_spec(fields, name)
    if spec is None:
        return [FieldError(f"{path}.field", f"unknown field {name!r}; fields: {sorted(fields)}")]
    if op not in OPS:
        return [FieldError(f"{path}.op", f"must be one of {list(OPS)}")]
    return _operands(raw, spec, str(op), path)


def _operands(raw: Mapping[str, Any], spec: FieldSpec, op: str, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if op != "changed":
        errors += [FieldError(f"{path}.{k}", "only the changed op takes from / to") for k in ("from", "to") if k in raw]
    if op in NO_VALUE:
        if "value" in raw:
            errors.append(FieldError(f"{path}.value", f"{op} takes no value"))
        for k in ("from", "to"):
            if op == "changed" and raw.get(k) is not None:
                errors += _typed(raw[k], spec, f"{path}.{k}")
        return errors
    if "value" not in raw:
        return [*errors, FieldError(f"{path}.value", "required")]
    value = raw["value"]
    if op in ("gt", "gte", "lt", "lte"):
        if spec.kind not in ORDERED:
            return [*errors, FieldError(f"{path}.op", f"{op} compares numbers and dates, not {spec.kind} fields")]
        if value is None:
            return [*errors, FieldError(f"{path}.value", "cannot be null")]
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > 100:
            return [*errors, FieldError(f"{path}.value", "must be a list of 1 to 100 values")]
        for i, v in enumerate(value):
            errors += _typed(v, spec, f"{path}.value.{i}")
        return errors
    if op == "contains":
        if spec.kind not in (Kind.STRING, Kind.LIST, Kind.ANY):
            return [*errors, FieldError(f"{path}.op", f"contains tests text and list fields, not {spec.kind} fields")]
        if not isinstance(value, str):
            return [*errors, FieldError(f"{path}.value", "must be a string")]
        return errors
    if value is not None:
        errors += _typed(value, spec, f"{path}.value")
    return errors


def _typed(v: Any, spec: FieldSpec, path: str) -> list[FieldError]:
    message = type_error(v, spec)
    return [FieldError(path, message)] if message else []


# --- evaluation --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """What conditions read: the record's after-state, and the event's before/after."""

    record: Mapping[str, Any]
    before: Mapping[str, Any]
    after: Mapping[str, Any]


def evaluate(conditions: Mapping[str, Any], facts: Facts, fields: Mapping[str, FieldSpec]) -> bool:
    if not conditions:
        return True
    return _eval_node(conditions, facts, fields)


def _eval_node(node: Mapping[str, Any], facts: Facts, fields: Mapping[str, FieldSpec]) -> bool:
    if "all" in node:
        return all(_eval_node(n, facts, fields) for n in node["all"])
    if "any" in node:
        return any(_eval_node(n, facts, fields) for n in node["any"])
    name, op = str(node["field"]), str(node["op"])
    spec = field_spec(fields, name) or FieldSpec(Kind.ANY)
    if op == "changed":
        return _changed(node, facts, name, spec.kind)
    return compare(op, lookup(facts.record, name), node.get("value"), spec.kind)


def _changed(node: Mapping[str, Any], facts: Facts, name: str, kind: Kind) -> bool:
    if not (present(facts.after, name) or present(facts.before, name)):
        return False
    old, new = normalise(lookup(facts.before, name), kind), normalise(lookup(facts.after, name), kind)
    if old == new:
        return False
    if "from" in node and old != normalise(node["from"], kind):
        return False
    return "to" not in node or new == normalise(node["to"], kind)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def is_empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, list | dict | tuple) and not v)


def compare(op: str, actual: Any, expected: Any, kind: Kind) -> bool:
    """``actual op expected`` for a field of ``kind``; false whenever the two do not compare."""
    if op == "is_empty":
        return is_empty(actual)
    if op == "is_not_empty":
        return not is_empty(actual)
    if op == "contains":
        return _contains(actual, expected)
    if op == "in":
        return isinstance(expected, list) and any(compare("eq", actual, e, kind) for e in expected)
    a, e = normalise(actual, kind), normalise(expected, kind)
    if op == "eq":
        return bool(a == e)
    if op == "ne":
        return bool(a != e)
    if a is None or e is None:
        return False
    try:
        return bool(_ORDER[op](a, e))
    except (TypeError, KeyError):
        return False


def _contains(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, str):
        return False
    if isinstance(actual, str):
        return expected.casefold() in actual.casefold()
    if isinstance(actual, list):
        return expected in actual
    return False


# --- templates ---------------------------------------------------------------------------------------

class TemplateFailed(Exception):
    """A value could not be rendered (undefined name, sandbox refusal, syntax error)."""


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox (no attribute access to internals, no unsafe calls), plus: no
    multiplying a string or list into a huge one, no huge powers."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator_ == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and n * max(len(seq), 1) > MAX_REPEAT:
                    raise SecurityError("repetition too large")
        return super().call_binop(context, operator_, left, right)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

# Names a template may use; which of them hold a record depends on the trigger (see the docs).
ROOTS = frozenset({"event", "record", "rule", "owner", "contact", "company", "deal", "lead", "activity"})


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value or "{#" in value


def check_template(source: str) -> str | None:
    """Why ``source`` is not an acceptable templated value (``None``: it is). Only ``{{ … }}``
    expressions are allowed: no ``{% … %}`` statements (loops could run without bound)."""
    if len(source) > MAX_TEMPLATE:
        return f"at most {MAX_TEMPLATE} characters"
    if "{%" in source:
        return "only {{ expressions }} are allowed, not {% statements %}"
    try:
        names = meta.find_undeclared_variables(_ENV.parse(source))
    except TemplateError as exc:
        return f"not a valid template: {exc}"
    unknown = sorted(names - ROOTS)
    if unknown:
        return f"unknown name(s) {unknown}; use {sorted(ROOTS)}"
    return None


def render(source: str, context: Mapping[str, Any]) -> str:
    """The rendered text; ``TemplateFailed`` with the reason otherwise (an undefined name is an
    error, never an empty string)."""
    if not is_template(source):
        return source
    problem = check_template(source)
    if problem is not None:
        raise TemplateFailed(problem)
    try:
        text = _ENV.from_string(source).render(dict(context))
    except SecurityError as exc:
        raise TemplateFailed(f"refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise TemplateFailed(f"{exc.__class__.__name__}: {exc}") from None
    except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
        raise TemplateFailed(f"{exc.__class__.__name__}: {exc}") from None
    if len(text) > MAX_RENDERED:
        raise TemplateFailed(f"the rendered value is longer than {MAX_RENDERED} characters")
    return text


def render_tree(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (objects and lists are walked)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [render_tree(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render_tree(v, context) for k, v in value.items()}
    return value


# --- provenance and loops ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Provenance:
    """Which automation runs led to an event: the rule ids, oldest first."""

    chain: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        return len(self.chain)

    @classmethod
    def of(cls, data: Any) -> Provenance:
        """Read from an event's ``data.automation`` (absent: a person or the system caused it)."""
        auto = data.get("automation") if isinstance(data, Mapping) else None
        chain = auto.get("chain") if isinstance(auto, Mapping) else None
        if not isinstance(chain, list):
            return cls()
        return cls(tuple(str(c) for c in chain))

    def then(self, rule_id: str) -> Provenance:
        return Provenance((*self.chain, rule_id))


def refusal(rule_id: str, cause: Provenance, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a rule must not fire on an event with provenance ``cause`` (``None``: it may)."""
    if rule_id in cause.chain:
        return "loop: the event was caused by this rule" + ("" if cause.chain[-1] == rule_id else
                                                             " (through other rules)")
    if cause.depth >= max_depth:
        return f"chain too deep: {cause.depth} automated steps led to the event (limit {max_depth})"
    return None
