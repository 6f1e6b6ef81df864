"""Deal stage moves: one narrow ``deal_stage_moves`` row per stage a deal enters, what the
conversion-rates report reads instead of scanning and parsing ``deal.stage-moved`` events.

Invariants, kept in the transaction that changes the deal:
- every committed ``deal.stage-moved`` event has exactly one row with the event's id, its
  ``from_stage_id`` / ``to_stage_id`` and ``moved_at`` = the event's ``occurred_at``;
- every committed ``deal.created`` event has one row with the event's id, ``from_stage_id`` NULL and
  ``to_stage_id`` = the stage the deal was created in;
- a deal erased for good, by whatever path, loses its rows (the table's foreign key cascades).

One commit hook (``on_commit``, in ``kith.core.uow.BEFORE_COMMIT``) writes them from the events the
transaction recorded, so every path that sets a deal's stage and records its event — create, lead
conversion, automations' "create deal", move-stage, won / lost / reopen into another stage, a
stage deleted with a target stage, the web UI and the sales-process workflow — writes its row without
knowing of this table, and a new path cannot forget it. The one writer that sets stages without
events is an import too large to record one event per row (``kith.imports``): it calls
``record_created`` for its batch.

Rows copy the deal's pipeline, owner and creation time (none of which a stage move changes) so the
report's filters are index range scans on this table.

The same hook keeps ``deals.stages_reached``: per deal that moved, the set of stage ids its moves
(the rows with a ``from_stage_id``) left or entered, merged with what the column held before, so it
is always the union over the deal's ``deal_stage_moves`` move rows (NULL: no move; migration 0024
backfilled it). The hook reads the column with the deal it already looks up for a move, and writes
it only when a move adds a stage. The all-time stage funnel groups the cohort index by it instead
of reading every move. Creation rows (``record_created`` included) add nothing: the funnel counts a
deal's current stage from ``deals``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kith.core import uow as uow_module
from kith.core.db import Prepared
from kith.core.uow import UnitOfWork

# Deals looked up per statement when a transaction moved many (a stage deleted with its deals):
# under SQLite's 999 bound parameters, with room for the org id.
CHUNK = 500
_DEAL_COLUMNS = ("id", "pipeline_id", "owner_id", "created_at", "stage_id", "stages_reached")


# kith.deals.tables imports this module (to register the hook), and kith.analytics.tables imports
# kith.deals.tables: both tables are looked up when first needed, never at import time.
def _deals_table() -> sa.Table:
    from kith.deals.tables import deals

    return deals


def _moves_table() -> sa.Table:
    from kith.analytics.tables import deal_stage_moves

    return deal_stage_moves


_ONE_DEAL: list[Prepared] = []


def _one_deal() -> Prepared:
    """The move-stage hot path looks up one deal: a prepared statement (see ``kith.core.db.Prepared``)."""
    if not _ONE_DEAL:
        d = _deals_table().c
        _ONE_DEAL.append(Prepared(sa.select(*(d[c] for c in _DEAL_COLUMNS)).where(
            d.org_id == sa.bindparam("org_id"), d.id == sa.bindparam("deal_id"))))
    return _ONE_DEAL[0]


async def on_commit(uow: UnitOfWork) -> None:
    """Before a write transaction that recorded events commits: write the stage-move rows of its
    deal events."""
    created, moved = [], []
    for e in uow.recorded:
        if e["subject_type"] != "deal":
            continue
        if e["type"] == "deal.created":
            created.append(e)
        elif e["type"] == "deal.stage-moved":
            moved.append(e)
    if not (created or moved):
        return
    rows = [row for e in created if (row := _created_row(e)) is not None]
    lookup = [e for e in created if _created_row(e) is None] + moved
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    if lookup:
        found = await _deals(uow, lookup)
        rows += [row for e in lookup if (row := _looked_up_row(e, found)) is not None]
    await uow.insert(_moves_table(), rows)
    await _add_reached(uow, rows, found)


def join_stages(stage_ids: Iterable[str]) -> str:
    """``deals.stages_reached`` of a set of stage ids: distinct, sorted, space-separated."""
    return " ".join(sorted(set(stage_ids)))


def split_stages(text: str | None) -> list[str]:
    return text.split() if text else []


async def _add_reached(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]],
                       found: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
    """Merge the stages of the move rows just written into their deals' ``stages_reached``. Every
    move row comes from an event whose deal ``_deals`` looked up (``found``), column included."""
    new: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        if r["from_stage_id"] is not None:
            new.setdefault((r["org_id"], r["deal_id"]), set()).update((r["from_stage_id"], r["to_stage_id"]))
    changed = []
    for key, stages in new.items():
        old = set(split_stages(found[key]["stages_reached"]))
        if not stages <= old:
            changed.append({"b_org_id": key[0], "b_deal_id": key[1], "reached": join_stages(stages | old)})
    if len(changed) == 1:
        await uow.send(_set_reached(), changed[0])
    elif changed:
        await uow.execute(_set_reached().stmt, changed)


_SET_REACHED: list[Prepared] = []


def _set_reached() -> Prepared:
    """Set one deal's ``stages_reached``: a prepared statement (the move-stage hot path)."""
    if not _SET_REACHED:
        d = _deals_table().c
        # bind names apart from column names: an executemany of an UPDATE takes those for SET values
        stmt = (_deals_table().update().where(d.org_id == sa.bindparam("b_org_id"), d.id == sa.bindparam("b_deal_id"))
                .values(stages_reached=sa.bindparam("reached")))
        _SET_REACHED.append(Prepared(stmt))
    return _SET_REACHED[0]


