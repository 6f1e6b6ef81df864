"""Concurrent HTTP load: `wrk` with a Lua script when installed, else a small asyncio client.

Both send the same requests: POST bodies from a template with a unique email (and visitor_id) per
request, POSTs cycling through fixed bodies, or GETs cycling through a list of paths. Both
answer a ``LoadResult`` (req/s, latency percentiles, errors).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int  # non-2xx answers + socket errors
    cpu_ms: float = float("nan")  # server CPU per request, filled in by the caller when it can

    def brief(self) -> str:
        lat = f", p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms" if self.p50_ms is not None else ""
        err = f", {self.errors} errors" if self.errors else ""
        cpu = f", server CPU {self.cpu_ms:.2f} ms/req" if self.cpu_ms == self.cpu_ms else ""
        return f"{self.rps:,.0f} req/s ({self.requests} in {self.seconds:.1f}s{lat}{cpu}{err})"


@dataclass(frozen=True)
class LoadOpts:
    connections: int
    threads: int  # wrk threads
    use_wrk: bool


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def body_template(run_tag: str) -> str:
    """A JSON body with ``%(n)s`` (counter), ``%(t)s`` (thread/connection) and ``%(r)s`` (random)
    holes: Python and Lua fill them the same way."""
    return ('{"name":"Bench %(n)s","first_name":"Bench","last_name":"User %(n)s",'
            '"email":"' + run_tag + '-%(t)s-%(n)s-%(r)s@example.com","stage":"qualified","source":"bench"}')


def identify_template(run_tag: str) -> str:
    """A widget identify body: a fresh visitor_id and a fresh email on every request (a new visitor)."""
    return ('{"visitor_id":"v-' + run_tag + '-%(t)s-%(n)s-%(r)s","email":"' + run_tag
            + '-%(t)s-%(n)s-%(r)s@example.com","name":"Visitor %(n)s"}')


_HOLE = re.compile(r"%\((n|t|r)\)s")


def _lua_string(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for ASCII text


def _lua_headers(headers: dict[str, str]) -> str:
    return "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())


def _post_script(path: str, headers: dict[str, str], template: str) -> str:
    if "%" in _HOLE.sub("", template):
        raise ValueError(f"a body template holds no % but its holes: {template!r}")
    lua_args = {"n": "counter", "t": "(tid or 0)", "r": "rnd"}
    args = ", ".join(lua_args[h] for h in _HOLE.findall(template))
    return f"""
wrk.method = "POST"
{_lua_headers(headers)}
local counter = 0
local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end
request = function()
  counter = counter + 1
  local rnd = math.random(1, 1000000000)
  local body = string.format({_lua_string(_HOLE.sub("%d", template))}, {args})
  return wrk.format("POST", {_lua_string(path)}, nil, body)
end
"""


def _cycle_script(path: str, headers: dict[str, str], bodies: list[str]) -> str:
    items = ",\n".join(_lua_string(b) for b in bodies)
    return f"""
