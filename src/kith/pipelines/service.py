"""Pipeline use cases: deal pipelines (several per org, exactly one default) and the org's one
company-stage list, both edited as a full ordered stage list.

Replacing stages never loses a record: a deleted stage holding deals (live or in the trash)
needs a target stage, and each of its deals moves there with a ``deal.stage-moved`` event; a
deleted company stage some company is in needs a target, and each company gets that stage with a
``company.stage-changed`` event. Renaming a company stage renames it on its companies
(``companies.stage`` holds the name). A kept stage whose probability changes carries the deals
that follow it (no override) along. Reads need pipeline:read, writes pipeline:manage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from kith.auth.access import require
from kith.auth.model import Actor
from kith.companies.tables import companies
from kith.core import clock, ids
from kith.core.errors import Conflict, FieldError, NotFound, PreconditionFailed, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.deals.tables import deals
from kith.orgs.schemas import OrgSettings
from kith.orgs.tables import orgs
from kith.pipelines import model
from kith.pipelines.repo import STAGE_OUT
from kith.pipelines.schemas import CompanyStageIn, CompanyStagesPatch, PipelineCreate, PipelinePatch, StagesPatch
from kith.pipelines.tables import DEFAULT_DEAL_STAGES, DEFAULT_OUTCOMES, pipelines, stages

Pipeline = dict[str, Any]
P_OUT = [c for c in pipelines.c if c.name != "org_id"]


# --- reading -----------------------------------------------------------------------------------------

def _stage_out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    return {"id": d["id"], "name": d["name"], "order": d["position"], "probability": d["probability"],
            "rot_period_days": d["rot_period_days"], "outcome": d["outcome"]}


def _stage_values(stages: Sequence[BaseModel], echoed: frozenset[str] = frozenset({"order"})) -> list[dict[str, Any]]:
    """A stage list's items as plain values, without the fields that only echo GET: ``order`` (the
    schema already sorted by it) and, for company stages, the deal-stage fields they do not have."""
    return [s.model_dump(exclude=set(echoed)) for s in stages]


async def _stages_of(uow: UnitOfWork, org_id: str, pipeline_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in pipeline_ids}
    if not pipeline_ids:
        return out
    q = (sa.select(*STAGE_OUT).where(stages.c.org_id == org_id, stages.c.pipeline_id.in_(list(pipeline_ids)))
         .order_by(stages.c.pipeline_id, stages.c.position, stages.c.id))
    for r in await uow.execute(q):
        out[r.pipeline_id].append(_stage_out(r))
    return out


async def _load(uow: UnitOfWork, org_id: str, pipeline_id: str, kind: str = "deal", *, lock: bool = False
                ) -> Pipeline:
    q = sa.select(*P_OUT).where(pipelines.c.org_id == org_id, pipelines.c.id == pipeline_id,
                                pipelines.c.kind == kind)
    if lock and uow.backend == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).first()
    if row is None:
        raise NotFound(f"pipeline {pipeline_id!r} does not exist", extra={"id": pipeline_id})
    p = dict(row._mapping)
    p["stages"] = (await _stages_of(uow, org_id, [pipeline_id]))[pipeline_id]
    return p


async def list_pipelines(uow: UnitOfWork, actor: Actor) -> list[Pipeline]:
    """The org's deal pipelines (default first, then by name), each with its stages."""
    require(actor, "pipeline:read")
    async with uow.transaction():
        q = (sa.select(*P_OUT).where(pipelines.c.org_id == actor.org_id, pipelines.c.kind == "deal")
             .order_by(pipelines.c.is_default.desc(), pipelines.c.name, pipelines.c.id).limit(500))
        rows = [dict(r._mapping) for r in await uow.execute(q)]
        by_id = await _stages_of(uow, actor.org_id, [r["id"] for r in rows])
    for r in rows:
        r["stages"] = by_id[r["id"]]
    return rows


async def get_pipeline(uow: UnitOfWork, actor: Actor, pipeline_id: str) -> Pipeline:
    require(actor, "pipeline:read")
    async with uow.transaction():
        return await _load(uow, actor.org_id, pipeline_id)


