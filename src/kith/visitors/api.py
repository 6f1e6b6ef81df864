"""Widget routes (publishable key, CORS) and the admin visitor route."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kith.auth.access import require
from kith.core.errors import Forbidden, NotFound, RateLimited, Unauthorized
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, WRITE, router
from kith.orgs import service as orgs
from kith.visitors import service
from kith.visitors.schemas import IdentifyIn, IdentifyOut, SetDealIn, SetStageIn, VisitorOut
from kith.visitors.tables import visitors

api = router("widget")
assets = APIRouter()
WIDGET_PREFIX = "/api/v1/widget/"


async def widget_org(
    request: Request,
    x_kith_widget_key: Annotated[str | None, Header(description="The org's publishable widget key (pk_…).")] = None,
) -> dict[str, Any]:
    if not x_kith_widget_key:
        raise Unauthorized("send the org's widget key in X-Kith-Widget-Key")
    if len(x_kith_widget_key) > 64:
        raise Unauthorized("the widget key is not valid")
    org = await orgs.org_by_widget_key(request.app.state.db, x_kith_widget_key)
    origin = request.headers.get("origin")
    allowed = org["settings"].get("widget_origins") or []
    if origin and allowed and origin not in allowed:
        raise Forbidden(f"origin {origin!r} is not among the org's widget_origins")
    wait = request.app.state.widget_limiter.take(x_kith_widget_key)
    if wait is not None:
        raise RateLimited("too many widget calls for this key; slow down",
                          headers={"Retry-After": str(max(1, round(wait + 0.5)))})
    return org


WidgetOrg = Annotated[dict[str, Any], Depends(widget_org)]
WIDGET_ERRORS = {**WRITE, 429: {"description": "Rate limited (Retry-After)"}}


@api.post("/widget/identify", response_model=IdentifyOut, responses=WIDGET_ERRORS)
async def identify(body: IdentifyIn, org: WidgetOrg, request: Request) -> r.JSON:
    """Identify a visitor: reuse its contact, else match by email or user_id, else create one; link
    companies (`company.id` may be your external_id), merge metadata, move the company stage."""
    return r.JSON(await service.identify(request.app.state.db, org["id"], body))


@api.post("/widget/deal", responses=WIDGET_ERRORS)
async def set_deal(body: SetDealIn, org: WidgetOrg, request: Request) -> r.JSON:
    """Set the deal value (and optionally the stage) of the explicit, active or single linked company."""
    return r.record(await service.set_deal(request.app.state.db, org["id"], body))


@api.post("/widget/stage", responses=WIDGET_ERRORS)
async def set_stage(body: SetStageIn, org: WidgetOrg, request: Request) -> r.JSON:
    """Move the target company's stage (`advance_only` by default, or `exact`)."""
    return r.record(await service.set_stage(request.app.state.db, org["id"], body))


@api.get("/visitors/{visitor_id}", response_model=VisitorOut, responses=READ)
async def get_visitor(visitor_id: Annotated[str, Path(max_length=200)], actor: CurrentActor, uow: Uow) -> r.JSON:
    """A visitor by your visitor_id (or Kith's id): properties, linked contact, active company."""
    require(actor, "contact:read")
    cols = [c for c in visitors.c if c.name != "org_id"]
    async with uow.transaction():
        row = (await uow.execute(sa.select(*cols).where(
            visitors.c.org_id == actor.org_id,
            sa.or_(visitors.c.visitor_id == visitor_id, visitors.c.id == visitor_id)).limit(1))).first()
    if row is None:
        raise NotFound(f"visitor {visitor_id!r} does not exist", extra={"id": visitor_id})
    return r.JSON(dict(row._mapping))


_SCRIPT = resources.files("kith.visitors").joinpath("widget.js").read_bytes()


@assets.get("/widget.js", include_in_schema=False)
async def widget_js() -> Response:
    return Response(_SCRIPT, media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


class WidgetCors:
    """CORS for the widget routes: any origin may call them (the key, and the org's
    ``widget_origins`` when set, decide); preflights are answered here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(WIDGET_PREFIX):
            await self.app(scope, receive, send)
            return
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:
            await self.app(scope, receive, send)
            return
        cors = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS":
            headers = [*cors, (b"access-control-allow-methods", b"POST, OPTIONS"),
                       (b"access-control-allow-headers", b"content-type, x-kith-widget-key"),
                       (b"access-control-max-age", b"600"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
