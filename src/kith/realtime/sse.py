"""Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from typing import Any

import orjson

HEARTBEAT = b": heartbeat\n\n"


def message(event_id: str | None, event: str, data: Any) -> bytes:
    """One SSE message. ``data`` is JSON without newlines (orjson never writes one), so it fits
    on one ``data:`` line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def retry(milliseconds: int) -> bytes:
    """How long a browser's EventSource waits before it reconnects."""
    return f"retry: {milliseconds}\n\n".encode()


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()