async def company_stages(uow: UnitOfWork, actor: Actor) -> Pipeline:
    require(actor, "pipeline:read")
    async with uow.transaction():
        return await _load(uow, actor.org_id, await _company_pipeline_id(uow, actor.org_id), "company")


async def _company_pipeline_id(uow: UnitOfWork, org_id: str) -> str:
    q = sa.select(pipelines.c.id).where(pipelines.c.org_id == org_id, pipelines.c.kind == "company")
    pid = (await uow.execute(q.limit(1))).scalar_one_or_none()
    if pid is None:
        raise NotFound("the org has no company-stage list")
    return str(pid)


# --- writing the pipeline ------------------------------------------------------------------------------

async def _settings(uow: UnitOfWork, org_id: str) -> OrgSettings:
    raw = (await uow.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id))).scalar_one()
    return OrgSettings.model_validate(raw)


async def _unset_default(uow: UnitOfWork, org_id: str, kind: str) -> None:
    await uow.execute(pipelines.update().where(pipelines.c.org_id == org_id, pipelines.c.kind == kind,
                                               pipelines.c.is_default.is_(True))
                      .values(is_default=False, version=pipelines.c.version + 1, updated_at=clock.now()))


async def _record(uow: UnitOfWork, actor: Actor, type_: str, pipeline_id: str, data: dict[str, Any]) -> None:
    await uow.record(actor.org_id, type_, subject_type="pipeline", subject_id=pipeline_id, actor_id=actor.id,
                     actor_type=actor.kind, data=data)


async def create_pipeline(uow: UnitOfWork, actor: Actor, cmd: PipelineCreate) -> Pipeline:
    require(actor, "pipeline:manage")
    given = (_stage_values(cmd.stages) if cmd.stages else
             [{"id": None, "name": n, "probability": p, "rot_period_days": None, "outcome": DEFAULT_OUTCOMES.get(n)}
              for n, p in DEFAULT_DEAL_STAGES])
    async with uow.transaction(write=True):
        plan = model.plan([], given, {}, kind="deal", targets_field="move_deals_to")
        now, pipeline_id = clock.now(), ids.new("pipeline")
        if cmd.is_default:
            await _unset_default(uow, actor.org_id, "deal")
        await uow.execute(pipelines.insert(), {"org_id": actor.org_id, "id": pipeline_id, "kind": "deal",
                                               "name": cmd.name, "is_default": cmd.is_default, "created_at": now,
                                               "updated_at": now, "version": 1})
        rot = (await _settings(uow, actor.org_id)).rot_period_days
        await _insert_stages(uow, actor.org_id, pipeline_id, plan.create, rot)
        p = await _load(uow, actor.org_id, pipeline_id)
        await _record(uow, actor, "pipeline.created", pipeline_id, {"after": _summary(p)})
    return p


def _summary(p: Pipeline) -> dict[str, Any]:
    return {"name": p["name"], "is_default": p["is_default"],
            "stages": [{k: s[k] for k in ("id", "name", "order", "probability", "outcome")} for s in p["stages"]]}


async def _insert_stages(uow: UnitOfWork, org_id: str, pipeline_id: str, new: list[dict[str, Any]],
                         rot: int | None) -> None:
    rows = [{"org_id": org_id, "id": ids.new("stage"), "pipeline_id": pipeline_id, "name": s["name"],
             "position": s["position"], "probability": s.get("probability") or 0,
             "rot_period_days": s.get("rot_period_days") or rot, "outcome": s.get("outcome")} for s in new]
    if rows:
        await uow.execute(stages.insert(), rows)


def _check_version(p: Pipeline, expected: int | None) -> None:
    if expected is not None and expected != p["version"]:
        raise PreconditionFailed(f"the pipeline changed since you read it (version {p['version']})",
                                 extra={"current_version": p["version"]})


async def _bump(uow: UnitOfWork, org_id: str, p: Pipeline, **values: Any) -> None:
    res = await uow.execute(pipelines.update().where(pipelines.c.org_id == org_id, pipelines.c.id == p["id"],
                                                     pipelines.c.version == p["version"])
                            .values(**values, updated_at=clock.now(), version=p["version"] + 1))
    if res.rowcount != 1:
        raise PreconditionFailed("the pipeline changed while you were updating it")


