"""Running an import: stream the file's rows, validate each with the object's own schema, and
write them in batches, one transaction per batch.

Invariants:
- A batch's records, their before-images (``import_changes``), their errors, their events and
  the import's progress (``rows_done`` and the counts) commit together: an import killed at any
  point leaves whole batches, and running it again skips the ``rows_done`` rows already in.
- Set-based: a batch costs a fixed number of statements whatever its size (one ``IN`` lookup per
  unique field, one for the records this import already touched, one for owners, one
  executemany per table written), never one per row.
- A row is written whole or not at all: any fault (schema, custom field, unique clash, duplicate
  key inside the file, permission) skips that row and is reported as ``{row, field, message}``.
- A dry run reads, validates and reports exactly like a real run and writes no record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from kith.analytics import moves as stage_moves
from kith.auth.access import can
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies.tables import companies
from kith.contacts import dedupe
from kith.contacts.tables import contact_companies
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.errors import KithError, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.customfields import model as cf
from kith.customfields import repo as cf_repo
from kith.imports import bulk, model, readers
from kith.imports import mapping as m
from kith.imports.objects import Spec, check_columns, check_options, spec_for
from kith.imports.tables import import_changes, import_errors, imports
from kith.orgs.tables import users
from kith.pipelines.repo import company_stage_names
from kith.records import service as rec
from kith.records.tables import record_tags

Progress = Callable[[int], None]
Err = tuple[int, str, str]  # (row, field, message)


def actor_of(imp: dict[str, Any]) -> Actor:
    a = imp["actor"]
    return Actor(org_id=imp["org_id"], user_id=a.get("user_id"), roles=frozenset(a.get("roles", ())),
                 team_ids=frozenset(a.get("team_ids", ())), kind=a.get("kind", "user"))


def actor_json(actor: Actor) -> dict[str, Any]:
    return {"user_id": actor.user_id, "roles": sorted(actor.roles), "team_ids": sorted(actor.team_ids),
            "kind": actor.kind}


def require_rights(actor: Actor, spec: Spec, mode: str) -> None:
    """Importing needs create (create, upsert) and update (update, upsert) on the object."""
    from kith.auth.access import require

    if mode in ("create", "upsert"):
        require(actor, f"{spec.kind}:create")
    if mode in ("update", "upsert"):
        require(actor, f"{spec.kind}:update")


@dataclass
class Plan:
    spec: Spec
    mode: str
    match: str
    columns: list[str | None]
    ignored: list[str]
    custom: dict[str, cf.Definition]


async def make_plan(uow: UnitOfWork, org_id: str, obj: str, mode: str, match: str | None,
                    overrides: dict[str, str | None], header: Sequence[str]) -> Plan:
    """Everything decided from the options and the header, before any row is read; raises
    ``ValidationFailed`` naming the option or column at fault."""
    spec = spec_for(obj)
    chosen = check_options(spec, mode, match)
    custom: dict[str, cf.Definition] = {}
    if spec.custom_object is not None:
        async with uow.transaction():
            custom = await cf_repo.definitions(uow, org_id, spec.custom_object)
    p = m.plan(header, obj, spec.fields, custom, overrides)
    check_columns(spec, mode, chosen, p.fields)
    return Plan(spec, mode, chosen, p.columns, p.ignored, custom)


# --- one batch ---------------------------------------------------------------------------------------

@dataclass
class Parsed:
    row: int
    given: dict[str, Any]
    custom: dict[str, Any]
    extras: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)  # unique field -> normalised value


@dataclass
class Batch:
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Err] = field(default_factory=list)
    unchanged: int = 0
    error_rows: set[int] = field(default_factory=set)

    def fail(self, row: int, field_: str, message: str) -> None:
        self.errors.append((row, field_, message))
        self.error_rows.add(row)


class Runner:
    """Runs one import in this process (the worker's step and ``kith import`` both use it)."""

    def __init__(self, db: Database, imp: dict[str, Any], plan: Plan, *, progress: Progress | None = None) -> None:
        self.db = db
        self.imp = imp
        self.plan = plan
        self.spec = plan.spec
        self.actor = actor_of(imp)
        self.org_id = imp["org_id"]
        self.dry = bool(imp["dry_run"])
        self.progress = progress
        self.stages: dict[str, str] = {}
        self.seen: dict[tuple[str, str], int] = {}  # dry runs only: keys met earlier in the file
        self.record_events = False
        self.currency = "USD"
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.price_lists: dict[str, str | None] = {}
        self.written = 0  # records this run created or updated
        self.analyzer = bulk.Analyzer(db, [
            (plan.spec.table, ["org_id", *plan.spec.matchable, *(["deleted_at"] if plan.spec.soft_deletes else [])]),
            (import_changes, ["org_id", "import_id", "record_id"])])

    # --- parsing -------------------------------------------------------------------------------

    def parse(self, item: readers.Row | readers.BadRow, batch: Batch) -> Parsed | None:
        if isinstance(item, readers.BadRow):
            batch.fail(item.row, "row", item.message)
            return None
        number, cells = item
        given: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        extras: dict[str, str] = {}
        for target, value in zip(self.plan.columns, cells, strict=False):
            if target is None or value is None or (isinstance(value, str) and not value.strip()):
                continue
            if target.startswith(m.CUSTOM_PREFIX):
                name = target[len(m.CUSTOM_PREFIX):]
                custom[name] = m.custom_value(self.plan.custom[name], value)
            elif target in self.spec.extras:
                extras[target] = m.text(value).strip()
            else:
                given[target] = self.spec.cell(target, value)
        p = Parsed(number, given, custom, extras)
        for u in self.spec.matchable:
            if u in given:
                try:
                    p.keys[u] = self.spec.normalise(u)(m.text(given[u]))
                except ValueError as exc:
                    batch.fail(number, u, str(exc))
                    return None
        given.pop("id", None)
        if self.plan.mode != "create" and self.plan.match not in p.keys:
            batch.fail(number, self.plan.match, f"is empty: mode {self.plan.mode} needs it to match the row")
            return None
        return p

    # --- lookups (one query per unique field, per batch) ----------------------------------------

    async def lookup(self, uow: UnitOfWork, parsed: list[Parsed]) -> dict[str, dict[str, dict[str, Any]]]:
        t = self.spec.table
        cols = [c for c in t.c if c.name != "org_id"]
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for u in self.spec.matchable:
            values = sorted({p.keys[u] for p in parsed if u in p.keys})
            found[u] = {}
            for q in bulk.keyed(uow, t, t.c[u], cols, values):
                q = q.where(t.c.org_id == self.org_id)
                if self.spec.soft_deletes:
                    q = q.where(t.c.deleted_at.is_(None))
                for r in await uow.execute(q):
                    d = dict(r._mapping)
                    found[u][d[u]] = d
        return found

    async def touched(self, uow: UnitOfWork, record_ids: Iterable[str]) -> dict[str, int]:
        """Records this import already wrote (an earlier batch or run): id -> the row that did."""
        out: dict[str, int] = {}
        ic = import_changes.c
        for q in bulk.keyed(uow, import_changes, ic.record_id, (ic.record_id, ic.row), sorted(set(record_ids))):
            q = q.where(ic.org_id == self.org_id, ic.import_id == self.imp["id"])
            out.update({r.record_id: r.row for r in await uow.execute(q)})
        return out

    async def owners(self, uow: UnitOfWork, parsed: list[Parsed]) -> set[str]:
        wanted = sorted({str(p.given["owner_id"]) for p in parsed if p.given.get("owner_id")})
        active: set[str] = set()
        for chunk in bulk.chunks(wanted):
            q = sa.select(users.c.id).where(users.c.org_id == self.org_id, users.c.id.in_(chunk),
                                            users.c.is_active.is_(True))
            active.update(r.id for r in await uow.execute(q))
        return active

    async def companies_for(self, uow: UnitOfWork, parsed: list[Parsed]) -> dict[tuple[str, str], str]:
        """Contacts: the companies named by ``company_domain`` / ``company`` (exact name)."""
        out: dict[tuple[str, str], str] = {}
        c = companies.c
        for key, col in (("company_domain", c.domain), ("company", c.name)):
            values = sorted({_norm_domain(p.extras[key]) if key == "company_domain" else p.extras[key]
                             for p in parsed if key in p.extras})
            for chunk in bulk.chunks([v for v in values if v]):
                q = sa.select(c.id, col.label("k")).where(c.org_id == self.org_id, col.in_(chunk),
                                                          c.deleted_at.is_(None)).order_by(c.created_at)
                for r in await uow.execute(q):
                    out.setdefault((key, r.k), r.id)
        return out

    async def contacts_for(self, uow: UnitOfWork, parsed: list[Parsed]) -> dict[tuple[str, str], str]:
        """Leads: the live contacts named by ``contact_email``."""
        from kith.contacts.tables import contacts

        c = contacts.c
        out: dict[tuple[str, str], str] = {}
        values = sorted({_norm_email(p.extras["contact_email"]) for p in parsed if "contact_email" in p.extras})
        for chunk in bulk.chunks(values):
            q = sa.select(c.id, c.email).where(c.org_id == self.org_id, c.email.in_(chunk), c.deleted_at.is_(None))
            out.update({("contact_email", r.email): r.id for r in await uow.execute(q)})
        return out

    # --- deciding each row ----------------------------------------------------------------------

    async def decide(self, uow: UnitOfWork, items: list[readers.Row | readers.BadRow]) -> Batch:
        batch = Batch()
        parsed = [p for p in (self.parse(i, batch) for i in items) if p is not None]
        found = await self.lookup(uow, parsed)
        touched = {} if self.dry else await self.touched(
            uow, [r["id"] for by in found.values() for r in by.values()])
        active = await self.owners(uow, parsed)
        linked = await self.companies_for(uow, parsed) if self.spec.name == "contacts" else {}
        if self.spec.name == "leads":
            linked = await self.contacts_for(uow, parsed)
        if self.spec.name == "deals":
            linked = {**await self.contacts_for(uow, parsed), **await self.companies_for(uow, parsed)}
            await self.price_lists_for(uow, {p.extras["currency"].strip().upper() for p in parsed
                                             if "currency" in p.extras})
        existing_links = await self._links_of(uow, found.get(self.plan.match, {}))
        claims: dict[tuple[str, str], int] = {}
        for p in parsed:
            try:
                self.decide_row(p, found, touched, active, linked, existing_links, claims, batch)
            except _RowFault as fault:
                for f, msg in fault.errors:
                    batch.fail(p.row, f, msg)
        return batch

    def decide_row(self, p: Parsed, found: dict[str, dict[str, dict[str, Any]]], touched: dict[str, int],
                   active: set[str], linked: dict[tuple[str, str], str], existing_links: dict[str, list[Any]],
                   claims: dict[tuple[str, str], int], batch: Batch) -> None:
        spec, match, mode = self.spec, self.plan.match, self.plan.mode
        key = p.keys.get(match)
        current = found[match].get(key) if key is not None else None
        if current is not None and current["id"] in touched:
            raise _RowFault([(match, f"duplicate {match} {key!r} in the file: row {touched[current['id']]} "
                                     f"already imported it")])
        if current is None and mode == "update":
            raise _RowFault([(match, f"no {spec.kind} with {match} {key!r} to update")])
        if current is not None and mode == "create":
            raise _RowFault([(match, f"a {spec.kind} with {match} {key!r} already exists (mode create)")])
        if current is None and match == "id" and mode != "create":
            raise _RowFault([("id", f"no {spec.kind} with id {key!r}")])
        if current is not None and not can(self.actor, f"{spec.kind}:update", current.get("owner_id")):
            raise _RowFault([(match, f"you may not change the {spec.kind} with {match} {key!r}")])
        if spec.name == "leads":
            return self.decide_lead(p, current, found, touched, active, linked, claims, batch)
        if spec.name == "deals":
            return self.decide_deal(p, current, active, linked, batch)
        values = self.validate(p, current)
        self.check_unique(p, values, current, found, touched, claims)
        self.check_owner(values, current, active)
        link = self.link_target(p, linked)
        if current is None:
            self.add_create(p, values, link, batch)
        else:
            self.add_update(p, values, current, link, existing_links.get(current["id"], []), batch)

    def decide_lead(self, p: Parsed, current: dict[str, Any] | None, found: dict[str, dict[str, dict[str, Any]]],
                    touched: dict[str, int], active: set[str], linked: dict[tuple[str, str], str],
                    claims: dict[tuple[str, str], int], batch: Batch) -> None:
        """A new lead needs its contact (by ``contact_email``); an update never changes the contact."""
        contact_id = None
        if current is None:
            email = p.extras.get("contact_email")
            contact_id = linked.get(("contact_email", _norm_email(email))) if email else None
            if contact_id is None:
                raise _RowFault([("contact_email", f"no contact with email {email!r} (import contacts first)"
                                  if email else "is required to create a lead")])
            p.given["contact_id"] = contact_id
        values = self.validate(p, current)
        self.check_unique(p, values, current, found, touched, claims)
        self.check_owner(values, current, active)
        if current is None:
            values.update(contact_id=contact_id, status="new", score=values.get("score") or 0,
                          payload=values.get("payload") or {},
                          title=(values.get("title") or p.extras.get("contact_email") or "Lead")[:200])
            values.pop("contact", None)
            self.add_create(p, values, None, batch)
        else:
            self.add_update(p, values, current, None, [], batch)

    def decide_deal(self, p: Parsed, current: dict[str, Any] | None, active: set[str],
                    linked: dict[tuple[str, str], str], batch: Batch) -> None:
        x = p.extras
        errors: list[tuple[str, str]] = []
        for key, field_ in (("contact_email", "contact_id"), ("company_domain", "company_id")):
            if key in x:
                norm = _norm_email(x[key]) if key == "contact_email" else _norm_domain(x[key])
                found_id = linked.get((key, norm))
                if found_id is None:
                    what = "contact with email" if key == "contact_email" else "company with domain"
                    errors.append((key, f"no {what} {x[key]!r}"))
                p.given[field_] = found_id
        if "amount" in x or "currency" in x:
            p.given["value"] = {k: x[k] for k in ("amount", "currency") if k in x}
        stage = None
        if current is None:
            stage = self.deal_stage(x.get("pipeline"), x.get("stage"), errors)
        elif "pipeline" in x or "stage" in x:
            errors.append(("stage", "an import does not move deals: use POST /api/v1/deals/{id}/move-stage"))
        if errors:
            raise _RowFault(errors)
        values = self.validate(p, current)
        self.check_owner(values, current, active)
        value = values.pop("value", None) or {}
        for k in ("line_items", "contacts", "pipeline_id", "stage_id"):
            values.pop(k, None)
        if "amount" in value and value["amount"] is not None:
            values["amount"] = value["amount"]
        if value.get("currency"):
            values["currency"] = value["currency"]
        if current is None:
            assert stage is not None
            currency = values.get("currency") or self.currency
            override = values.get("probability") is not None
            values.update(pipeline_id=stage["pipeline_id"], stage_id=stage["id"], status="open", currency=currency,
                          amount=values.get("amount") or Decimal("0.00"),
                          probability=values["probability"] if override else stage["probability"],
                          probability_override=override, stage_changed_at=clock.now(), custom_fields={},
                          price_list_id=self.price_lists.get(currency))
            self.add_create(p, values, None, batch)
        else:
            if values.get("probability") is not None:
                values["probability_override"] = True
            self.add_update(p, values, current, None, [], batch)

    def deal_stage(self, pipeline: str | None, stage: str | None, errors: list[tuple[str, str]]
                   ) -> dict[str, Any] | None:
        pipes = self.pipelines
        pipe = pipes.get(pipeline.strip().lower()) if pipeline else pipes.get("")
        if pipe is None:
            errors.append(("pipeline", f"no deal pipeline named {pipeline!r}; the org's are "
                                       f"{sorted(p['name'] for k, p in pipes.items() if k)}"))
            return None
        stages: list[dict[str, Any]] = pipe["stages"]
        if not stage:
            first = next((s for s in stages if s["outcome"] is None), None)
            if first is None:
                errors.append(("stage", "the pipeline has no open stage"))
            return first
        found = next((s for s in stages if s["name"].lower() == stage.strip().lower()), None)
        if found is None:
            errors.append(("stage", f"no stage {stage!r} in pipeline {pipe['name']!r}; its stages are "
                                    f"{[s['name'] for s in pipe['stages']]}"))
            return None
        if found["outcome"] is not None:
            errors.append(("stage", f"{found['name']!r} closes a deal ({found['outcome']}): import it open and "
                                    "close it with POST /api/v1/deals/{id}/won|lost"))
            return None
        return found

    async def load_deal_context(self) -> None:
        from kith.deals import repo
        from kith.pipelines.tables import pipelines, stages

        uow = UnitOfWork(self.db)
        async with uow.transaction():
            self.currency = (await repo.org_settings(uow, self.org_id)).currency
            pipes: dict[str, dict[str, Any]] = {}
            for r in await uow.execute(sa.select(pipelines.c.id, pipelines.c.name, pipelines.c.is_default).where(
                    pipelines.c.org_id == self.org_id, pipelines.c.kind == "deal")):
                pipe = {"id": r.id, "name": r.name, "stages": []}
                pipes[r.name.lower()] = pipe
                if r.is_default:
                    pipes[""] = pipe
            by_id = {p["id"]: p for p in pipes.values()}
            for r in await uow.execute(sa.select(stages.c.id, stages.c.pipeline_id, stages.c.name,
                                                 stages.c.probability, stages.c.outcome)
                                       .where(stages.c.org_id == self.org_id).order_by(stages.c.position)):
                if r.pipeline_id in by_id:
                    by_id[r.pipeline_id]["stages"].append(dict(r._mapping))
            self.pipelines = pipes
            await self.price_lists_for(uow, {self.currency})

    async def price_lists_for(self, uow: UnitOfWork, currencies: set[str]) -> None:
        """The org's default price list per currency (a deal's default), looked up once per currency."""
        from kith.deals import lines

        for c in sorted(currencies - set(self.price_lists)):
            self.price_lists[c] = await lines.default_price_list(uow, self.org_id, c)

    def validate(self, p: Parsed, current: dict[str, Any] | None) -> dict[str, Any]:
        spec = self.spec
        data = dict(p.given)
        if current is None:
            if spec.name == "contacts" and "name" not in data:
                full = " ".join(str(data[k]) for k in ("first_name", "last_name") if data.get(k))
                if full:
                    data["name"] = full
            schema = spec.create
        else:
            schema = spec.patch
        try:
            cmd = schema.model_validate(data)
        except ValidationError as exc:
            raise _RowFault([(_loc(e["loc"]), e["msg"]) for e in exc.errors()]) from None
        values = cmd.model_dump() if current is None else cmd.model_dump(exclude_unset=True)
        values.pop("custom_fields", None)
        if spec.name == "leads" and current is not None:
            values = {k: v for k, v in values.items() if v is not None or k not in ("title", "score", "payload")}
        try:
            if "metadata" in values:
                base = current["metadata"] if current is not None else {}
                values["metadata"] = rec.check_metadata(rec.merge_patch(base, values["metadata"]))
            if spec.custom_object is None:
                pass
            elif current is None:
                values["custom_fields"] = cf.merge(self.plan.custom, {}, p.custom, require_all=True)
            elif p.custom:
                values["custom_fields"] = cf.merge(self.plan.custom, current["custom_fields"], p.custom)
        except KithError as exc:
            raise _RowFault([(e.field, e.message) for e in exc.errors] or [("row", exc.detail)]) from None
        if spec.name == "companies" and values.get("stage") is not None:
            canonical = self.stages.get(str(values["stage"]).strip().lower())
            if canonical is None:
                raise _RowFault([("stage", f"{values['stage']!r} is not one of the org's company stages "
                                           f"{sorted(set(self.stages.values()))}")])
            values["stage"] = canonical
        if "tags" in values:
            values["tags"] = list(dict.fromkeys(values["tags"]))
        return values

    def check_unique(self, p: Parsed, values: dict[str, Any], current: dict[str, Any] | None,
                     found: dict[str, dict[str, dict[str, Any]]], touched: dict[str, int],
                     claims: dict[tuple[str, str], int]) -> None:
        errors: list[tuple[str, str]] = []
        self_id = current["id"] if current is not None else None
        for u in self.spec.unique:
            v = values.get(u)
            if v is None and current is not None:
                v = current.get(u)
            if v is None:
                continue
            other = found[u].get(v)
            if other is not None and other["id"] != self_id:
                if other["id"] in touched:
                    errors.append((u, f"duplicate {u} {v!r} in the file: row {touched[other['id']]} already "
                                      "imported it"))
                else:
                    errors.append((u, f"another {self.spec.kind} already has {u} {v!r}"))
            first = claims.get((u, v)) or (self.seen.get((u, v)) if self.dry else None)
            if first is not None:
                errors.append((u, f"duplicate {u} {v!r} in the file: also on row {first}"))
        if errors:
            raise _RowFault(errors)
        for u in self.spec.unique:
            v = values.get(u) or (current.get(u) if current is not None else None)
            if v is not None:
                claims[(u, v)] = p.row
                if self.dry:
                    self.seen[(u, v)] = p.row

    def check_owner(self, values: dict[str, Any], current: dict[str, Any] | None, active: set[str]) -> None:
        if "owner_id" not in values:
            return
        owner = values["owner_id"]
        if owner is None and current is None:
            values["owner_id"] = owner = self.actor.user_id
        if current is not None and owner == current.get("owner_id"):
            return
        if owner != self.actor.user_id and grant(self.actor.roles, f"{self.spec.kind}:reassign") is not Grant.ALL:
            raise _RowFault([("owner_id", f"only a manager may assign a {self.spec.kind} to another user")])
        if owner is not None and owner != self.actor.user_id and owner not in active:
            raise _RowFault([("owner_id", f"no active user {owner!r} in this org")])

    def link_target(self, p: Parsed, linked: dict[tuple[str, str], str]) -> str | None:
        for key in ("company_domain", "company"):
            if key in p.extras:
                k = _norm_domain(p.extras[key]) if key == "company_domain" else p.extras[key]
                company_id = linked.get((key, k))
                if company_id is None:
                    what = "domain" if key == "company_domain" else "name"
                    raise _RowFault([(key, f"no company with {what} {p.extras[key]!r} (import companies first)")])
                return company_id
        return None

    async def _links_of(self, uow: UnitOfWork, by_key: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
        if self.spec.name != "contacts" or not self.plan.columns.count("company") + \
                self.plan.columns.count("company_domain"):
            return {}
        cc = contact_companies.c
        out: dict[str, list[Any]] = {}
        for chunk in bulk.chunks(sorted(r["id"] for r in by_key.values())):
            q = sa.select(cc.contact_id, cc.company_id, cc.is_primary).where(cc.org_id == self.org_id,
                                                                              cc.contact_id.in_(chunk))
            for r in await uow.execute(q):
                out.setdefault(r.contact_id, []).append(r)
        return out

    def add_create(self, p: Parsed, values: dict[str, Any], link: str | None, batch: Batch) -> None:
        now = clock.now()
        t = self.spec.table
        row = dict.fromkeys(t.c.keys())
        row.update({k: v for k, v in values.items() if k in row})
        row.update(org_id=self.org_id, id=ids.new(self.spec.kind), created_at=now, updated_at=now, version=1)
        if row.get("owner_id") is None:
            row["owner_id"] = self.actor.user_id
        if self.spec.name == "contacts":
            row.update(dedupe.keys(row))
        if self.spec.name == "companies":
            row["is_placeholder"] = False
        batch.creates.append(row)
        batch.changes.append({"org_id": self.org_id, "import_id": self.imp["id"], "record_id": row["id"],
                              "row": p.row, "action": "created", "before": None})
        if link is not None:
            batch.links.append({"org_id": self.org_id, "contact_id": row["id"], "company_id": link,
                                "is_primary": True, "role": None, "title": None, "created_at": now})

    def add_update(self, p: Parsed, values: dict[str, Any], current: dict[str, Any], link: str | None,
                   links: list[Any], batch: Batch) -> None:
        changed = {k: v for k, v in values.items() if k in current and current[k] != v}
        new_link = link is not None and all(r.company_id != link for r in links)
        if not changed and not new_link:
            batch.unchanged += 1
            return
        before = {k: rec.jsonable(current[k]) for k in changed}
        if changed:
            if self.spec.name == "contacts":
                changed.update(dedupe.changed_keys(current, changed))
            changed.update(updated_at=clock.now(), version=current["version"] + 1)
            before["version"] = current["version"]
            before.update({k: current[k] for k in dedupe.KEY_COLUMNS if k in changed and k in current})
        if new_link:
            before["_links_added"] = [link]
            batch.links.append({"org_id": self.org_id, "contact_id": current["id"], "company_id": link,
                                "is_primary": not any(r.is_primary for r in links), "role": None, "title": None,
                                "created_at": clock.now()})
        batch.updates.append((current, changed, before))
        batch.changes.append({"org_id": self.org_id, "import_id": self.imp["id"], "record_id": current["id"],
                              "row": p.row, "action": "updated", "before": before})

    # --- writing ----------------------------------------------------------------------------------

    async def write(self, uow: UnitOfWork, batch: Batch) -> None:
        t = self.spec.table
        if batch.creates:
            await bulk.insert(uow, t, batch.creates)
            if self.spec.name == "deals" and not self.record_events:  # no deal.created events: see moves.py
                await stage_moves.record_created(uow, self.org_id, batch.creates)
            tags = [{"org_id": self.org_id, "record_type": self.spec.kind, "tag": tag, "record_id": r["id"]}
                    for r in batch.creates for tag in (r.get("tags") or ())] if self.spec.has_tags else []
            await bulk.insert(uow, record_tags, tags)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for current, changed, _before in batch.updates:
            if changed:
                groups.setdefault(tuple(sorted(changed)), []).append({**changed, "b_org": self.org_id,
                                                                      "b_id": current["id"]})
        for params in groups.values():
            stmt = t.update().where(t.c.org_id == sa.bindparam("b_org"), t.c.id == sa.bindparam("b_id"))
            await uow.execute(stmt, params)
        retag = [(cur["id"], ch["tags"]) for cur, ch, _ in batch.updates if "tags" in ch]
        if retag:
            rt = record_tags.c
            for chunk in bulk.chunks([rid for rid, _ in retag]):
                await uow.execute(record_tags.delete().where(rt.org_id == self.org_id, rt.record_id.in_(chunk)))
            await bulk.insert(uow, record_tags, [{"org_id": self.org_id, "record_type": self.spec.kind, "tag": tag,
                                                  "record_id": rid} for rid, tags in retag for tag in tags])
        if batch.links:
            await bulk.insert(uow, contact_companies, batch.links)
        await bulk.insert(uow, import_changes, batch.changes)
        if self.record_events:
            await self.events(uow, batch)

    async def events(self, uow: UnitOfWork, batch: Batch) -> None:
        """One event per record (small imports only; see docs/imports.md), buffered by the unit of
        work and written as one multi-row insert at commit."""
        kind, a = self.spec.kind, self.actor
        for r in batch.creates:
            after = {k: rec.jsonable(v) for k, v in r.items() if k not in ("org_id", *dedupe.KEY_COLUMNS)}
            await _record(uow, self.org_id, f"{kind}.created", kind, r["id"], a,
                    {"after": after, "import_id": self.imp["id"]})
        for current, changed, before in batch.updates:
            shown = {k: rec.jsonable(v) for k, v in changed.items()
                     if k not in ("updated_at", "version", *dedupe.KEY_COLUMNS)}
            if shown:
                await _record(uow, self.org_id, f"{kind}.updated", kind, current["id"], a,
                        {"before": {k: before.get(k) for k in shown}, "after": shown, "import_id": self.imp["id"]})

    async def commit(self, items: list[readers.Row | readers.BadRow], rows_done: int) -> Batch:
        uow = UnitOfWork(self.db)
        async with uow.transaction(write=True):
            status = (await uow.execute(sa.select(imports.c.status).where(
                imports.c.org_id == self.org_id, imports.c.id == self.imp["id"]))).scalar_one()
            if status != "running":
                raise Stopped(f"the import is {status}")
            batch = await self.decide(uow, items)
            if not self.dry:
                await self.write(uow, batch)
            await bulk.insert(uow, import_errors, _error_rows(self.org_id, self.imp["id"], batch.errors))
            await uow.execute(imports.update().where(imports.c.org_id == self.org_id, imports.c.id == self.imp["id"])
                              .values(rows_done=rows_done,
                                      created=imports.c.created + len(batch.creates),
                                      updated=imports.c.updated + len(batch.updates),
                                      unchanged=imports.c.unchanged + batch.unchanged,
                                      errors=imports.c.errors + len(batch.error_rows),
                                      lease_until=clock.now() + timedelta(seconds=model.LEASE_SECONDS)))
        return batch

    # --- the whole file -------------------------------------------------------------------------

    async def run(self, it: Iterator[readers.Row | readers.BadRow], path: Path) -> None:
        self.record_events = not self.dry and _at_most(path, model.RECORD_EVENTS_MAX_ROWS)
        if self.spec.name == "deals":
            await self.load_deal_context()
        if self.spec.name == "companies":
            uow = UnitOfWork(self.db)
            async with uow.transaction():
                self.stages = {n.lower(): n for n in await company_stage_names(uow, self.org_id)}
        skip = int(self.imp["rows_done"])
        done = 0
        pending: list[readers.Row | readers.BadRow] = []
        for item in it:
            done += 1
            if done <= skip:
                continue
            pending.append(item)
            if len(pending) >= model.BATCH_ROWS:
                await self.committed(await self.commit(pending, done))
                pending = []
                if self.progress:
                    self.progress(done)
        if pending:
            await self.committed(await self.commit(pending, done))
        if self.progress:
            self.progress(done)
        await self.finish(done)

    async def committed(self, batch: Batch) -> None:
        if not self.dry:
            self.written += len(batch.creates) + len(batch.updates)
            await self.analyzer.wrote(self.written)

    async def finish(self, rows: int) -> None:
        uow = UnitOfWork(self.db)
        async with uow.transaction(write=True):
            row = (await uow.execute(sa.select(imports).where(
                imports.c.org_id == self.org_id, imports.c.id == self.imp["id"]))).mappings().one()
            await uow.execute(imports.update().where(imports.c.org_id == self.org_id, imports.c.id == self.imp["id"])
                              .values(status="done", finished_at=clock.now(), lease_until=None,
                                      record_events=self.record_events))
            await _record(uow, self.org_id, "import.completed", "import", self.imp["id"], self.actor,
                    {"object": self.spec.name, "mode": self.plan.mode, "dry_run": self.dry,
                     "counts": model.counts(dict(row))})
        if not self.dry and self.imp["source"] == "upload":
            from kith.imports.tables import import_chunks

            async with uow.transaction(write=True):  # the stored file is no longer needed
                await uow.execute(import_chunks.delete().where(import_chunks.c.org_id == self.org_id,
                                                               import_chunks.c.import_id == self.imp["id"]))


class Stopped(Exception):
    """The import's status changed under the runner (e.g. failed by an operator)."""


class _RowFault(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


async def _record(uow: UnitOfWork, org_id: str, type_: str, subject_type: str, subject_id: str, actor: Actor,
                  data: dict[str, Any]) -> None:
    await uow.record(org_id, type_, subject_type=subject_type, subject_id=subject_id, actor_id=actor.id,
                     actor_type=actor.kind, data=data)


def _error_rows(org_id: str, import_id: str, errors: list[Err]) -> list[dict[str, Any]]:
    seqs: dict[int, int] = {}
    out = []
    for row, f, msg in errors:
        seqs[row] = seqs.get(row, 0) + 1
        out.append({"org_id": org_id, "import_id": import_id, "row": row, "seq": seqs[row],
                    "field": f[:120], "message": msg[:2000]})
    return out


def _loc(loc: Sequence[Any]) -> str:
    return ".".join(str(x) for x in loc) or "row"


def _norm_email(value: str) -> str:
    from kith.core.validate import normalise_email

    try:
        return normalise_email(value)
    except ValueError:
        return value.strip().lower()


def _norm_domain(value: str) -> str:
    from kith.companies.schemas import normalise_domain

    try:
        return normalise_domain(value)
    except ValueError:
        return value.strip().lower()


def _at_most(path: Path, limit: int) -> bool:
    """Whether the file has at most ``limit`` data rows (reads no further than that)."""
    try:
        _, it = readers.read_header(path)
    except readers.FileProblem:
        return True
    for n, _ in enumerate(it, start=1):
        if n > limit:
            return False
    return True


def failure_text(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed) and exc.errors:
        return exc.detail + ": " + "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return str(exc)