wrk.method = "POST"
{_lua_headers(headers)}
local bodies = {{
{items}
}}
local i = 0
function init(args)
  i = math.random(0, #bodies)
end
request = function()
  i = i + 1
  return wrk.format("POST", {_lua_string(path)}, nil, bodies[(i % #bodies) + 1])
end
"""


def _get_script(paths: list[str], headers: dict[str, str]) -> str:
    hdrs = _lua_headers(headers)
    items = ",\n".join(_lua_string(p) for p in paths)
    return f"""
{hdrs}
local paths = {{
{items}
}}
local i = 0
function init(args)
  i = math.random(0, #paths)
end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if m is None:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _parse_wrk(out: str) -> LoadResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m is None:
        raise ValueError(f"unparsed wrk output:\n{out}")
    requests, seconds = int(m.group(1)), _ms(m.group(2) + m.group(3)) / 1e3
    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", out, re.M))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    return LoadResult("wrk", requests, seconds, rps, _ms(pct["50"]) if "50" in pct else None,
                      _ms(pct["99"]) if "99" in pct else None, errors)


def run_wrk(base: str, script: str, *, seconds: float, connections: int, threads: int) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = Path(f.name)
    try:
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "--timeout", "10s", "-s", str(path), base]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        return _parse_wrk(proc.stdout)
    finally:
        path.unlink(missing_ok=True)


# ---- the fallback: a minimal asyncio HTTP/1.1 keep-alive client, the same requests -------------
# (httpx costs ~1 ms of client CPU per request: on 2 cores it, not the server, would be measured.)

Make = Callable[[int, int], tuple[str, str, dict[str, str], bytes]]


async def _asyncio_load(base: str, make: Make, *, seconds: float, connections: int) -> LoadResult:
    u = urlsplit(base)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(wid: int) -> None:
        nonlocal errors
        counter = itertools.count(1)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                method, path, headers, body = make(wid, next(counter))
                head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                head += f"Content-Length: {len(body)}\r\n\r\n"
                t0 = time.perf_counter()
                writer.write(head.encode() + body)
                resp = await reader.readuntil(b"\r\n\r\n")
                m = _CONTENT_LENGTH.search(resp)
                if m is None:  # not expected from uvicorn for these routes
                    raise RuntimeError(f"response without Content-Length: {resp[:200]!r}")
                await reader.readexactly(int(m.group(1)))
                latencies.append(time.perf_counter() - t0)
                if not resp.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)

    def p(q: float) -> float | None:
        return latencies[min(n - 1, int(q * n))] * 1e3 if n else None

    return LoadResult("asyncio", n, elapsed, n / elapsed, p(0.50), p(0.99), errors)


_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")


def post_load(base: str, path: str, headers: dict[str, str], run_tag: str, *, seconds: float,
              opts: LoadOpts, template: str | None = None) -> LoadResult:
    """POSTs whose body is ``template`` (default ``body_template(run_tag)``) with its holes filled."""
    tmpl = template if template is not None else body_template(run_tag)
    if opts.use_wrk:
        return run_wrk(base, _post_script(path, headers, tmpl), seconds=seconds,
                       connections=opts.connections, threads=opts.threads)
    hdrs = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    hdrs["Content-Type"] = "application/json"

    def make(wid: int, n: int) -> tuple[str, str, dict[str, str], bytes]:
        body = tmpl % {"n": n, "t": wid, "r": random.randrange(1, 1_000_000_000)}
        return "POST", path, hdrs, body.encode()

    return asyncio.run(_asyncio_load(base, make, seconds=seconds, connections=opts.connections))


def cycle_post_load(base: str, path: str, headers: dict[str, str], bodies: list[str], *, seconds: float,
                    opts: LoadOpts) -> LoadResult:
    """POSTs cycling through fixed ``bodies`` (returning visitors: the same identify again)."""
    if opts.use_wrk:
        return run_wrk(base, _cycle_script(path, headers, bodies), seconds=seconds,
                       connections=opts.connections, threads=opts.threads)
    hdrs = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    hdrs["Content-Type"] = "application/json"
    encoded = [b.encode() for b in bodies]

    def make(wid: int, n: int) -> tuple[str, str, dict[str, str], bytes]:
        return "POST", path, hdrs, encoded[(wid * 7919 + n) % len(encoded)]

    return asyncio.run(_asyncio_load(base, make, seconds=seconds, connections=opts.connections))


def get_load(base: str, paths: list[str], headers: dict[str, str], *, seconds: float,
             opts: LoadOpts) -> LoadResult:
    if opts.use_wrk:
        return run_wrk(base, _get_script(paths, headers), seconds=seconds, connections=opts.connections,
                       threads=opts.threads)

    def make(wid: int, n: int) -> tuple[str, str, dict[str, str], bytes]:
        return "GET", paths[(wid * 7919 + n) % len(paths)], headers, b""

    return asyncio.run(_asyncio_load(base, make, seconds=seconds, connections=opts.connections))