async def update_pipeline(uow: UnitOfWork, actor: Actor, pipeline_id: str, patch: PipelinePatch,
                          expected_version: int | None = None) -> Pipeline:
    """Rename it, or make it the default (the previous default stops being one)."""
    require(actor, "pipeline:manage")
    fields = patch.model_dump(exclude_unset=True)
    if "name" in fields and fields["name"] is None:
        raise ValidationFailed("name cannot be null", errors=[FieldError("name", "cannot be null")])
    async with uow.transaction(write=True):
        p = await _load(uow, actor.org_id, pipeline_id, lock=True)
        _check_version(p, expected_version)
        changes = {k: v for k, v in fields.items() if v is not None and p[k] != v}
        if not changes:
            return p
        if changes.get("is_default"):
            await _unset_default(uow, actor.org_id, "deal")
        await _bump(uow, actor.org_id, p, **changes)
        await _record(uow, actor, "pipeline.updated", pipeline_id,
                      {"before": {k: p[k] for k in changes}, "after": changes})
        p = await _load(uow, actor.org_id, pipeline_id)
    return p


async def delete_pipeline(uow: UnitOfWork, actor: Actor, pipeline_id: str, expected_version: int | None = None
                          ) -> None:
    """Only a pipeline holding no deal (not even in the trash) and not the default goes."""
    require(actor, "pipeline:manage")
    async with uow.transaction(write=True):
        p = await _load(uow, actor.org_id, pipeline_id, lock=True)
        _check_version(p, expected_version)
        if p["is_default"]:
            raise Conflict("the default pipeline cannot be deleted: make another one the default first")
        q = sa.select(sa.func.count()).select_from(deals).where(deals.c.org_id == actor.org_id,
                                                                deals.c.pipeline_id == pipeline_id)
        held = (await uow.execute(q)).scalar_one()
        if held:
            raise Conflict(f"the pipeline holds {held} deal(s) (trash included): move or erase them first",
                           extra={"deals": held})
        await uow.execute(stages.delete().where(stages.c.org_id == actor.org_id, stages.c.pipeline_id == pipeline_id))
        await uow.execute(pipelines.delete().where(pipelines.c.org_id == actor.org_id, pipelines.c.id == pipeline_id))
        await _record(uow, actor, "pipeline.deleted", pipeline_id, {"before": _summary(p)})


# --- replacing stages ----------------------------------------------------------------------------------

async def replace_stages(uow: UnitOfWork, actor: Actor, pipeline_id: str, cmd: StagesPatch,
                         expected_version: int | None = None) -> Pipeline:
    require(actor, "pipeline:manage")
    async with uow.transaction(write=True):
        p = await _load(uow, actor.org_id, pipeline_id, lock=True)
        _check_version(p, expected_version)
        plan = model.plan(p["stages"], _stage_values(cmd.stages), cmd.move_deals_to, kind="deal",
                          targets_field="move_deals_to")
        held = await _deals_per_stage(uow, actor.org_id, plan.delete)
        model.missing_targets(plan, held, "move_deals_to", "deals")
        incoming = {s["id"]: s for s in plan.keep}
        await _check_open_targets(uow, actor.org_id, plan, incoming)
        rot = (await _settings(uow, actor.org_id)).rot_period_days
        await _insert_stages(uow, actor.org_id, pipeline_id, plan.create, rot)
        followers = await _update_kept(uow, actor.org_id, p["stages"], plan.keep)
        moved = await _move_deals(uow, actor, plan, incoming)
        await uow.execute(stages.delete().where(stages.c.org_id == actor.org_id, stages.c.id.in_(plan.delete)))
        await _bump(uow, actor.org_id, p)
        after = await _load(uow, actor.org_id, pipeline_id)
        await _record(uow, actor, "pipeline.stages-changed", pipeline_id, {
            "before": _summary(p)["stages"], "after": _summary(after)["stages"], "deleted": plan.delete,
            "moved_deals": moved, "probability_followers": followers})
    return after


