"""A lean HTTP/1.1 client for webhook POSTs: asyncio streams, h11 for the framing, and one small
keep-alive pool per origin.

Why not httpx here: a profile of one worker draining 4,000 deliveries spent ~70% of its CPU in
httpcore's pool bookkeeping (every queued request scans every connection); this module does the
same job for one request shape in O(1) per request (docs/webhooks.md, "Throughput").

Invariants:
- A connection goes to the address the caller checked, never to a second DNS answer; the peer
  address is compared with it once connected (``ConnectError`` otherwise). Pools are keyed by
  (scheme, host, port, address), so a connection is only reused for the same checked address.
- https verifies the certificate against the URL's host name (sent as SNI) with the given context.
- Redirects are never followed: a 3xx is returned like any other status.
- At most ``max_body`` bytes of an answer are read; a longer answer is cut off and its connection
  closed (never read whole into memory, never reused).
- A request is sent again (once, on a fresh connection) only when a *reused* connection failed
  before any byte of the answer came back (the server closed it while idle). Re-sending a webhook
  POST is safe: deliveries are at-least-once and carry their ids.
- A connection that failed, timed out, was cancelled or whose exchange did not end cleanly is
  closed, never pooled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from dataclasses import dataclass
from typing import NamedTuple

import h11

# Seconds an idle keep-alive connection is kept (servers commonly drop theirs after 5–75 s; a
# shorter wait than theirs avoids most sends on a connection the server is closing).
KEEPALIVE_EXPIRY = 4.0
# Bytes asked of the socket per read: one read holds a typical answer whole.
READ_SIZE = 64 * 1024
# Origins kept before idle ones are pruned (a worker serving many receivers keeps memory bounded).
MAX_ORIGINS = 512


class SendError(Exception):
    """The request did not get a complete answer; the class name is logged with the message."""


class ConnectError(SendError):
    pass


class ReadError(SendError):
    pass


class ProtocolError(SendError):
    pass


class _Stale(Exception):
    """A reused connection failed before any byte of the answer: send again on a fresh one."""


class Key(NamedTuple):
    scheme: str
    host: str  # the URL's host: Host header, SNI, certificate check
    port: int
    address: str  # the checked address actually dialled


class Answer(NamedTuple):
    status: int
    body: bytes  # the first ``max_body`` bytes at most


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return False


class _Conn:
    __slots__ = ("reader", "writer", "h", "idle_since", "answered")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = 0.0
        self.answered = False  # some byte of the current answer came back

    def usable(self, now: float) -> bool:
        return (now - self.idle_since < KEEPALIVE_EXPIRY and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, head: h11.Request, body: bytes, max_body: int) -> tuple[Answer, bool]:
        """Send one request, read its answer; the answer and whether the connection may be reused."""
        h = self.h
        self.answered = False
        self.writer.write(b"".join(h.send(e) or b"" for e in (head, h11.Data(data=body), h11.EndOfMessage())))
        await self.writer.drain()
        status, size, chunks = 0, 0, list[bytes]()
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(READ_SIZE)
                self.answered = self.answered or bool(data)
                h.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(event.data[:max_body - size])
                size += len(event.data)
                if size > max_body:  # cut off: the rest is never read, the connection not reused
                    return Answer(status, b"".join(chunks)), False
            elif isinstance(event, h11.EndOfMessage):
                reusable = h.our_state is h11.DONE and h.their_state is h11.DONE
                if reusable:
                    h.start_next_cycle()
                return Answer(status, b"".join(chunks)), reusable
            elif isinstance(event, h11.ConnectionClosed):
                raise ProtocolError("the server closed the connection without a complete answer")
            # h11.InformationalResponse (1xx): wait for the final answer


@dataclass(eq=False)
class _Origin:
    gate: asyncio.Semaphore
    idle: list[_Conn]
    busy: int = 0


class Sender:
    """POSTs over pooled keep-alive connections; one per worker, closed with ``aclose``."""

    def __init__(self, *, tls: ssl.SSLContext, per_origin: int, timeout: float, connect_timeout: float,
                 max_body: int, user_agent: bytes = b"Kith-Webhooks/1") -> None:
        self.tls, self.per_origin, self.connect_timeout = tls, per_origin, connect_timeout
        self.timeout = timeout
        self.max_body, self.user_agent = max_body, user_agent
        self._origins: dict[Key, _Origin] = {}

    async def post(self, key: Key, target: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Answer:
        """POST ``body`` to ``target`` (path and query) at ``key``. ``TimeoutError`` when the exchange
        (connect, send, answer) takes longer than ``timeout``, counted from when a slot is free."""
        origin = self._origin(key)
        head = h11.Request(method=b"POST", target=target.encode("ascii"), headers=[
            (b"Host", _host_header(key)), (b"User-Agent", self.user_agent),
            (b"Content-Length", str(len(body)).encode()), *headers])
        origin.busy += 1
        try:
            async with origin.gate, asyncio.timeout(self.timeout):
                conn = self._take_idle(origin)
                if conn is not None:
                    try:
                        return await self._exchange(origin, conn, head, body, reused=True)
                    except _Stale:
                        pass
                conn = await self._connect(key)
                return await self._exchange(origin, conn, head, body, reused=False)
        finally:
            origin.busy -= 1

    async def aclose(self) -> None:
        for origin in self._origins.values():
            for conn in origin.idle:
                conn.close()
        self._origins.clear()

    def _origin(self, key: Key) -> _Origin:
        origin = self._origins.get(key)
        if origin is None:
            if len(self._origins) >= MAX_ORIGINS:
                self._prune()
            origin = self._origins[key] = _Origin(asyncio.Semaphore(self.per_origin), [])
        return origin

    def _prune(self) -> None:
        now = time.monotonic()
        for key, origin in list(self._origins.items()):
            keep = [c for c in origin.idle if c.usable(now)]
            for conn in origin.idle:
                if conn not in keep:
                    conn.close()
            origin.idle = keep
            if not keep and not origin.busy:
                del self._origins[key]

    @staticmethod
    def _take_idle(origin: _Origin) -> _Conn | None:
        now = time.monotonic()
        while origin.idle:
            conn = origin.idle.pop()  # LIFO: the warmest connection, the others may expire
            if conn.usable(now):
                return conn
            conn.close()
        return None

    async def _connect(self, key: Key) -> _Conn:
        tls = self.tls if key.scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    key.address, key.port, ssl=tls, server_hostname=key.host if tls else None,
                    limit=READ_SIZE)
        except TimeoutError:
            raise ConnectError(f"connecting to {key.address}:{key.port} timed out after "
                               f"{self.connect_timeout:g} s") from None
        except OSError as exc:
            raise ConnectError(f"{key.address}:{key.port}: {exc}") from None
        peer = writer.get_extra_info("peername")
        if not peer or not _same_address(str(peer[0]), key.address):
            writer.close()
            raise ConnectError(f"connected to {peer and peer[0]}, not the checked address {key.address}")
        return _Conn(reader, writer)

    async def _exchange(self, origin: _Origin, conn: _Conn, head: h11.Request, body: bytes, *,
                        reused: bool) -> Answer:
        try:
            answer, reusable = await conn.exchange(head, body, self.max_body)
        except (OSError, h11.ProtocolError, SendError) as exc:
            conn.close()
            if reused and not conn.answered:
                raise _Stale from exc
            if isinstance(exc, SendError):
                raise
            if isinstance(exc, h11.ProtocolError):
                if conn.reader.at_eof():
                    raise ProtocolError("the server closed the connection without a complete answer") from None
                raise ProtocolError(str(exc) or exc.__class__.__name__) from None
            raise ReadError(f"{exc.__class__.__name__}: {exc}") from None
        except BaseException:  # cancelled (the caller's timeout): the exchange is half done
            conn.close()
            raise
        if reusable:
            conn.idle_since = time.monotonic()
            origin.idle.append(conn)
        else:
            conn.close()
        return answer


def _host_header(key: Key) -> bytes:
    host = f"[{key.host}]" if ":" in key.host else key.host
    default = 443 if key.scheme == "https" else 80
    netloc = host if key.port == default else f"{host}:{key.port}"
    return netloc.encode("ascii") if netloc.isascii() else netloc.encode("idna")
