"""Fast JSON responses (orjson) and the record ETag."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def _default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    raise TypeError(f"cannot serialise {type(v).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def etag(version: int) -> str:
    return f'"v{version}"'


def record(data: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> JSON:
    h = {"ETag": etag(data["version"])} if "version" in data else {}
    h.update(headers or {})
    return JSON(data, status_code=status, headers=h)


def problem_response(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=body["status"], headers=dict(headers or {}),
                    media_type="application/problem+json")
