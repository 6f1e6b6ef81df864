"""Every error leaves the API as RFC 9457 problem+json, mapped here and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from kith.core.errors import BadRequest, FieldError, KithError, ValidationFailed
from kith.http.responses import problem_response

log = logging.getLogger("kith.http")

_TITLES = {400: "Malformed request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 412: "Precondition failed",
           413: "Payload too large", 415: "Unsupported media type", 422: "Invalid input",
           429: "Too many requests"}
_CODES = {404: "not-found", 405: "method-not-allowed", 406: "not-acceptable", 415: "unsupported-media-type"}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> KithError:
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return BadRequest("the request body is not valid JSON",
                          errors=[FieldError("body", str(e.get("msg"))) for e in errs
                                  if e.get("type") == "json_invalid"])
    fields = [FieldError(_field(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in errs]
    names = ", ".join(dict.fromkeys(f.field for f in fields))
    return ValidationFailed(f"invalid input: {names}", errors=fields)


async def kith_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KithError)
    return problem_response(exc.problem(), exc.headers)


async def validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    err = from_validation(exc)
    return problem_response(err.problem())


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODES.get(status, "http-error")
    body = {"type": f"https://kith.dev/problems/{code}", "title": _TITLES.get(status, "Error"),
            "status": status, "detail": str(exc.detail)}
    if status == 400:
        # Starlette raises a bare 400 when the body cannot be decoded at all: the body is at fault.
        body["errors"] = [{"field": "body", "message": str(exc.detail)}]
    return problem_response(body, exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = {"type": "https://kith.dev/problems/internal-error", "title": "Internal error", "status": 500,
            "detail": "the server failed to handle the request; it has been logged"}
    return problem_response(body)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KithError, kith_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
