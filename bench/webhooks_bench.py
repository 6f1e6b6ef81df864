"""Webhook delivery benchmark: one worker, one local receiver.

    .venv/bin/python bench/webhooks_bench.py [--backend sqlite|postgresql|both] [--events 5000]
                                             [--rate 200] [--latency-events 1000]

1. Throughput: ``--events`` committed events (in transactions of 500) wait in the outbox; one
   in-process worker (``kith.worker.runner.Worker``, real relay + real HTTP) delivers them to a
   receiver in another process; deliveries/s = events / (time until the receiver has them all).
2. Latency: the worker runs in the background as under ``kith serve`` (default poll 0.1 s) while
   events are committed one per transaction at ``--rate`` per second; latency = receipt time at
   the receiver − the moment the producing transaction committed (same machine clock); p50/p95.

3. The raw limit in the same run: the same number of POSTs of a delivery-sized body sent straight
   by the worker's HTTP sender (no database, no signing) at the worker's concurrency; the
   throughput is also given as a ratio to it, with the worker's CPU per delivery and the load
   average (the machine is shared: compare ratios, not absolutes).

Aim (issue 5): ≥ 500 deliveries/s per worker, p95 ≤ 1 s. The receiver is a minimal asyncio
HTTP/1.1 server in its own process, so it does not share the worker's CPU time slice.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kith.auth.model import Actor  # noqa: E402
from kith.config import Settings  # noqa: E402
from kith.core import ids, migrate  # noqa: E402
from kith.core.db import Database  # noqa: E402
from kith.core.uow import UnitOfWork  # noqa: E402
from kith.orgs import service as orgs  # noqa: E402
from kith.webhooks import delivery  # noqa: E402
from kith.webhooks import service as webhooks  # noqa: E402
from kith.webhooks.schemas import WebhookCreate  # noqa: E402
from kith.webhooks.sender import Key, Sender  # noqa: E402
from kith.worker.runner import Worker  # noqa: E402

BATCH = 500


# --- the receiver (child process) -----------------------------------------------------------------

def _receiver(port_out: Any, count: Any, log_path: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        out = open(log_path, "a", buffering=1)  # noqa: SIM115 (line-buffered: read while open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
                lower = {k.lower(): v for k, v in headers.items()}
                await reader.readexactly(int(lower.get(b"content-length", b"0")))
                out.write(f"{lower.get(b'kith-event-id', b'').decode()} {time.time()}\n")
                with count.get_lock():
                    count.value += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            out.close()
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start_receiver(log_path: str) -> tuple[mp.Process, int, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    count = ctx.Value("i", 0)
    proc = ctx.Process(target=_receiver, args=(child, count, log_path), daemon=True)
    proc.start()
    return proc, parent.recv(), count


def receipts(log_path: str) -> dict[str, float]:
    got: dict[str, float] = {}
    for line in Path(log_path).read_text().splitlines():
        event_id, at = line.split()
        got.setdefault(event_id, float(at))
    return got


# --- the producer ----------------------------------------------------------------------------------

async def commit_events(db: Database, org_id: str, n: int) -> dict[str, float]:
    """``n`` contact.created events, ``n`` per transaction; event id -> commit time."""
    uow = UnitOfWork(db)
    made: list[str] = []
    async with uow.transaction(write=True):
        for i in range(n):
            made.append(await uow.record(org_id, "contact.created", subject_type="contact",
                                         subject_id=ids.new("contact"), actor_id=None, actor_type="system",
                                         data={"after": {"name": f"Bench Person {i}", "stage": "lead"}}))
    at = time.time()
    return dict.fromkeys(made, at)


async def wait_for(count: Any, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while count.value < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"receiver got {count.value} of {target} within {timeout} s")
        await asyncio.sleep(0.01)


async def raw_limit(port: int, count: Any, n: int) -> float:
    """POSTs/s straight through the sender: the HTTP ceiling the worker is measured against."""
    sender = Sender(tls=delivery._tls_context(), per_origin=delivery.PER_ORIGIN, timeout=10, connect_timeout=5,
                    max_body=delivery.MAX_ANSWER_BYTES)
    key = Key("http", "127.0.0.1", port, "127.0.0.1")
    body = b'{"id": "evt_x", "type": "contact.created", "data": {"after": {"name": "Bench Person"}}}' * 4
    gate = asyncio.Semaphore(delivery.CONCURRENCY)
    base = count.value

    async def one(i: int) -> None:
        async with gate:
            await sender.post(key, "/hook", [(b"Kith-Event-Id", f"raw-{i}".encode())], body)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    await wait_for(count, base + n, timeout=120)
    elapsed = time.perf_counter() - t0
    await sender.aclose()
    return n / elapsed


async def run(url: str, events: int, rate: float, latency_events: int) -> dict[str, Any]:
    migrate.upgrade(url)
    db = Database(url)
    logs = tempfile.mkdtemp(prefix="kith-webhooks-bench-")
    log_path = os.path.join(logs, "received.txt")
    proc, port, count = start_receiver(log_path)
    try:
        made = await orgs.create_org(UnitOfWork(db), name=f"Bench {ids.token(4)}", admin_email="bench@bench.test",
                                     admin_password="bench password")
        actor = Actor.system(made.org_id)
        await webhooks.create_webhook(UnitOfWork(db), actor, WebhookCreate(
            url=f"http://127.0.0.1:{port}/hook", events=["contact.created"]), allow_private=True)
        settings = Settings(database_url=url, webhooks_allow_private=True)

        # 1. throughput: a backlog of committed events, one worker draining it
        for start in range(0, events, BATCH):
            await commit_events(db, made.org_id, min(BATCH, events - start))
        limit = await raw_limit(port, count, events)
        worker = Worker(db, settings)
        base = count.value
        t0, cpu0 = time.perf_counter(), time.process_time()
        drain = asyncio.create_task(worker.run())
        await wait_for(count, base + events, timeout=600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0

        # 2. latency: the worker keeps running; events trickle in at `rate`
        base = count.value
        committed: dict[str, float] = {}
        interval = 1.0 / rate
        next_at = time.perf_counter()
        for _ in range(latency_events):
            committed.update(await commit_events(db, made.org_id, 1))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await wait_for(count, base + latency_events, timeout=120)
        worker.stop()
        await drain
        got = receipts(log_path)
        lat = sorted((got[e] - t) * 1000 for e, t in committed.items() if e in got)
        return {
            "backend": db.backend, "events": events, "seconds": elapsed, "per_second": events / elapsed,
            "p50_ms": statistics.median(lat), "p95_ms": lat[int(len(lat) * 0.95) - 1], "max_ms": lat[-1],
            "latency_events": len(lat), "rate": rate, "raw_limit": limit, "cpu_us": cpu / events * 1e6,
            "load": os.getloadavg()[0],
        }
    finally:
        proc.kill()
        await db.dispose()


def pg_scratch() -> tuple[str, Any]:
    import psycopg

    name = f"kith_bench_wh_{ids.token(4).lower().replace('-', '').replace('_', '')}"
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--rate", type=float, default=200.0, help="events per second in the latency phase")
    p.add_argument("--latency-events", type=int, default=1000)
    a = p.parse_args()
    rows = []
    for backend in (["sqlite", "postgresql"] if a.backend == "both" else [a.backend]):
        if backend == "sqlite":
            url, cleanup = f"sqlite:///{tempfile.mkdtemp(prefix='kith-wh-')}/bench.db", (lambda: None)
        else:
            url, cleanup = pg_scratch()
        try:
            rows.append(asyncio.run(run(url, a.events, a.rate, a.latency_events)))
        finally:
            cleanup()
    print("| backend | deliveries/s (1 worker) | raw HTTP limit | ratio | worker CPU/delivery "
          "| commit → receipt p50 | p95 | max | at | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['per_second']:.0f} ({r['events']} in {r['seconds']:.1f} s) | "
              f"{r['raw_limit']:.0f}/s | {r['per_second'] / r['raw_limit']:.2f} | {r['cpu_us']:.0f} µs | "
              f"{r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['max_ms']:.0f} ms | "
              f"{r['latency_events']} events at {r['rate']:.0f}/s | {r['load']:.1f} |")


if __name__ == "__main__":
    main()