async def _deals_per_stage(uow: UnitOfWork, org_id: str, stage_ids: list[str]) -> dict[str, int]:
    if not stage_ids:
        return {}
    n = sa.func.count().label("n")
    q = (sa.select(deals.c.stage_id, n).where(deals.c.org_id == org_id, deals.c.stage_id.in_(stage_ids))
         .group_by(deals.c.stage_id))
    return {r.stage_id: r.n for r in await uow.execute(q)}


async def _check_open_targets(uow: UnitOfWork, org_id: str, plan: model.Plan, incoming: dict[str, Any]) -> None:
    """An open deal never lands in a won/lost outcome stage (it would look closed and is not)."""
    bad = [s for s, t in plan.targets.items() if incoming[t].get("outcome") is not None]
    if not bad:
        return
    q = sa.select(deals.c.stage_id).where(deals.c.org_id == org_id, deals.c.stage_id.in_(bad),
                                          deals.c.status == "open").limit(1)
    row = (await uow.execute(q)).first()
    if row is not None:
        raise ValidationFailed("open deals cannot move into an outcome stage", errors=[
            FieldError(f"move_deals_to.{row.stage_id}", "the stage holds open deals: choose an open stage")])


async def _update_kept(uow: UnitOfWork, org_id: str, before: list[dict[str, Any]], keep: list[dict[str, Any]]
                       ) -> int:
    """Write the kept stages' changes; deals following a stage whose probability changed follow it.
    Returns how many deals changed probability."""
    old = {s["id"]: s for s in before}
    followers = 0
    for s in keep:
        values = {"name": s["name"], "position": s["position"], "outcome": s.get("outcome")}
        if s.get("probability") is not None:
            values["probability"] = s["probability"]
        if s.get("rot_period_days") is not None:
            values["rot_period_days"] = s["rot_period_days"]
        prev = old[s["id"]]
        if all(prev["order" if k == "position" else k] == v for k, v in values.items()):
            continue
        await uow.execute(stages.update().where(stages.c.org_id == org_id, stages.c.id == s["id"]).values(**values))
        if values.get("probability", prev["probability"]) != prev["probability"]:
            d = deals.c
            res = await uow.execute(deals.update().where(
                d.org_id == org_id, d.stage_id == s["id"], d.probability_override.is_(False))
                .values(probability=values["probability"]))
            followers += res.rowcount
    return followers


async def _move_deals(uow: UnitOfWork, actor: Actor, plan: model.Plan, incoming: dict[str, Any]) -> int:
    """Each deal of a deleted stage moves to its target (trash included), with its event."""
    d = deals.c
    moved = 0
    now = clock.now()
    for source, target in plan.targets.items():
        q = sa.select(d.id, d.contact_id, d.company_id, d.probability, d.probability_override).where(
            d.org_id == actor.org_id, d.stage_id == source)
        rows = list(await uow.execute(q))
        if not rows:
            continue
        prob = incoming[target].get("probability")
        if prob is None:
            prob = (await uow.execute(sa.select(stages.c.probability).where(
                stages.c.org_id == actor.org_id, stages.c.id == target))).scalar_one()
        await uow.execute(deals.update().where(d.org_id == actor.org_id, d.stage_id == source).values(
            stage_id=target, stage_changed_at=now, updated_at=now, version=d.version + 1,
            probability=sa.case((d.probability_override.is_(True), d.probability), else_=prob)))
        for r in rows:
            await uow.record(actor.org_id, "deal.stage-moved", subject_type="deal", subject_id=r.id,
                             actor_id=actor.id, actor_type=actor.kind,
                             refs=tuple(x for x in (r.contact_id, r.company_id) if x),
                             data={"from_stage_id": source, "to_stage_id": target, "reason": "stage deleted",
                                   "before": {"stage_id": source, "probability": r.probability},
                                   "after": {"stage_id": target,
                                             "probability": r.probability if r.probability_override else prob}})
        moved += len(rows)
    return moved


# --- the company-stage list ----------------------------------------------------------------------------

