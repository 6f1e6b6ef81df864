"""Replacing a pipeline's stage list: what is kept, created and deleted, and where the records of
a deleted stage go. Pure; no I/O.

Invariants of a stage list (deal pipelines and the company-stage list alike): names are unique
(case-insensitively: company stages are matched by name), ids name stages of this pipeline and
appear once. A deal pipeline keeps at least one open stage and at most one won and one lost
outcome stage; company stages have no outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kith.core.errors import FieldError, ValidationFailed

MAX_STAGES = 50


@dataclass(frozen=True)
class Plan:
    keep: list[dict[str, Any]] = field(default_factory=list)  # incoming stages with an id, with "position"
    create: list[dict[str, Any]] = field(default_factory=list)  # incoming stages without an id
    delete: list[str] = field(default_factory=list)  # ids of existing stages left out
    targets: dict[str, str] = field(default_factory=dict)  # deleted id -> kept id (as given)


def plan(existing: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]], targets: Mapping[str, str],
         *, kind: str, targets_field: str) -> Plan:
    """Check ``incoming`` (the full ordered list) against ``existing`` and return the plan; 422
    with every problem at once otherwise. Whether a deleted stage needs a target depends on the
    records it holds: the service checks that with ``missing_targets``."""
    known = {s["id"] for s in existing}
    errors: list[FieldError] = []
    seen_ids: set[str] = set()
    seen_names: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    result = Plan()
    for n, stage in enumerate(incoming):
        where = f"stages.{n}"
        sid = stage.get("id")
        if sid is not None and sid not in known:
            errors.append(FieldError(f"{where}.id", f"no stage {sid!r} in this pipeline"))
        elif sid is not None and sid in seen_ids:
            errors.append(FieldError(f"{where}.id", "the same stage appears twice"))
        name = stage["name"].strip().lower()
        if name in seen_names:
            errors.append(FieldError(f"{where}.name", f"stages.{seen_names[name]} has the same name"))
        seen_names.setdefault(name, n)
        outcome = stage.get("outcome")
        if outcome is not None and kind == "company":
            errors.append(FieldError(f"{where}.outcome", "company stages have no outcome"))
        elif outcome is not None:
            if outcome in outcomes:
                errors.append(FieldError(f"{where}.outcome", f"stages.{outcomes[outcome]} is already the "
                                                              f"{outcome} stage"))
            outcomes.setdefault(outcome, n)
        entry = {**stage, "position": n}
        if sid is None:
            result.create.append(entry)
        elif sid in known and sid not in seen_ids:
            seen_ids.add(sid)
            result.keep.append(entry)
    if kind == "deal" and all(s.get("outcome") is not None for s in incoming):
        errors.append(FieldError("stages", "a deal pipeline needs at least one open stage (no outcome)"))
    deleted = [s["id"] for s in existing if s["id"] not in seen_ids]
    for source, target in targets.items():
        if source not in deleted:
            errors.append(FieldError(f"{targets_field}.{source}", "not a stage this change deletes"))
        elif target not in seen_ids:
            errors.append(FieldError(f"{targets_field}.{source}", "the target must be a stage this change keeps"))
    if errors:
        raise ValidationFailed("invalid stage list", errors=errors)
    return Plan(keep=result.keep, create=result.create, delete=deleted, targets=dict(targets))


def missing_targets(p: Plan, in_use: Mapping[str, int], targets_field: str, noun: str) -> None:
    """422 for each deleted stage still holding records (``in_use``: stage id → count) without a target."""
    errors = [FieldError(f"{targets_field}.{sid}", f"the stage holds {in_use[sid]} {noun}: say where they go")
              for sid in p.delete if in_use.get(sid) and sid not in p.targets]
    if errors:
        raise ValidationFailed(f"a deleted stage still holds {noun}", errors=errors)
