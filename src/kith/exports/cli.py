"""``kith export``: the same export as the HTTP route, written to a file or stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kith.auth.model import Actor
from kith.core.db import Database
from kith.core.errors import FieldError, ValidationFailed
from kith.core.uow import UnitOfWork
from kith.exports import service, writers
from kith.exports.model import Format


def parse_filters(pairs: Sequence[str]) -> dict[str, str]:
    """``["stage=lead", "tag=vip"]`` → ``{"stage": "lead", "tag": "vip"}``; 422 on a pair without ``=``
    or a field given twice (as the list route does)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValidationFailed("a filter is field=value",
                                   errors=[FieldError("--filter", f"not field=value: {pair!r}")])
        if name in out:
            raise ValidationFailed("a filter is given twice", errors=[FieldError(name, "give this filter once")])
        out[name] = value
    return out


async def export_to(db: Database, actor: Actor, object_: str, fmt: Format, output: Path | None, *,
                    filters: dict[str, str], q: str | None = None, sort: str | None = None) -> int:
    """Write the export to ``output`` (atomically: a ``.part`` file renamed when complete) or to
    stdout; returns the number of records written."""
    uow = UnitOfWork(db)
    job = await service.start(uow, actor, object_, fmt, filters=filters, q=q, sort=sort)
    count = 0

    async def counted() -> writers.Rows:
        nonlocal count
        async for batch in service.batches(uow, actor, job):
            count += len(batch)
            yield batch

    chunks = writers.render(fmt, job.source.builtin, job.custom, counted())
    if output is None:
        async for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return count
    part = output.with_name(output.name + ".part")
    try:
        with open(part, "wb") as f:
            async for chunk in chunks:
                f.write(chunk)
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)
    return count
