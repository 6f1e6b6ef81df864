"""The automation condition language, templated values and loop protection (pure; no database):
example tables plus hypothesis properties."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kith.automations import fields, model
from kith.automations.model import Facts, FieldSpec, Kind, Provenance

CONTACT = fields.RECORD_FIELDS["contact"]
SPEC = {"n": FieldSpec(Kind.NUMBER), "s": FieldSpec(Kind.STRING), "b": FieldSpec(Kind.BOOLEAN),
        "t": FieldSpec(Kind.DATETIME), "tags": FieldSpec(Kind.LIST), "meta": FieldSpec(Kind.OBJECT),
        "e": FieldSpec(Kind.ENUM, ("x", "y", "z"))}


def holds(conditions: dict[str, Any], record: dict[str, Any], before: dict[str, Any] | None = None,
          after: dict[str, Any] | None = None) -> bool:
    return model.evaluate(conditions, Facts(record, before or {}, after or {}), SPEC)


def leaf(field: str, op: str, value: Any = None, **more: Any) -> dict[str, Any]:
    node = {"field": field, "op": op, **more}
    if op not in model.NO_VALUE:
        node["value"] = value
    return {"all": [node]}


@pytest.mark.parametrize(("conditions", "record", "expected"), [
    pytest.param({}, {}, True, id="no-conditions"),
    pytest.param(leaf("n", "gte", 40), {"n": 40}, True, id="gte"),
    pytest.param(leaf("n", "gt", 40), {"n": "40.5"}, True, id="decimal-string"),
    pytest.param(leaf("n", "lt", 40), {"n": None}, False, id="null-never-compares"),
    pytest.param(leaf("s", "contains", "ACME"), {"s": "bob@acme.dev"}, True, id="contains-ignores-case"),
    pytest.param(leaf("tags", "contains", "vip"), {"tags": ["a", "vip"]}, True, id="list-member"),
    pytest.param(leaf("tags", "contains", "vi"), {"tags": ["vip"]}, False, id="list-member-is-exact"),
    pytest.param(leaf("e", "in", ["x", "y"]), {"e": "y"}, True, id="in"),
    pytest.param(leaf("s", "is_empty"), {"s": ""}, True, id="empty-string"),
    pytest.param(leaf("tags", "is_not_empty"), {"tags": []}, False, id="empty-list"),
    pytest.param(leaf("t", "gt", "2026-01-01"), {"t": "2026-03-01T10:00:00Z"}, True, id="dates"),
    pytest.param(leaf("meta.plan", "eq", "pro"), {"meta": {"plan": "pro"}}, True, id="dotted-path"),
    pytest.param(leaf("meta.plan", "eq", None), {}, True, id="missing-is-null"),
    pytest.param({"any": [{"field": "n", "op": "eq", "value": 1},
                          {"all": [{"field": "s", "op": "eq", "value": "a"},
                                   {"field": "b", "op": "eq", "value": True}]}]},
                 {"n": 2, "s": "a", "b": True}, True, id="nested"),
])
def test_conditions(conditions: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    assert model.validate_conditions(conditions, SPEC) == []
    assert holds(conditions, record) is expected


@pytest.mark.parametrize(("node", "before", "after", "expected"), [
    pytest.param({"field": "e", "op": "changed"}, {"e": "x"}, {"e": "y"}, True, id="changed"),
    pytest.param({"field": "e", "op": "changed"}, {}, {"s": "a"}, False, id="other-field-changed"),
    pytest.param({"field": "e", "op": "changed", "to": "z"}, {"e": "x"}, {"e": "y"}, False, id="to-other"),
    pytest.param({"field": "e", "op": "changed", "from": "x", "to": "y"}, {"e": "x"}, {"e": "y"}, True, id="from-to"),
    pytest.param({"field": "e", "op": "changed", "from": "y"}, {"e": "x"}, {"e": "y"}, False, id="from-other"),
    pytest.param({"field": "n", "op": "changed"}, {"n": 1}, {"n": "1.0"}, False, id="same-number"),
    pytest.param({"field": "e", "op": "changed", "to": "x"}, {}, {"e": "x"}, True, id="created-with"),
])
def test_changed_reads_the_events_before_and_after(node: dict[str, Any], before: dict[str, Any],
                                                   after: dict[str, Any], expected: bool) -> None:
    conditions = {"all": [node]}
    assert model.validate_conditions(conditions, SPEC) == []
    assert holds(conditions, {}, before, after) is expected


def test_the_contact_fields_come_from_its_schema() -> None:
    assert CONTACT["stage"] == FieldSpec(Kind.ENUM, ("lead", "qualified", "customer", "churned", "partner"))
    assert CONTACT["lead_score"].kind is Kind.NUMBER and CONTACT["tags"].kind is Kind.LIST
    assert fields.RECORD_FIELDS["deal"]["value.amount"].kind is Kind.NUMBER
    assert fields.base_fields("webhook.created") is None


# --- properties ------------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=5)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                           max_leaves=10)
records = st.dictionaries(st.sampled_from(sorted(SPEC)), json_values, max_size=len(SPEC))
numbers = st.one_of(st.integers(-1000, 1000), st.decimals(min_value=-1000, max_value=1000, places=2,
                                                          allow_nan=False, allow_infinity=False))


@st.composite
def valid_leaves(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["n", "s", "b", "e", "tags", "t"]))
    spec = SPEC[name]
    value = {Kind.NUMBER: numbers.map(lambda d: float(d) if isinstance(d, Decimal) else d),
             Kind.STRING: st.text(max_size=5), Kind.LIST: st.text(max_size=5), Kind.BOOLEAN: st.booleans(),
             Kind.ENUM: st.sampled_from(spec.choices),
             Kind.DATETIME: st.dates().map(lambda d: d.isoformat())}[spec.kind]
    ops = ["eq", "ne", "in", "is_empty", "is_not_empty", "changed"]
    if spec.kind in model.ORDERED:
        ops += ["gt", "gte", "lt", "lte"]
    if spec.kind in (Kind.STRING, Kind.LIST):
        ops.append("contains")
    op = draw(st.sampled_from(ops))
    if op in model.NO_VALUE:
        return {"field": name, "op": op}
    if op == "in":
        return {"field": name, "op": op, "value": draw(st.lists(value, min_size=1, max_size=3))}
    return {"field": name, "op": op, "value": draw(value)}


conditions_trees = st.recursive(valid_leaves(), lambda inner: st.builds(
    lambda key, items: {key: items}, st.sampled_from(["all", "any"]), st.lists(inner, max_size=3)), max_leaves=8)


def wrap(node: dict[str, Any]) -> dict[str, Any]:
    return node if ("all" in node or "any" in node) else {"all": [node]}


@settings(max_examples=300, deadline=None)
@given(conditions_trees, records, records, records)
def test_what_validates_evaluates_without_raising(tree: dict[str, Any], record: dict[str, Any],
                                                  before: dict[str, Any], after: dict[str, Any]) -> None:
    conditions = wrap(tree)
    assert model.validate_conditions(conditions, SPEC) == [] or _too_deep(conditions)
    assert isinstance(model.evaluate(conditions, Facts(record, before, after), SPEC), bool)


def _too_deep(node: Any, level: int = 0) -> bool:
    if isinstance(node, dict) and ("all" in node or "any" in node):
        items = node.get("all", node.get("any"))
        return level >= model.MAX_NESTING or any(_too_deep(i, level + 1) for i in items)
    return False


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_validation_never_raises_on_any_json(raw: Any) -> None:
    errors = model.validate_conditions(raw, SPEC)
    assert all(e.field.startswith("conditions") for e in errors)


@given(st.sampled_from(sorted(SPEC)), scalars, records)
def test_ne_is_not_eq(name: str, value: Any, record: dict[str, Any]) -> None:
    kind = SPEC[name].kind
    actual = record.get(name)
    assert model.compare("ne", actual, value, kind) is not model.compare("eq", actual, value, kind)


@given(st.sampled_from(sorted(SPEC)), scalars, records)
def test_in_a_single_value_is_eq(name: str, value: Any, record: dict[str, Any]) -> None:
    kind = SPEC[name].kind
    assert model.compare("in", record.get(name), [value], kind) is model.compare("eq", record.get(name), value, kind)


@given(numbers, numbers)
def test_order_ops_agree(a: Any, b: Any) -> None:
    k = Kind.NUMBER
    assert model.compare("gt", a, b, k) is model.compare("lt", b, a, k)
    assert model.compare("gte", a, b, k) is (model.compare("gt", a, b, k) or model.compare("eq", a, b, k))
    assert model.compare("lte", a, b, k) is not model.compare("gt", a, b, k)


@given(valid_leaves(), valid_leaves(), records)
def test_groups_are_and_and_or(c1: dict[str, Any], c2: dict[str, Any], record: dict[str, Any]) -> None:
    one, two = holds({"all": [c1]}, record), holds({"all": [c2]}, record)
    assert holds({"all": [c1, c2]}, record) is (one and two)
    assert holds({"any": [c1, c2]}, record) is (one or two)
    assert holds({"any": [c1]}, record) is one
    assert holds({"all": []}, record) is True and holds({"any": []}, record) is False


# --- templates --------------------------------------------------------------------------------------------

@given(st.text(max_size=200).filter(lambda t: "{" not in t))
def test_plain_text_renders_as_itself(text: str) -> None:
    assert model.render(text, {}) == text


@given(st.text(max_size=50))
def test_a_value_renders_verbatim_without_escaping(value: str) -> None:
    assert model.render("Hi {{ contact.name }}!", {"contact": {"name": value}}) == f"Hi {value}!"


@given(st.dictionaries(st.sampled_from(sorted(model.ROOTS)), st.dictionaries(st.text(max_size=4), st.integers())))
def test_an_undefined_name_is_an_error_never_an_empty_string(context: dict[str, Any]) -> None:
    with pytest.raises(model.TemplateFailed):
        model.render("{{ record.no_such_field_anywhere }}", {k: v for k, v in context.items() if k != "record"}
                     | {"record": {}})


@pytest.mark.parametrize("source", [
    pytest.param("{{ contact.__class__.__mro__ }}", id="dunder"),
    pytest.param("{{ contact.name.__class__ }}", id="str-dunder"),
    pytest.param("{{ 'x' * 100000 }}", id="huge-repeat"),
    pytest.param("{{ 9 ** 9999 }}", id="huge-power"),
    pytest.param("{{ contact.name.format.__globals__ }}", id="globals"),
    pytest.param("{% for i in range(10) %}x{% endfor %}", id="statements"),
    pytest.param("{{ os }}", id="unknown-root"),
    pytest.param("{{ contact.name", id="syntax"),
])
def test_the_sandbox_refuses(source: str) -> None:
    with pytest.raises(model.TemplateFailed):
        model.render(source, {"contact": {"name": "Ann"}})


def test_templates_render_nested_values() -> None:
    ctx = {"contact": {"name": "Ann", "lead_score": 41}, "event": {"type": "contact.qualified"}}
    assert model.render_tree({"a": ["{{ contact.name }}", 3], "b": "{{ event.type }}/{{ contact.lead_score + 1 }}"},
                             ctx) == {"a": ["Ann", 3], "b": "contact.qualified/42"}


# --- loop protection --------------------------------------------------------------------------------------

rule_ids = st.sampled_from([f"automation_{c}" for c in "abcdefg"])


@given(rule_ids, st.lists(rule_ids, max_size=8))
def test_a_rule_fires_only_outside_its_own_chain_and_under_the_depth_limit(rule: str, chain: list[str]) -> None:
    cause = Provenance(tuple(chain))
    allowed = model.refusal(rule, cause) is None
    assert allowed is (rule not in chain and len(chain) < model.MAX_DEPTH)


@given(st.lists(rule_ids, max_size=8))
def test_provenance_round_trips_through_event_data(chain: list[str]) -> None:
    p = Provenance(tuple(chain))
    assert Provenance.of({"automation": {"chain": list(p.chain), "depth": p.depth}}) == p
    assert Provenance.of({"after": {}}) == Provenance() and Provenance.of(None).depth == 0
    assert p.then("automation_z").chain == (*chain, "automation_z")
