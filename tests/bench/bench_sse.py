"""Live progress: runner event -> SSE client latency with 1, 100 and 1,000 clients (issue 7, item 3).

One API process (``playledger api``, uvicorn, one worker) serves every client from JetStream.
The bench publishes synthetic runner events for one job at an ansible-like rate, each
carrying its publish time; every client records when it received each event. Reports p50 /
p99 latency over all (client, event) pairs and how many events each client received (all of
them, or the run counts as lossy). Clients are raw asyncio HTTP/1.1 readers (httpx would make
the client, not the API, the bottleneck); clients and API share the machine's cores, so each
row also gives the CPU the API process and the client process used while events flowed (% of
one core), and the API's SSE metrics (shared feeds, catch-ups, resubscribes) after the round.

    python tests/bench/bench_sse.py [--clients 1,100,1000] [--events 300] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
SOURCES = [str(REPO / sub) for sub in ("schemas", "services/common", "services/api")]
sys.path[:0] = SOURCES

from http_wait import wait_http_ok  # noqa: E402 - a sibling module of this script
from nats.js import JetStreamContext  # noqa: E402

from playledger_cli.embedded import EmbeddedPostgres, NatsServer, free_port  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_common.settings import CommonSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_schemas.codec import encode  # noqa: E402
from playledger_schemas.commands import InlineInventory, JobSpec, LocalSource  # noqa: E402
from playledger_schemas.events import (  # noqa: E402
    JobEvent,
    JobQueued,
    JobSucceeded,
    QueuedData,
    ResultData,
    RunnerEvent,
    RunnerEventData,
    event_kind,
)
from playledger_schemas.subjects import event_subject  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_sse.json"
SPEC = JobSpec(source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["localhost"]))
SENT = re.compile(rb'"sent":([0-9.e+-]+)')
"""Clients parse only what they measure: one regex over each read, not one Python step per line."""
STDOUT = 'ok: [web1] => {\r\n    "msg": "hello web1"\r\n}'


@dataclass
class Client:
    received: list[tuple[float, float]] = field(default_factory=list)
    """(publish time, receive time) of each runner event."""
    ended: bool = False
    connected: asyncio.Event = field(default_factory=asyncio.Event)


AUTH_HEADER: list[str] = [""]
"""``Authorization: Bearer <key>\r\n`` while the API runs with auth on (set per run in ``main``)."""


async def sse_client(port: int, job_id: str, client: Client) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        f"GET /api/v1/jobs/{job_id}/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
        f"{AUTH_HEADER[0]}\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        msg = f"stream answered {status!r}"
        raise RuntimeError(msg)
    while (await reader.readline()).strip():
        pass  # response headers
    pending = b""
    try:
        while chunk := await reader.read(1 << 16):
            now = time.time()
            pending += chunk
            complete, _, pending = pending.rpartition(b"\n\n")
            client.received += [(float(sent), now) for sent in SENT.findall(complete)]
            if complete and not client.connected.is_set():
                client.connected.set()
            if b"event: end\n" in complete:
                client.ended = True
                break
    finally:
        writer.close()


def event(job_id: str, seq: int, counter: int, sent: float) -> RunnerEvent:
    data = RunnerEventData(
        event="runner_on_ok",
        counter=counter,
        uuid=str(uuid.uuid4()),
        stdout=STDOUT,
        pid=1,
        event_data={"host": "web1", "task": "greet", "sent": sent},
    )
    return RunnerEvent(
        event_id=uuid.uuid4(), job_id=job_id, attempt=1, seq=seq, time=datetime.now(UTC), data=data
    )


async def append(js: JetStreamContext, ev: JobEvent) -> None:
    await js.publish(
        event_subject(ev.job_id, event_kind(ev)),
        encode(ev),
        headers={"Nats-Msg-Id": f"{ev.job_id}:1:{ev.seq}"},
    )


async def metrics_text(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode(errors="replace")
    writer.close()
    return " ".join(line for line in text.splitlines() if line.startswith("playledger_api_sse"))


args_timeout = float(os.environ.get("BENCH_SSE_TIMEOUT", "600"))
"""Seconds to wait for every client to see the end of the job."""


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def one_round(
    js: JetStreamContext, port: int, clients: int, events: int, rate: float, api: psutil.Process
) -> dict[str, object]:
    job_id = f"bench-{clients}-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await append(
        js,
        JobQueued(
            event_id=uuid.uuid4(), job_id=job_id, attempt=0, seq=1, time=now, data=QueuedData(spec=SPEC)
        ),
    )
    states = [Client() for _ in range(clients)]
    gate = asyncio.Semaphore(50)

    async def start(state: Client) -> None:
        async with gate:
            task = asyncio.create_task(sse_client(port, job_id, state))
            tasks.append(task)
            connected = asyncio.create_task(state.connected.wait())
            await asyncio.wait([connected, task], timeout=120, return_when=asyncio.FIRST_COMPLETED)
            if not connected.done():
                connected.cancel()
                if task.done():
                    task.result()  # the reason this client could not connect
                msg = "a client got nothing within 120 s"
                raise RuntimeError(msg)

    tasks: list[asyncio.Task[None]] = []
    await asyncio.gather(*(start(state) for state in states))  # every client has the queued event

    me = psutil.Process()
    cpu_before = cpu_seconds(api), cpu_seconds(me)
    started = time.perf_counter()
    for n in range(1, events + 1):
        await append(js, event(job_id, n + 1, n, time.time()))
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    result = ResultData(runner_status="successful", rc=0, runner_events=events, last_seq=events + 1)
    await append(
        js,
        JobSucceeded(event_id=uuid.uuid4(), job_id=job_id, attempt=1, seq=events + 2, time=now, data=result),
    )
    _, waiting = await asyncio.wait(tasks, timeout=args_timeout)
    publish_s = time.perf_counter() - started
    api_cpu, bench_cpu = (cpu_seconds(api) - cpu_before[0]), (cpu_seconds(me) - cpu_before[1])
    if waiting:
        stuck = [s for s in states if not s.ended]
        counts = sorted(len(s.received) for s in stuck)
        print(
            f"  {len(waiting)} clients still open after {args_timeout}s; received {counts[:5]}..{counts[-5:]}"
        )
        print("  " + await metrics_text(port))
        for task in waiting:
            task.cancel()

    latencies = sorted((got - sent) * 1000 for state in states for sent, got in state.received)
    complete = sum(1 for s in states if len(s.received) == events and s.ended)
    return {
        "clients": clients,
        "events": events,
        "rate_per_s": rate,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
        "max_ms": round(latencies[-1], 2),
        "clients_with_every_event": complete,
        "min_events_received": min(len(s.received) for s in states),
        "deliveries_per_s": round(len(latencies) / publish_s),
        "api_cpu_pct": round(100 * api_cpu / publish_s),
        "clients_cpu_pct": round(100 * bench_cpu / publish_s),
        "api_sse_metrics": await metrics_text(port),
    }


def start_api(nats_url: str, port: int, log: Path, auth: dict[str, str]) -> subprocess.Popen[bytes]:
    """With auth off SSE never reads PostgreSQL; with auth on it looks keys up there (cached)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(SOURCES),
        "PLAYLEDGER_NATS_URL": nats_url,
        "PLAYLEDGER_DATABASE_URL": f"postgresql://bench@127.0.0.1:{free_port()}/none",
        "PLAYLEDGER_LOG_LEVEL": "WARNING",
        "PLAYLEDGER_AUTH": "off",
        **auth,
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "playledger_cli", "api", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,100,1000")
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="runner events per second")
    parser.add_argument(
        "--auth", default="off,on", help="API keys off, on (a bearer key per client), or both"
    )
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        postgres = EmbeddedPostgres(data_dir=Path(tmp) / "pg").start() if "on" in args.auth else None
        secret = Path(tmp) / "auth-secret"
        secret.write_text(uuid.uuid4().hex + uuid.uuid4().hex, encoding="utf-8")
        key_file = Path(tmp) / "admin-key"
        nc = await connect(server.url, "bench-sse")
        js = nc.jetstream()
        await ensure_streams(js, CommonSettings(nats_url=server.url))
        try:
            for auth_mode in args.auth.split(","):
                auth = {}
                if auth_mode == "on":
                    assert postgres is not None
                    auth = {
                        "PLAYLEDGER_AUTH": "on",
                        "PLAYLEDGER_DATABASE_URL": postgres.url(),
                        "PLAYLEDGER_AUTH_SECRET_FILE": str(secret),
                        "PLAYLEDGER_AUTH_BOOTSTRAP_KEY_FILE": str(key_file),
                    }
                port = free_port()
                api = start_api(server.url, port, Path(tmp) / f"api-{auth_mode}.log", auth)
                try:
                    await wait_http_ok(port, "/health")
                    AUTH_HEADER[0] = ""
                    if auth_mode == "on":
                        AUTH_HEADER[0] = f"Authorization: Bearer {key_file.read_text().strip()}\r\n"
                    for clients in (int(c) for c in args.clients.split(",")):
                        row = await one_round(
                            js, port, clients, args.events, args.rate, psutil.Process(api.pid)
                        )
                        rows.append({"auth": auth_mode, **row})
                        print(json.dumps(rows[-1]), flush=True)
                finally:
                    api.terminate()
                    api.wait(timeout=30)
        finally:
            await nc.close()
            if postgres is not None:
                postgres.stop()
            server.stop()

    print(
        f"\n{'auth':>5} {'clients':>8} {'events':>7} {'rate/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'all events':>11}"
        f" {'api cpu':>8} {'clients cpu':>12}"
    )
    for r in rows:
        print(
            f"{r['auth']:>5} {r['clients']:>8} {r['events']:>7} {r['rate_per_s']:>7} {r['p50_ms']:>8} {r['p99_ms']:>8} "
            f"{r['max_ms']:>8} {r['clients_with_every_event']:>5}/{r['clients']:<5} "
            f"{r['api_cpu_pct']:>7}% {r['clients_cpu_pct']:>11}%"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
