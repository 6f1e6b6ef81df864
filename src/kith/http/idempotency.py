"""``Idempotency-Key`` on POST: the first response is stored and replayed for a retry.

The key is scoped to the caller (org + API key's user). A retry with the same key and the same
request gets the stored response with ``Idempotent-Replayed: true``; the same key with a different
request answers 422; a retry while the first is still running answers 409. Server errors are not
stored, so a request that failed on our side can be retried with its key. Records expire after
``Settings.idempotency_ttl_seconds``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from kith.core import clock
from kith.core.db import JSONType, UTCDateTime, metadata
from kith.core.errors import Conflict, FieldError, KithError, ValidationFailed
from kith.http import deps
from kith.http.responses import problem_response

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("headers", JSONType),
    sa.Column("body", sa.LargeBinary),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

_KEPT_HEADERS = ("content-type", "etag", "location")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class IdempotentRoute(APIRoute):
    """The route class of every API router: adds Idempotency-Key handling to POST routes."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        if "POST" not in (self.methods or set()):
            return inner

        async def handler(request: Request) -> Response:
            key = request.headers.get("idempotency-key")
            if key is None:
                return await inner(request)
            try:
                return await _idempotent(request, key, inner)
            except KithError as exc:
                return problem_response(exc.problem(), exc.headers)

        return handler


async def _idempotent(request: Request, key: str, inner: Handler) -> Response:
    if not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters",
                               errors=[FieldError("Idempotency-Key", "1 to 255 characters")])
    who = await deps.actor(request, request.headers.get("authorization"))
    body = await request.body()
    digest = hashlib.sha256(b"\n".join([request.method.encode(), request.url.path.encode(),
                                        request.url.query.encode(), body])).hexdigest()
    db = request.app.state.db
    ttl = timedelta(seconds=request.app.state.settings.idempotency_ttl_seconds)
    t = idempotency_keys
    where = (t.c.org_id == who.org_id, t.c.user_id == (who.user_id or ""), t.c.key == key)
    try:
        row = await _claim(db, where, who, key, digest, ttl)
    except IntegrityError:
        raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly") from None
    if row is not None:
        if row.fingerprint != digest:
            raise ValidationFailed("this Idempotency-Key was used for a different request",
                                   errors=[FieldError("Idempotency-Key", "reused with another request")])
        if row.status is None:
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
        headers = dict(row.headers or {})
        headers["Idempotent-Replayed"] = "true"
        media = headers.pop("content-type", None)
        return Response(row.body, status_code=row.status, headers=headers, media_type=media)
    try:
        response = await inner(request)
    except KithError as exc:
        response = problem_response(exc.problem(), exc.headers)
    except BaseException:
        await _forget(db, where)
        raise
    if response.status_code >= 500:
        await _forget(db, where)
        return response
    kept = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
    async with db.connect(write=True) as conn:
        await conn.execute(t.update().where(*where).values(status=response.status_code, headers=kept,
                                                           body=bytes(response.body)))
    return response


async def _claim(db: Any, where: tuple[Any, ...], who: Any, key: str, digest: str, ttl: timedelta) -> Any:
    """The stored row for this key, or ``None`` after inserting our in-progress claim."""
    t = idempotency_keys
    async with db.connect(write=True) as conn:
        row = (await conn.execute(sa.select(t).where(*where))).first()
        if row is not None and row.created_at < clock.now() - ttl:
            await conn.execute(t.delete().where(*where))
            row = None
        if row is None:
            # Two first attempts racing on PostgreSQL: the loser's INSERT fails on the key and
            # it answers 409 like any retry that arrives while the first is running.
            await conn.execute(t.insert(), {
                "org_id": who.org_id, "user_id": who.user_id or "", "key": key, "fingerprint": digest,
                "created_at": clock.now()})
    return row


async def _forget(db: Any, where: tuple[Any, ...]) -> None:
    async with db.connect(write=True) as conn:
        await conn.execute(idempotency_keys.delete().where(*where))
