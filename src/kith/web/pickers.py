"""Pick-lists for forms that choose a contact, a company or a user, at any org size.

A form field is an ``<input list>`` with a ``<datalist>`` (macro ``picker`` in ``_picker.html``):
the page fills the datalist with the first ``FIRST`` choices, so it works without scripts (or
type/paste an id), and ``pick.js`` refills it as the user types from ``GET /pick/{kind}?q=``
(session auth; JSON ``{"data": [{"id", "label"}]}``, at most ``LIMIT``). Contacts and companies come
from the same list services as the API (full-text search, the caller's visibility); users from a
bounded query of the org's active users (``user:read``), never the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from starlette.responses import JSONResponse, Response

from kith.auth.access import require
from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.companies import service as companies
from kith.contacts import service as contacts
from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.listing import ListQuery
from kith.core.uow import UnitOfWork
from kith.orgs.tables import users
from kith.web.render import Web, web_router

router = web_router()
LIMIT = 20  # choices per keystroke: a screenful
FIRST = 20  # choices rendered with the page (no-script fallback)
MAX_Q = 100


def _label(*parts: Any) -> str:
    return " · ".join(str(p) for p in parts if p)


async def contact_choices(uow: UnitOfWork, actor: Actor, q: str | None, limit: int = LIMIT) -> list[dict[str, str]]:
    page = await contacts.list_contacts(uow, actor, ListQuery(limit=limit, q=q, sort="name"))
    return [{"id": c["id"], "label": _label(c["name"], c.get("email"))} for c in page.data]


async def company_choices(uow: UnitOfWork, actor: Actor, q: str | None, limit: int = LIMIT) -> list[dict[str, str]]:
    page = await companies.list_companies(uow, actor, ListQuery(limit=limit, q=q, sort="name"))
    return [{"id": c["id"], "label": _label(c["name"], c.get("domain"))} for c in page.data]


async def user_choices(uow: UnitOfWork, actor: Actor, q: str | None, limit: int = LIMIT) -> list[dict[str, str]]:
    """Active users of the actor's org whose name or email starts with ``q`` (a word of the name too)."""
    require(actor, "user:read")
    u = users.c
    stmt = sa.select(u.id, u.name, u.email).where(u.org_id == actor.org_id, u.is_active.is_(True))
    if q:
        like = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(sa.or_(sa.func.lower(u.name).like(f"{like}%", escape="\\"),
                                 sa.func.lower(u.name).like(f"% {like}%", escape="\\"),
                                 u.email.like(f"{like}%", escape="\\")))
    async with uow.transaction():
        rows = (await uow.execute(stmt.order_by(u.name, u.id).limit(limit))).all()
    return [{"id": r.id, "label": _label(r.name, r.email)} for r in rows]


async def user_names(uow: UnitOfWork, actor: Actor, ids: Iterable[str | None]) -> dict[str, str]:
    """Names of the given users of the actor's org (for display); empty without ``user:read``."""
    wanted = sorted({i for i in ids if i})
    if not wanted or grant(actor.roles, "user:read") is Grant.NONE:
        return {}
    stmt = sa.select(users.c.id, users.c.name).where(users.c.org_id == actor.org_id, users.c.id.in_(wanted))
    async with uow.transaction():
        return {r.id: r.name for r in await uow.execute(stmt)}


CHOICES = {"contacts": contact_choices, "companies": company_choices, "users": user_choices}


@router.get("/pick/{kind}")
async def pick(request: Request, who: Web, kind: str) -> Response:
    choose = CHOICES.get(kind)
    if choose is None:
        raise NotFound(f"nothing to pick called {kind!r}")
    q = (request.query_params.get("q") or "").strip() or None
    if q is not None and len(q) > MAX_Q:
        raise ValidationFailed(f"q is longer than {MAX_Q} characters", errors=[FieldError("q", "too long")])
    data = await choose(UnitOfWork(request.app.state.db), who.actor, q)
    return JSONResponse({"data": data}, headers={"Cache-Control": "no-store"})
