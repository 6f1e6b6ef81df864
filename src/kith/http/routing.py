"""The router factory every slice uses, and the OpenAPI description of problem responses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.routing import BaseRoute

from kith.http.deps import storable_parameters
from kith.http.idempotency import IdempotentRoute

PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {400: "Malformed request", 401: "Missing, invalid or revoked API key",
                    403: "Your role does not allow this", 404: "Absent, or not visible to you",
                    409: "Conflict or illegal transition", 412: "If-Match is stale",
                    413: "Body over KITH_MAX_BODY_BYTES", 422: "Invalid input or rule failed",
                    429: "Rate limited"}
    return {s: {"description": descriptions[s], **PROBLEM} for s in statuses}


READ = problems(400, 401, 403, 404, 422)
WRITE = problems(400, 401, 403, 404, 409, 412, 413, 422)


def router(tag: str) -> APIRouter:
    return APIRouter(prefix="/api/v1", tags=[tag], route_class=IdempotentRoute,
                     dependencies=[Depends(storable_parameters)])


# Each router's entries in an app's route list, made by the first app that included it. FastAPI
# builds an included router's routes (dependency analysis of every endpoint) lazily, once per
# include, at the first request: ~0.25 s for Kith's routes. Apps made later in the same process
# (the test suite makes one per test) reuse the entries, and with them that work.
_INCLUDED: dict[int, list[BaseRoute]] = {}


def include(app: FastAPI, api: APIRouter) -> None:
    """``app.include_router(api)``, sharing the route entries with earlier apps of this process."""
    shared = _INCLUDED.get(id(api))
    if shared is None:
        before = len(app.router.routes)
        app.include_router(api)
        _INCLUDED[id(api)] = list(app.router.routes[before:])
        return
    app.router.routes.extend(shared)
    mark_changed = getattr(app.router, "_mark_routes_changed", None)
    if mark_changed is not None:
        mark_changed()