async def replace_company_stages(uow: UnitOfWork, actor: Actor, cmd: CompanyStagesPatch,
                                 expected_version: int | None = None) -> Pipeline:
    require(actor, "pipeline:manage")
    async with uow.transaction(write=True):
        p = await _load(uow, actor.org_id, await _company_pipeline_id(uow, actor.org_id), "company", lock=True)
        _check_version(p, expected_version)
        plan = model.plan(p["stages"], _stage_values(cmd.stages, CompanyStageIn.ECHOED), cmd.move_companies_to,
                          kind="company", targets_field="move_companies_to")
        names = {s["id"]: s["name"] for s in p["stages"]}
        used = await _companies_per_stage(uow, actor.org_id, [names[i] for i in plan.delete])
        model.missing_targets(plan, {i: used.get(names[i], 0) for i in plan.delete}, "move_companies_to",
                              "companies")
        await _insert_stages(uow, actor.org_id, p["id"], plan.create, None)
        await _update_kept(uow, actor.org_id, p["stages"], plan.keep)
        new_names = {s["id"]: s["name"] for s in plan.keep}
        # Move first (into the target's current name), then rename: a deleted stage's name may be
        # reused by a kept one, and its companies must not be mistaken for that stage's.
        moved = await _move_companies(uow, actor, plan, names, new_names)
        renamed = await _rename_on_companies(uow, actor.org_id, names, new_names)
        await uow.execute(stages.delete().where(stages.c.org_id == actor.org_id, stages.c.id.in_(plan.delete)))
        await _bump(uow, actor.org_id, p)
        after = await _load(uow, actor.org_id, p["id"], "company")
        await _record(uow, actor, "pipeline.stages-changed", p["id"], {
            "before": _summary(p)["stages"], "after": _summary(after)["stages"], "deleted": plan.delete,
            "renamed_on_companies": renamed, "moved_companies": moved})
    return after


async def _companies_per_stage(uow: UnitOfWork, org_id: str, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    n = sa.func.count().label("n")
    q = (sa.select(companies.c.stage, n).where(companies.c.org_id == org_id, companies.c.stage.in_(names))
         .group_by(companies.c.stage))
    return {r.stage: r.n for r in await uow.execute(q)}


async def _rename_on_companies(uow: UnitOfWork, org_id: str, old: dict[str, str], new: dict[str, str]) -> int:
    """Companies hold the stage's name: a renamed stage is renamed on them (trash included). Two
    passes through a temporary name, so swapping two names cannot mix their companies up."""
    changes = {sid: (old[sid], name) for sid, name in new.items() if old[sid] != name}
    if not changes:
        return 0
    c = companies.c
    now, total = clock.now(), 0
    for sid, (before, _) in changes.items():
        res = await uow.execute(companies.update().where(c.org_id == org_id, c.stage == before)
                                .values(stage=f"\x01{sid}", updated_at=now, version=c.version + 1))
        total += res.rowcount
    for sid, (_, after) in changes.items():
        await uow.execute(companies.update().where(c.org_id == org_id, c.stage == f"\x01{sid}").values(stage=after))
    return total


async def _move_companies(uow: UnitOfWork, actor: Actor, plan: model.Plan, old: dict[str, str],
                          new: dict[str, str]) -> int:
    c = companies.c
    moved, now = 0, clock.now()
    for source, target in plan.targets.items():
        ids_ = list((await uow.execute(sa.select(c.id).where(c.org_id == actor.org_id, c.stage == old[source])))
                    .scalars())
        if not ids_:
            continue
        await uow.execute(companies.update().where(c.org_id == actor.org_id, c.stage == old[source])
                          .values(stage=old[target], updated_at=now, version=c.version + 1))
        for company_id in ids_:
            await uow.record(actor.org_id, "company.stage-changed", subject_type="company", subject_id=company_id,
                             actor_id=actor.id, actor_type=actor.kind,
                             data={"before": {"stage": old[source]}, "after": {"stage": new[target]},
                                   "mode": "exact", "reason": "stage deleted"})
        moved += len(ids_)
    return moved
