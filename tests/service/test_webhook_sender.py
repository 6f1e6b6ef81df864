"""The webhook sender against real local HTTP servers (asyncio's own, scripted per test): keep-alive
reuse, a connection the server dropped while idle, chunked answers, timeouts, redirects not followed,
huge answers cut off, TLS verification with SNI. No database: these run once, not per backend."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kith.webhooks.sender import Answer, ConnectError, Key, ProtocolError, Sender

Handler = Callable[["Conn"], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Conn:
    """One accepted connection, as the scripted handler sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: Server

    async def request(self) -> bytes | None:
        """The next request (head + body) on this connection; ``None`` when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await self.reader.readexactly(length)
        self.server.requests.append(head + body)
        return head + body

    async def answer(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()


@dataclass
class Server:
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


@asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    state = Server()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await handler(Conn(reader, writer, state))
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            state.errors.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def keep_alive(conn: Conn) -> None:
    while await conn.request() is not None:
        await conn.answer(OK)


@asynccontextmanager
async def sender(**over: object) -> AsyncIterator[Sender]:
    kw: dict[str, object] = {"tls": ssl.create_default_context(), "per_origin": 4, "timeout": 5.0,
                             "connect_timeout": 2.0, "max_body": 1024}
    s = Sender(**{**kw, **over})  # type: ignore[arg-type]
    try:
        yield s
    finally:
        await s.aclose()
        await asyncio.sleep(0)  # let the closed transports finish before the loop ends


def key(server: Server, host: str = "127.0.0.1", scheme: str = "http") -> Key:
    return Key(scheme, host, server.port, "127.0.0.1")


async def post(s: Sender, server: Server, body: bytes = b'{"id": "evt_1"}', **kw: str) -> Answer:
    return await s.post(key(server, **kw), "/hook?x=1", [(b"Content-Type", b"application/json")], body)


async def test_requests_reuse_one_keep_alive_connection() -> None:
    async with serve(keep_alive) as srv, sender() as s:
        answers = [await post(s, srv, f'{{"n": {i}}}'.encode()) for i in range(5)]
    assert answers == [Answer(200, b"ok")] * 5
    assert srv.connections == 1 and len(srv.requests) == 5
    first = srv.requests[0]
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{srv.port}\r\n".encode() in first.lower()
    assert first.endswith(b'{"n": 0}') and b"content-length: 8\r\n" in first.lower()


async def test_concurrent_requests_to_one_origin_use_at_most_per_origin_connections() -> None:
    async def slow(conn: Conn) -> None:
        while await conn.request() is not None:
            await asyncio.sleep(0.05)
            await conn.answer(OK)

    async with serve(slow) as srv, sender(per_origin=3) as s:
        answers = await asyncio.gather(*(post(s, srv) for _ in range(12)))
    assert {a.status for a in answers} == {200}
    assert srv.connections == 3 and len(srv.requests) == 12


async def test_a_connection_dropped_while_idle_is_retried_once_on_a_fresh_one() -> None:
    async def drops_the_second_request(conn: Conn) -> None:
        if srv.connections == 1:
            await conn.request()
            await conn.answer(OK)
            await conn.request()  # read it, then close without a byte of answer (an idle-close race)
            return
        await keep_alive(conn)

    async with serve(drops_the_second_request) as srv, sender() as s:
        assert (await post(s, srv)).status == 200
        assert (await post(s, srv, b'{"id": "evt_2"}')).status == 200
    assert srv.connections == 2
    assert [r.endswith(b'"evt_2"}') for r in srv.requests] == [False, True, True]  # sent again, once


async def test_a_fresh_connection_closed_without_an_answer_is_not_retried() -> None:
    async def hangs_up(conn: Conn) -> None:
        await conn.request()

    async with serve(hangs_up) as srv, sender() as s:
        with pytest.raises(ProtocolError, match="closed the connection"):
            await post(s, srv)
    assert srv.connections == 1 and len(srv.requests) == 1


async def test_an_answer_cut_off_midway_on_a_reused_connection_is_not_retried() -> None:
    async def half_answers_the_second(conn: Conn) -> None:
        await conn.request()
        await conn.answer(OK)
        await conn.request()
        await conn.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    async with serve(half_answers_the_second) as srv, sender() as s:
        await post(s, srv)
        with pytest.raises(ProtocolError):
            await post(s, srv)
    assert srv.connections == 1 and len(srv.requests) == 2


async def test_a_chunked_answer_is_read_and_the_connection_kept() -> None:
    async def chunked(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.answer(b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await asyncio.sleep(0.01)
            await conn.answer(b"6\r\n world\r\n0\r\n\r\n")

    async with serve(chunked) as srv, sender() as s:
        assert await post(s, srv) == Answer(202, b"hello world")
        assert await post(s, srv) == Answer(202, b"hello world")
    assert srv.connections == 1


async def test_connection_close_from_the_server_is_honoured() -> None:
    async def closes(conn: Conn) -> None:
        await conn.request()
        await conn.answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    async with serve(closes) as srv, sender() as s:
        assert [(await post(s, srv)).status for _ in range(3)] == [200] * 3
    assert srv.connections == 3


async def test_a_slow_server_hits_the_timeout_and_its_connection_is_not_reused() -> None:
    async def slow_first(conn: Conn) -> None:
        first = srv.connections == 1
        while await conn.request() is not None:
            await asyncio.sleep(1.0 if first else 0)
            await conn.answer(OK)

    async with serve(slow_first) as srv, sender(timeout=0.2) as s:
        with pytest.raises(TimeoutError):
            await post(s, srv)
        assert (await post(s, srv)).status == 200
    assert srv.connections == 2


async def test_a_redirect_is_returned_not_followed() -> None:
    async def redirects(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.answer(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n")

    async with serve(redirects) as srv, sender() as s:
        assert (await post(s, srv)).status == 302
    assert len(srv.requests) == 1


async def test_a_huge_answer_is_cut_off_without_being_read_whole() -> None:
    size, sent = 200 * 1024 * 1024, [0]

    async def floods(conn: Conn) -> None:
        await conn.request()
        await conn.answer(f"HTTP/1.1 500 Oops\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b"x" * 65536
        while sent[0] < size:
            await conn.answer(chunk)
            sent[0] += len(chunk)

    async with serve(floods) as srv, sender(max_body=1000) as s:
        answer = await post(s, srv)
        assert answer == Answer(500, b"x" * 1000)
        await asyncio.sleep(0.1)
    assert sent[0] < size // 10  # the sender hung up long before the end
    assert srv.errors  # the server saw the connection reset


async def test_an_unreachable_port_is_a_connect_error() -> None:
    async with serve(keep_alive) as srv:
        port = srv.port
    async with sender() as s:
        with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
            await s.post(Key("http", "127.0.0.1", port, "127.0.0.1"), "/", [], b"{}")


# --- TLS -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, private = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=hooks.kith.test", "-addext",
                    "subjectAltName=DNS:hooks.kith.test", "-keyout", str(private), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, private


def server_tls(certificate: tuple[Path, Path], srv_sni: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    ctx.sni_callback = lambda sock, name, c: srv_sni.append(name)
    return ctx


async def test_https_to_a_self_signed_server_is_refused(certificate: tuple[Path, Path]) -> None:
    sni: list[str | None] = []
    async with serve(keep_alive, tls=server_tls(certificate, sni)) as srv, sender() as s:
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await post(s, srv, host="hooks.kith.test", scheme="https")
    assert srv.requests == []


async def test_https_verifies_the_url_host_and_sends_it_as_sni(certificate: tuple[Path, Path]) -> None:
    sni: list[str | None] = []
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    async with serve(keep_alive, tls=server_tls(certificate, sni)) as srv, sender(tls=trusting) as s:
        assert (await post(s, srv, host="hooks.kith.test", scheme="https")).status == 200
        assert (await post(s, srv, host="hooks.kith.test", scheme="https")).status == 200
        with pytest.raises(ConnectError, match="hostname|match"):  # the certificate is not for this name
            await post(s, srv, host="other.kith.test", scheme="https")
    assert sni == ["hooks.kith.test", "other.kith.test"]  # one kept-alive connection, one refused
    assert srv.connections == 1 and len(srv.requests) == 2
    assert b"host: hooks.kith.test:" in srv.requests[0].lower()
