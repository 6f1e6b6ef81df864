"""A real HTTP receiver for webhook tests: a threading ``http.server`` on 127.0.0.1.

``Receiver.script`` is a list of answers consumed one per request (an int status code, or
``("sleep", seconds, status)``); when it is empty every request gets ``default``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int = 0
    default: int = 200
    delay: float = 0.0  # seconds every answer waits (a slow receiver)
    script: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def next_answer(self) -> Any:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def event_ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("kith-event-id", "") for r in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests, got {len(self.received)}")


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request: nothing was delivered
                return
            answer = rx.next_answer()
            with rx.lock:
                rx.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                            body, time.time()))
            if rx.delay:
                time.sleep(rx.delay)
            if isinstance(answer, tuple):
                _, seconds, answer = answer
                time.sleep(seconds)
            headers = {"Location": "http://127.0.0.1:1/elsewhere"} if 300 <= answer < 400 else {}
            try:
                self.send_response(answer)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # the default 5 drops concurrent connects (the worker sends 64 at once)
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that timed out or died resets its connection: expected here


@contextmanager
def serve(**kw: Any) -> Iterator[Receiver]:
    rx = Receiver(**kw)
    server = _Server(("127.0.0.1", 0), _handler(rx))
    rx.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()
