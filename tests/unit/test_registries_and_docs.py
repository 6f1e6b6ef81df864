"""Event types are a registry: well-formed, documented, and each one emitted by some code path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kith.core.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
SRC = "\n".join(p.read_text() for p in (ROOT / "src" / "kith").rglob("*.py"))
DOCS = (ROOT / "docs" / "events.md").read_text()
# Verbs the shared record CRUD emits as f"{kind.name}.{verb}" for every record Kind.
CRUD_VERBS = {"created", "updated", "deleted", "restored"}
KINDS = set(re.findall(r'name="([a-z_]+)",\n    table=', SRC))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_event_type_is_documented(event_type: str) -> None:
    assert f"`{event_type}`" in DOCS


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_event_type_is_emitted_somewhere(event_type: str) -> None:
    noun, verb = event_type.split(".", 1)
    literal = f'"{event_type}"' in SRC.replace(f'"{event_type}": ', "")
    via_crud = noun in KINDS and verb in CRUD_VERBS
    assert literal or via_crud, f"{event_type} is registered but nothing emits it"


def test_every_documented_event_is_registered() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z-]+)`", DOCS, flags=re.M))
    assert documented == set(EVENT_TYPES)


def test_permissions_doc_matches_the_matrix() -> None:
    from kith.auth.permissions import MATRIX, ROLES, Grant

    doc = (ROOT / "docs" / "permissions.md").read_text()
    sym = {Grant.ALL: "✓", Grant.NONE: "—", Grant.OWN: "◑"}
    for perm, row in MATRIX.items():
        assert f"| `{perm}` | " + " | ".join(sym[row[r]] for r in ROLES) + " |" in doc, perm