def move_row(org_id: str, row_id: str, deal: Mapping[str, Any], from_stage_id: str | None, to_stage_id: str,
             moved_at: datetime) -> dict[str, Any]:
    """A ``deal_stage_moves`` row for ``deal`` (a mapping with id, pipeline_id, owner_id, created_at)."""
    return {"org_id": org_id, "id": row_id, "deal_id": deal["id"], "pipeline_id": deal["pipeline_id"],
            "from_stage_id": from_stage_id, "to_stage_id": to_stage_id, "moved_at": moved_at,
            "owner_id": deal.get("owner_id"), "deal_created_at": deal["created_at"]}


async def record_created(uow: UnitOfWork, org_id: str, deals: Sequence[Mapping[str, Any]]) -> None:
    """The creation rows of deals written without a ``deal.created`` event (large imports); the
    row id is ``dsm_<deal id>``, as the migration's backfill names such rows."""
    await uow.insert(_moves_table(), [
        move_row(org_id, f"dsm_{d['id']}", d, None, d["stage_id"], d["created_at"]) for d in deals])


def _created_row(e: Mapping[str, Any]) -> dict[str, Any] | None:
    """The creation row from the event alone (its ``after`` carries the new deal's columns)."""
    after = (e["data"] or {}).get("after") or {}
    if not all(after.get(k) for k in ("pipeline_id", "stage_id", "created_at")):
        return None
    created = after["created_at"]
    deal = {"id": e["subject_id"], "pipeline_id": after["pipeline_id"], "owner_id": after.get("owner_id"),
            "created_at": datetime.fromisoformat(created) if isinstance(created, str) else created}
    return move_row(e["org_id"], e["id"], deal, None, after["stage_id"], e["occurred_at"])


def _looked_up_row(e: Mapping[str, Any], found: Mapping[tuple[str, str], Mapping[str, Any]]
                   ) -> dict[str, Any] | None:
    deal = found.get((e["org_id"], e["subject_id"]))
    if deal is None:  # erased in the same transaction
        return None
    data = e["data"] or {}
    if e["type"] == "deal.created":
        to_stage = ((data.get("after") or {}).get("stage_id")) or deal.get("stage_id")
        return move_row(e["org_id"], e["id"], deal, None, to_stage, e["occurred_at"]) if to_stage else None
    if not data.get("to_stage_id"):
        return None
    return move_row(e["org_id"], e["id"], deal, data.get("from_stage_id"), data["to_stage_id"], e["occurred_at"])


async def _deals(uow: UnitOfWork, evts: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """(org id, deal id) → the deal's id, pipeline, owner, creation time and stage."""
    wanted = _by_org(evts)
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    if len(wanted) == 1 and sum(len(v) for v in wanted.values()) == 1:
        ((org_id, (deal_id,)),) = wanted.items()
        row = await uow.row(_one_deal(), {"org_id": org_id, "deal_id": deal_id})
        return {} if row is None else {(org_id, deal_id): row}
    d = _deals_table().c
    for org_id, deal_ids in wanted.items():
        for chunk in _chunks(deal_ids):
            q = sa.select(*(d[c] for c in _DEAL_COLUMNS)).where(d.org_id == org_id, d.id.in_(chunk))
            out.update({(org_id, r.id): dict(r._mapping) for r in await uow.execute(q)})
    return out


def _by_org(evts: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, dict[str, None]] = {}
    for e in evts:
        out.setdefault(e["org_id"], {})[e["subject_id"]] = None
    return {org_id: list(ids) for org_id, ids in out.items()}


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


if on_commit not in uow_module.BEFORE_COMMIT:
    uow_module.BEFORE_COMMIT.append(on_commit)
