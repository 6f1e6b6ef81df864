"""The router factory every slice uses, and the OpenAPI description of problem responses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

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
