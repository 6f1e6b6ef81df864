"""Import use cases: start one (upload → queued job, or the CLI in-process), read its status and
errors, run queued ones (the worker's step), and revert one.

Invariants:
- The options and the file's header are checked before anything is stored: a bad option, an
  unknown mapping target, a missing required column, an empty, binary or damaged file answer 422
  and write nothing.
- The uploaded file is stored in the database (``import_chunks``), so any worker process can run
  the job; the worker copies it to a temporary file chunk by chunk (bounded memory) to read it.
- A worker claims a job by moving it to ``running`` with a lease (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; SQLite writers are serialised): two workers never run one import at once, and a
  killed worker's job is taken up again when its lease ends, resuming after its last batch.
- An import is visible to the user who started it and to anyone with the org-wide (not
  own-only) update grant on its object; to others it does not exist (404).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.core import clock, ids
from kith.core.db import Database
from kith.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from kith.core.listing import ListQuery, Page, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.imports import engine, mapping, model, readers
from kith.imports.objects import OBJECTS, spec_for
from kith.imports.tables import import_changes, import_chunks, import_errors, imports

REVERT_BATCH = 2000
_OUT = [c for c in imports.c if c.name not in ("org_id", "actor", "lease_until")]


def _file_problem(exc: readers.FileProblem) -> ValidationFailed:
    return ValidationFailed(str(exc), errors=[FieldError("file", str(exc))])


async def _check(uow: UnitOfWork, actor: Actor, obj: str, mode: str, match: str | None,
                 overrides: dict[str, str | None], path: Path) -> engine.Plan:
    spec = spec_for(obj)
    engine.require_rights(actor, spec, mode)
    try:
        header, _ = readers.read_header(path)
    except readers.FileProblem as exc:
        raise _file_problem(exc) from None
    return await engine.make_plan(uow, actor.org_id, obj, mode, match, overrides, header)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _row(actor: Actor, *, obj: str, mode: str, match: str, overrides: dict[str, str | None], dry_run: bool,
         filename: str, path: Path, source: str, status: str) -> dict[str, Any]:
    now = clock.now()
    return {"org_id": actor.org_id, "id": ids.new("import"), "object": obj, "mode": mode, "match": match,
            "mapping": overrides, "dry_run": dry_run, "status": status, "source": source,
            "filename": filename[:255] or "upload", "file_size": path.stat().st_size, "sha256": _sha256(path),
            "actor": engine.actor_json(actor), "record_events": None, "rows_done": 0, "created": 0, "updated": 0,
            "unchanged": 0, "errors": 0, "failure": None,
            "lease_until": now + timedelta(seconds=model.LEASE_SECONDS) if status == "running" else None,
            "created_by": actor.user_id, "created_at": now, "started_at": now if status == "running" else None,
            "finished_at": None, "reverted_at": None}


async def start_upload(uow: UnitOfWork, actor: Actor, *, obj: str, mode: str, match: str | None,
                       mapping_raw: str | None, dry_run: bool, filename: str, path: Path) -> dict[str, Any]:
    """Check, store the file and queue the job; the worker runs it."""
    overrides = mapping.parse_overrides(mapping_raw)
    plan = await _check(uow, actor, obj, mode, match, overrides, path)
    row = _row(actor, obj=obj, mode=mode, match=plan.match, overrides=overrides, dry_run=dry_run,
               filename=filename, path=path, source="upload", status="queued")
    async with uow.transaction(write=True):
        await uow.insert(imports, [row])
        with path.open("rb") as fh:
            seq = 0
            while chunk := fh.read(model.CHUNK_BYTES):
                await uow.insert(import_chunks, [{"org_id": actor.org_id, "import_id": row["id"], "seq": seq,
                                                  "data": chunk}])
                seq += 1
    return await get_import(uow, actor, row["id"])


# --- reads -------------------------------------------------------------------------------------------

def _visible(actor: Actor, row: dict[str, Any]) -> bool:
    kind = spec_for(row["object"]).kind
    return (row.get("created_by") is not None and row["created_by"] == actor.user_id) or \
        grant(actor.roles, f"{kind}:update") is Grant.ALL


async def _load(uow: UnitOfWork, actor: Actor, import_id: str) -> dict[str, Any]:
    async with uow.transaction():
        r = (await uow.execute(sa.select(imports).where(imports.c.org_id == actor.org_id,
                                                        imports.c.id == import_id))).mappings().first()
    if r is None or not _visible(actor, dict(r)):
        raise NotFound(f"import {import_id!r} does not exist", extra={"id": import_id})
    return dict(r)


def _out(row: dict[str, Any], errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {c.name: row[c.name] for c in _OUT if c.name in row}
    for k in ("rows_done", "created", "updated", "unchanged", "errors", "file_size"):
        out.pop(k, None)
    out["counts"] = model.counts(row)
    if errors is not None:
        out["errors"] = errors
    return out


async def get_import(uow: UnitOfWork, actor: Actor, import_id: str) -> dict[str, Any]:
    row = await _load(uow, actor, import_id)
    ie = import_errors.c
    async with uow.transaction():
        errs = await uow.execute(sa.select(ie.row, ie.field, ie.message).where(
            ie.org_id == actor.org_id, ie.import_id == import_id).order_by(ie.row, ie.seq).limit(model.ERRORS_SHOWN))
        errors = [dict(r._mapping) for r in errs]
    out = _out(row, errors)
    out["file_size"] = row["file_size"]
    return out


async def list_imports(uow: UnitOfWork, actor: Actor, query: ListQuery) -> Page:
    """The org's imports you may see, newest first."""
    t = imports
    stmt = sa.select(*[t.c[c.name] for c in _OUT], t.c.rows_done, t.c.created, t.c.updated, t.c.unchanged,
                     t.c.errors).where(t.c.org_id == actor.org_id)
    kinds = [o for o in OBJECTS if grant(actor.roles, f"{spec_for(o).kind}:update") is Grant.ALL]
    stmt = stmt.where(sa.or_(t.c.created_by == actor.user_id, t.c.object.in_(kinds)))
    for name, raw in query.filters.items():
        if name in ("status", "object"):
            stmt = stmt.where(t.c[name] == raw)
        else:
            raise ValidationFailed("invalid list parameters", errors=[FieldError(name, "unknown filter; filter by "
                                                                                      "status or object")])
    sort_name, desc = parse_sort(query.sort or "-created_at", ("created_at",))
    stmt = keyset(stmt, sort_col=t.c.created_at, id_col=t.c.id, query=query, sort_name=sort_name, desc=desc)
    async with uow.transaction():
        rows = [dict(r._mapping) for r in await uow.execute(stmt)]
    result = page(rows, query, sort_name)
    return Page([_out(r) for r in result.data], result.next_cursor)


