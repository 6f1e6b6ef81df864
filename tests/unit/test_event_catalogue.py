"""Every event type the code records is registered, and the catalogue covers the registry.

``UnitOfWork.record`` refuses an unregistered type at run time; this test finds one before any code
path runs: every string literal passed as the type to ``.record(`` anywhere under src/ must be in
``EVENT_TYPES``, and the event catalogue (``GET /api/v1/event-types``) has one entry per type.
"""

from __future__ import annotations

import ast
from pathlib import Path

from kith.core.events import EVENT_TYPES
from kith.webhooks.catalogue import catalogue

SRC = Path(__file__).resolve().parents[2] / "src" / "kith"


def recorded_literals() -> dict[str, list[str]]:
    """type literal -> where it is recorded (file:line)."""
    found: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and len(node.args) >= 2):
                continue
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_every_recorded_event_type_is_registered() -> None:
    literals = recorded_literals()
    assert "contact.created" in literals or "webhook.created" in literals  # the scan sees the code
    unregistered = {t: where for t, where in literals.items() if t not in EVENT_TYPES}
    assert not unregistered, f"events recorded but not registered in kith.core.events: {unregistered}"


def test_the_scan_would_catch_an_unregistered_type(tmp_path: Path) -> None:
    code = 'async def f(uow):\n    await uow.record(org, "contact.exploded", subject_type="c", subject_id="x")\n'
    tree = ast.parse(code)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "record"]
    assert calls and calls[0].args[1].value not in EVENT_TYPES  # type: ignore[attr-defined]


def test_the_catalogue_has_every_registered_type_once() -> None:
    entries = catalogue()
    assert [e["type"] for e in entries] == sorted(EVENT_TYPES)
    assert all(e["schema"]["properties"]["type"] == {"const": e["type"]} for e in entries)
    assert all(e["schema"]["properties"]["data"]["properties"] for e in entries)
