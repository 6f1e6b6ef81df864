"""The error tree. Every failure a caller can cause is one of these, mapped to HTTP/CLI/MCP in one place.

``code`` is stable: it ends the problem ``type`` URI and is what clients match on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class KithError(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://kith.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class BadRequest(KithError):
    status, code, title = 400, "bad-request", "Malformed request"


class Unauthorized(KithError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(KithError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(KithError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(KithError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    code, title = "invalid-transition", "Invalid state transition"


class PreconditionFailed(KithError):
    status, code, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(KithError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(KithError):
    status, code, title = 422, "validation-failed", "Invalid input"


class RuleViolation(KithError):
    """A business rule refused the verb; ``rule`` is the rule's stable id."""

    status, code, title = 422, "rule-violation", "Business rule violated"

    def __init__(self, rule: str, detail: str, **kw: Any) -> None:
        extra = dict(kw.pop("extra", None) or {})
        extra["rule"] = rule
        super().__init__(detail, extra=extra, **kw)
        self.rule = rule


class RateLimited(KithError):
    status, code, title = 429, "rate-limited", "Too many requests"


def not_found(kind: str, record_id: str) -> NotFound:
    return NotFound(f"{kind} {record_id!r} does not exist", extra={"id": record_id})


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[FieldError(field, message)])
