"""Pure ASGI middleware: the body size limit (413) and Prometheus request metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kith.core.errors import PayloadTooLarge
from kith.http.responses import problem_response

REQUESTS = Counter("kith_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("kith_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before the app reads them.

    The body is read here (counting) and replayed to the app, so a chunked upload that grows past
    the limit is refused as surely as one with a large Content-Length.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # POST paths whose bodies (file uploads) pass through unbuffered, each with its own limit.
        self.streamed = dict(streamed or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        limit = self.streamed.get(scope["path"]) if scope["method"] == "POST" else None
        if limit is not None:
            await self._stream(scope, receive, send, limit)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Pass the body through as it comes, counting: over ``limit`` the app's next read raises
        PayloadTooLarge and the client gets a 413 problem (nothing is written: an upload is stored
        only once whole)."""
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        size = 0
        over = False

        async def counted() -> Message:
            nonlocal size, over
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                over = True
                raise _too_large(limit)
            return message

        async def answer(message: Message) -> None:
            # The framework turns any error while parsing a form into its own 400: once the body
            # went over the limit, the client gets the 413 instead of whatever the app answers.
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(scope, receive, send, limit)

        await self.app(scope, counted, answer)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int | None = None) -> None:
        err = _too_large(self.max_bytes if limit is None else limit)
        await problem_response(err.problem(), {"Connection": "close"})(scope, receive, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes", extra={"max_bytes": limit})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, path, str(status)).inc()
            LATENCY.labels(method, path).observe(time.perf_counter() - start)
