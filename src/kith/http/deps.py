"""FastAPI dependencies shared by every router: the database, the caller, list parameters,
``If-Match`` and ``include``."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from kith.auth.keys import WIDGET_PREFIX
from kith.auth.model import Actor
from kith.config import Settings
from kith.core.db import Database
from kith.core.errors import BadRequest, FieldError, Forbidden, Unauthorized, ValidationFailed
from kith.core.listing import DEFAULT_LIMIT, MAX_LIMIT, ListQuery
from kith.core.uow import UnitOfWork
from kith.orgs import service as orgs


async def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


async def uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.db)


_BEARER = {"WWW-Authenticate": 'Bearer realm="kith"'}
SESSION_COOKIE = "kith_session"  # kith.web.sessions.COOKIE


async def actor(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Actor:
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if authorization is None and request.cookies.get(SESSION_COOKIE):
        return await _session_actor(request, request.cookies[SESSION_COOKIE])
    if authorization is None:
        if request.headers.get("x-kith-widget-key"):
            raise Unauthorized("a widget key may only call the widget endpoints", headers=_BEARER)
        raise Unauthorized("send an API key: Authorization: Bearer <key>", headers=_BEARER)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be `Bearer <key>`", headers=_BEARER)
    if token.startswith(WIDGET_PREFIX):
        raise Unauthorized("a widget key may only call the widget endpoints", headers=_BEARER)
    if len(token) > 200:
        raise Unauthorized("the API key is not valid", headers=_BEARER)
    try:
        who = await orgs.authenticate(request.app.state.db, token)
    except Unauthorized as exc:
        exc.headers.update(_BEARER)
        raise
    request.state.actor = who
    return who


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _session_actor(request: Request, token: str) -> Actor:
    """The web app's cookie session (kith.web.sessions): the same actor an API key would give, and
    for unsafe methods the session's CSRF token in ``X-CSRF-Token`` (a cookie alone is not consent)."""
    from kith.web import sessions  # the web slice imports this module: import late

    who = await sessions.session_actor(request.app.state.db, token)
    if request.method not in _SAFE_METHODS and not sessions.csrf_ok(
            who.csrf_token, request.headers.get(sessions.CSRF_HEADER)):
        raise Forbidden("a request authenticated by the session cookie must send the X-CSRF-Token header",
                        extra={"permission": "csrf"})
    request.state.actor = who.actor
    request.state.web_session = who
    return who.actor


CurrentActor = Annotated[Actor, Depends(actor)]


def _unstorable(text: str) -> bool:
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


async def storable_parameters(request: Request) -> None:
    """No backend can compare against U+0000 or a lone surrogate (PostgreSQL refuses them in text),
    so path and query parameters holding one are refused here, once for every route."""
    bad = [FieldError(name, "may not contain NUL (U+0000) or lone surrogates")
           for name, value in [*request.path_params.items(), *request.query_params.multi_items()]
           if isinstance(value, str) and (_unstorable(value) or _unstorable(name))]
    if bad:
        raise ValidationFailed("a parameter holds characters that cannot be stored or compared", errors=bad)
Uow = Annotated[UnitOfWork, Depends(uow)]

RESERVED = frozenset({"limit", "cursor", "sort", "q", "include"})


async def list_query(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1–500).")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
    sort: Annotated[str | None, Query(max_length=64, description=(
        "A field, `-field` for descending. Default `-created_at`; with `q`, `relevance`."))] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="Text search.")] = None,
) -> ListQuery:
    filters: dict[str, str] = {}
    dupes: list[FieldError] = []
    for name, value in request.query_params.multi_items():
        if name in RESERVED:
            continue
        if name in filters:
            dupes.append(FieldError(name, "give this filter once"))
        filters[name] = value
    if dupes:
        raise ValidationFailed("invalid list parameters", errors=dupes)
    sort = sort if sort is not None else ("relevance" if q is not None else "-created_at")
    return ListQuery(limit=limit, cursor=cursor, sort=sort, filters=filters, q=q)


Listing = Annotated[ListQuery, Depends(list_query)]

_ETAG = re.compile(r'^(?:W/)?"v(\d{1,9})"$')


async def if_match(
    if_match: Annotated[str | None, Header(description='The ETag you read, e.g. `"v3"`; 412 when stale.')] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    m = _ETAG.match(if_match.strip())
    if m is None:
        raise BadRequest('If-Match must be an ETag this API gave you, like "v3"',
                         errors=[FieldError("If-Match", "malformed ETag")])
    return int(m.group(1))


IfMatch = Annotated[int | None, Depends(if_match)]


def includes(raw: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if not raw:
        return ()
    wanted = tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    unknown = [w for w in wanted if w not in allowed]
    if unknown:
        raise ValidationFailed(f"cannot include {unknown}",
                               errors=[FieldError("include", f"include any of {list(allowed)}")])
    return wanted
