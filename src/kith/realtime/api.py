"""``GET /api/v1/realtime``: the realtime channels of seed 004 §9 as Server-Sent Events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from kith.config import Settings
from kith.http.deps import CurrentActor, Uow
from kith.http.routing import READ, router
from kith.realtime import sse
from kith.realtime.broker import Broker, Subscription
from kith.realtime.service import Opened, open_stream

api = router("realtime")

# How long a browser's EventSource waits before reconnecting after the stream ends.
RECONNECT_MS = 1000

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A `text/event-stream`: each event as `id: <event id>`, `event: <type>`, "
                       "`data: {id, type, created_at, channel, data}`; `: heartbeat` comments every "
                       "~15 s; `event: reset` when a resume missed too much to replay.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}


def broker_of(app: FastAPI) -> Broker:
    """The app's broker, made at its first use (one per app, so one per process under `kith serve`)."""
    broker: Broker | None = getattr(app.state, "realtime", None)
    if broker is None:
        settings: Settings = app.state.settings
        broker = Broker(app.state.db, poll_seconds=settings.realtime_poll_seconds,
                        window=timedelta(seconds=settings.outbox_window_seconds))
        app.state.realtime = broker
    return broker


async def close_broker(app: FastAPI) -> None:
    """App shutdown: end every stream and stop the tailer."""
    broker: Broker | None = getattr(app.state, "realtime", None)
    if broker is not None:
        await broker.close()


class EventStream(StreamingResponse):
    """A streaming response that always runs ``on_close`` (also when the body never starts)."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


async def _events(opened: Opened, heartbeat: float, lifetime: float) -> AsyncIterator[bytes]:
    sub: Subscription = opened.subscription
    yield sse.retry(RECONNECT_MS) + sse.comment("connected")
    if opened.reset:
        yield sse.message(None, "reset", {"reason": "more events were missed than a resume replays; "
                                                    "reload the state you show"})
    for replayed in opened.replay:
        yield replayed.text
    deadline = time.monotonic() + lifetime
    while not sub.overflowed:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        message = await sub.next(min(heartbeat, left))
        if message is None:
            if not sub.overflowed:
                yield sse.HEARTBEAT
        elif message.id not in sub.skip:
            yield message.text


@api.get("/realtime", summary="Subscribe to realtime channels (Server-Sent Events)",
         responses={**_STREAM_DOC, **READ}, response_class=StreamingResponse)
async def realtime(
    request: Request,
    actor: CurrentActor,
    uow: Uow,
    channel: Annotated[list[str] | None, Query(description=(
        "A channel, repeatable: `org:{orgId}:crm:pipeline`, `org:{orgId}:crm:rep:{userId}`, "
        "`org:{orgId}:crm:support`."))] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", description=(
        "Resume: the id of the last event received; what was missed is sent first."))] = None,
    last_event_id_query: Annotated[str | None, Query(alias="last_event_id", max_length=64, description=(
        "Same as the Last-Event-ID header, for clients that cannot set headers."))] = None,
) -> Any:
    """Events of the channels, each only if you may read the record it concerns (docs/realtime.md).
    The stream ends after `KITH_REALTIME_MAX_STREAM` seconds; reconnect with `Last-Event-ID`."""
    settings: Settings = request.app.state.settings
    broker = broker_of(request.app)
    opened = await open_stream(uow, broker, actor, channel or [], last_event_id or last_event_id_query,
                               replay_limit=settings.realtime_replay_limit)
    sub = opened.subscription
    body = _events(opened, settings.realtime_heartbeat_seconds, settings.realtime_max_stream_seconds)
    return EventStream(body, lambda: broker.unsubscribe(sub))