async def error_rows(uow: UnitOfWork, actor: Actor, import_id: str) -> AsyncIterator[list[Any]]:
    """Every error, in row order, read in pages (bounded memory for a big report)."""
    await _load(uow, actor, import_id)
    ie = import_errors.c
    after: tuple[int, int] = (-1, 0)
    while True:
        async with uow.transaction():
            q = (sa.select(ie.row, ie.seq, ie.field, ie.message)
                 .where(ie.org_id == actor.org_id, ie.import_id == import_id,
                        sa.tuple_(ie.row, ie.seq) > sa.tuple_(*after))
                 .order_by(ie.row, ie.seq).limit(5000))
            chunk = [tuple(r) for r in await uow.execute(q)]
        if not chunk:
            return
        for r in chunk:
            yield [r[0], r[2], r[3]]
        after = (chunk[-1][0], chunk[-1][1])


# --- running -----------------------------------------------------------------------------------------

async def run_file(db: Database, org_id: str, import_id: str, path: Path,
                   progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run (or resume) a claimed import on ``path``; a problem with the file as a whole fails it."""
    uow = UnitOfWork(db)
    async with uow.transaction():
        imp = dict((await uow.execute(sa.select(imports).where(imports.c.org_id == org_id,
                                                                imports.c.id == import_id))).mappings().one())
    try:
        header, it = readers.read_header(path)
        plan = await engine.make_plan(uow, org_id, imp["object"], imp["mode"], imp["match"], imp["mapping"], header)
        await engine.Runner(db, imp, plan, progress=progress).run(it, path)
    except (readers.FileProblem, ValidationFailed) as exc:
        await _fail(db, org_id, import_id, engine.failure_text(exc))
    except engine.Stopped:
        pass
    async with uow.transaction():
        return dict((await uow.execute(sa.select(imports).where(imports.c.org_id == org_id,
                                                                 imports.c.id == import_id))).mappings().one())


async def _fail(db: Database, org_id: str, import_id: str, why: str) -> None:
    uow = UnitOfWork(db)
    async with uow.transaction(write=True):
        await uow.execute(imports.update().where(imports.c.org_id == org_id, imports.c.id == import_id)
                          .values(status="failed", failure=why[:4000], finished_at=clock.now(), lease_until=None))


async def claim(db: Database) -> tuple[str, str] | None:
    """Take the oldest queued import (or one whose worker's lease ran out)."""
    uow = UnitOfWork(db)
    now = clock.now()
    t = imports.c
    q = (sa.select(t.org_id, t.id).where(t.source == "upload", sa.or_(
        t.status == "queued", sa.and_(t.status == "running", t.lease_until < now)))
        .order_by(t.created_at).limit(1))
    async with uow.transaction():  # the common case (nothing to do) takes no write lock
        if (await uow.execute(q)).first() is None:
            return None
    async with uow.transaction(write=True):
        if uow.backend == "postgresql":
            q = q.with_for_update(skip_locked=True)
        found = (await uow.execute(q)).first()
        if found is None:
            return None
        await uow.execute(imports.update().where(t.org_id == found.org_id, t.id == found.id).values(
            status="running", started_at=sa.func.coalesce(t.started_at, now),
            lease_until=now + timedelta(seconds=model.LEASE_SECONDS)))
    return found.org_id, found.id


@asynccontextmanager
async def stored_file(db: Database, org_id: str, import_id: str) -> AsyncIterator[Path]:
    """The uploaded file copied to a temporary file, one chunk at a time."""
    tmp = Path(tempfile.mkdtemp(prefix="kith-import-"))
    path = tmp / "upload"
    try:
        uow = UnitOfWork(db)
        seq = 0
        with path.open("wb") as out:
            while True:
                async with uow.transaction():
                    data = (await uow.execute(sa.select(import_chunks.c.data).where(
                        import_chunks.c.org_id == org_id, import_chunks.c.import_id == import_id,
                        import_chunks.c.seq == seq))).scalar()
                if data is None:
                    break
                out.write(data)
                seq += 1
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def step(db: Database) -> int:
    """The worker's step: run one queued import to its end; 1 when one ran, else 0."""
    claimed = await claim(db)
    if claimed is None:
        return 0
    org_id, import_id = claimed
    async with stored_file(db, org_id, import_id) as path:
        await run_file(db, org_id, import_id, path)
    return 1


async def run_local(db: Database, actor: Actor, *, obj: str, mode: str, match: str | None,
                    overrides: dict[str, str | None], dry_run: bool, path: Path,
                    progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """``kith import``: run in this process. An unfinished CLI import of the same file with the
    same options (a run that was killed) is resumed after its last committed batch."""
    uow = UnitOfWork(db)
    plan = await _check(uow, actor, obj, mode, match, overrides, path)
    row = _row(actor, obj=obj, mode=mode, match=plan.match, overrides=overrides, dry_run=dry_run,
               filename=path.name, path=path, source="cli", status="running")
    async with uow.transaction(write=True):
        t = imports.c
        previous = (await uow.execute(sa.select(t.id).where(
            t.org_id == actor.org_id, t.sha256 == row["sha256"], t.source == "cli", t.status == "running",
            t.object == obj, t.mode == mode, t.match == plan.match, t.dry_run == dry_run)
            .order_by(t.created_at.desc()).limit(1))).first()
        if previous is None:
            await uow.insert(imports, [row])
            import_id = row["id"]
        else:
            import_id = previous.id
    return await run_file(db, actor.org_id, import_id, path, progress)


# --- revert ------------------------------------------------------------------------------------------

async def revert(uow: UnitOfWork, actor: Actor, import_id: str) -> dict[str, Any]:
    """Remove every record the import created and restore every record it updated to its
    before-image, in batches (a killed revert is finished by asking again)."""
    row = await _load(uow, actor, import_id)
    spec = spec_for(row["object"])
    engine.require_rights(actor, spec, row["mode"])
    if row["status"] in ("queued", "running"):
        raise Conflict("the import is still running: revert it once it is done or failed",
                       extra={"status": row["status"]})
    if row["dry_run"]:
        raise Conflict("a dry run wrote nothing to revert")
    from kith.imports import revert as rv

    total = {"deleted": 0, "restored": 0}
    while True:
        async with uow.transaction(write=True):
            done = await rv.revert_batch(uow, actor, spec, import_id, REVERT_BATCH)
            if done is None:
                await uow.execute(imports.update().where(imports.c.org_id == actor.org_id,
                                                         imports.c.id == import_id)
                                  .values(reverted_at=clock.now()))
                await uow.record(actor.org_id, "import.reverted", subject_type="import", subject_id=import_id,
                                 actor_id=actor.id, actor_type=actor.kind, data=total)
                break
            total["deleted"] += done[0]
            total["restored"] += done[1]
    out = await get_import(uow, actor, import_id)
    out["reverted"] = total
    return out


async def remaining_changes(uow: UnitOfWork, org_id: str, import_id: str) -> int:
    async with uow.transaction():
        return int((await uow.execute(sa.select(sa.func.count()).select_from(import_changes).where(
            import_changes.c.org_id == org_id, import_changes.c.import_id == import_id))).scalar_one())


def write_csv(rows_: list[list[Any]], out: IO[str]) -> None:
    out.write(readers.to_csv(rows_))
