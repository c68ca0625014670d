"""Event pipeline benchmark (issue 7, item 1): publish → JetStream → projector → PostgreSQL.

Runs on its own with ``python tests/bench/bench_pipeline.py [--events N] [--runs R]``:
starts a nats-server and a PostgreSQL (``PLAYLEDGER_TEST_DATABASE_URL`` or pgserver),
runs the projector as a separate process (``python -m playledger_cli projector``) and
publishes synthetic jobs with the shapes ansible-runner produces, the way the executor
publishes them (``publish_async`` in windows, ``Nats-Msg-Id``). Reports the median and
spread over runs of:

- sustained events/s end to end (first publish → last event projected);
- projection lag p50/p99 at an offered load of 5,000 events/s (publish → checkpoint covers it);
- ``projector rebuild`` events/s (replay of the whole stream into fresh tables + swap).

Prints a table and writes ``tests/bench/results/bench_pipeline.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import psutil  # noqa: E402
from nats.js import JetStreamContext  # noqa: E402

from playledger_cli.embedded import EmbeddedPostgres, NatsServer  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_common.settings import CommonSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_projector.rebuild import rebuild  # noqa: E402
from playledger_schemas.codec import encode  # noqa: E402
from playledger_schemas.events import JobEvent, event_kind  # noqa: E402
from playledger_schemas.subjects import event_subject  # noqa: E402
from tests.projector.factory import stream_of  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results" / "bench_pipeline.json"
TARGETS = {"sustained_events_per_s": 25_000, "lag_p99_ms": 250, "rebuild_events_per_s": 50_000}


def events_for(n: int, seed: int) -> list[JobEvent]:
    events: list[JobEvent] = []
    jobs = max(1, n // 200)
    while len(events) < n:
        events = stream_of(jobs, seed=seed, tasks=35)
        jobs += max(1, (n - len(events)) // 150)
    return events[:n] if len(events) > n else events


def encoded(events: list[JobEvent], prefix: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Subject, payload and headers, prepared before timing starts (the executor has them at hand)."""
    return [
        (
            event_subject(prefix + e.job_id, event_kind(e)),
            encode(e).replace(e.job_id.encode(), (prefix + e.job_id).encode()),
            {"Nats-Msg-Id": f"{prefix}{e.job_id}:{e.attempt}:{e.seq}"},
        )
        for e in events
    ]


async def publish_all(
    js: JetStreamContext, messages: list[tuple[str, bytes, dict[str, str]]], window: int = 1000
) -> int:
    last = 0
    for start in range(0, len(messages), window):
        futures = [
            await js.publish_async(subject, payload, headers=headers)
            for subject, payload, headers in messages[start : start + window]
        ]
        for ack in await asyncio.gather(*futures):
            last = max(last, ack.seq)
    return last


async def checkpoint(db: asyncpg.Connection) -> int:
    value = await db.fetchval(
        "SELECT last_stream_seq FROM playledger.projection_checkpoint WHERE projection = 'jobs'"
    )
    return int(value or 0)


async def wait_until(db: asyncpg.Connection, seq: int, timeout: float = 300.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await checkpoint(db) >= seq:
            return time.perf_counter()
        await asyncio.sleep(0.002)
    msg = f"checkpoint did not reach {seq}"
    raise RuntimeError(msg)


async def sustained(js: JetStreamContext, db: asyncpg.Connection, events: list[JobEvent], run: int) -> float:
    messages = encoded(events, f"s{run}")
    base = await checkpoint(db)
    started = time.perf_counter()
    last = await publish_all(js, messages)
    finished = await wait_until(db, last)
    assert last - base == len(messages), (last, base, len(messages))
    return len(messages) / (finished - started)


async def lag_at(
    js: JetStreamContext, db: asyncpg.Connection, db_url: str, events: list[JobEvent], rate: int, run: int
) -> list[float]:
    """Publish at ``rate`` events/s in 10 ms ticks; return each event's publish → projected latency (s)."""
    messages = encoded(events, f"l{run}")
    published: list[tuple[int, float]] = []
    observed: list[tuple[float, int]] = []
    done = asyncio.Event()

    watch_db = await asyncpg.connect(db_url)

    async def observe() -> None:
        while not done.is_set():
            observed.append((time.perf_counter(), await checkpoint(watch_db)))
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(observe())
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    t0 = time.perf_counter()
    for n, start in enumerate(range(0, len(messages), per_tick)):
        target = t0 + n * tick
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = messages[start : start + per_tick]
        sent = time.perf_counter()
        futures = [await js.publish_async(s, p, headers=h) for s, p, h in chunk]
        for ack in await asyncio.gather(*futures):
            published.append((ack.seq, sent))
    last = max(seq for seq, _ in published)
    reached = await wait_until(db, last)
    done.set()
    await watcher
    observed.append((reached, last))
    await watch_db.close()
    latencies = []
    i = 0
    for seq, sent in sorted(published):
        while observed[i][1] < seq:
            i += 1
        latencies.append(max(0.0, observed[i][0] - sent))
    return latencies


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def main(n_events: int, runs: int, lag_seconds: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    nats = NatsServer(store_dir=workdir / "nats").start()
    pg = None
    url = os.environ.get("PLAYLEDGER_TEST_DATABASE_URL")
    if not url:
        pg = EmbeddedPostgres(data_dir=workdir / "pg").start()
        url = pg.url()
    admin = await asyncpg.connect(url)
    await admin.execute("DROP DATABASE IF EXISTS bench_pipeline WITH (FORCE)")
    await admin.execute("CREATE DATABASE bench_pipeline")
    await admin.close()
    db_url = urlunsplit(urlsplit(url)._replace(path="/bench_pipeline"))
    env = {
        **os.environ,
        "PLAYLEDGER_NATS_URL": nats.url,
        "PLAYLEDGER_DATABASE_URL": db_url,
        "PLAYLEDGER_LOG_LEVEL": "WARNING",
    }
    projector = subprocess.Popen([sys.executable, "-m", "playledger_cli", "projector"], env=env)
    nc = await connect(nats.url, "bench-pipeline")
    js = nc.jetstream(publish_async_max_pending=4000)
    await ensure_streams(js, CommonSettings(nats_url=nats.url))
    db = await asyncpg.connect(db_url)
    try:
        while not await db.fetchval("SELECT to_regclass('playledger.projection_checkpoint') IS NOT NULL"):
            await asyncio.sleep(0.05)
        events = events_for(n_events, seed=1)
        lag_events = events_for(int(5000 * lag_seconds), seed=2)
        rates, p50s, p99s, rebuilds = [], [], [], []
        groups = {
            "projector": [psutil.Process(projector.pid)],
            "nats-server": [psutil.Process(nats.process.pid)] if nats.process else [],
            "postgres": postgres_processes(),
            "publisher (this process)": [psutil.Process()],
        }
        cpu_per_event: dict[str, list[float]] = {name: [] for name in groups}
        rebuild_cpu: dict[str, list[float]] = {}
        for run in range(runs):
            before = {name: cpu_seconds(procs) for name, procs in groups.items()}
            rates.append(await sustained(js, db, events, run))
            for name, procs in groups.items():
                cpu_per_event[name].append((cpu_seconds(procs) - before[name]) / len(events) * 1e6)
            lat = await lag_at(js, db, db_url, lag_events, 5000, run)
            p50s.append(pct(lat, 0.50) * 1000)
            p99s.append(pct(lat, 0.99) * 1000)
            conn = await asyncpg.connect(db_url)
            rebuilders = {
                "rebuild (this process)": groups["publisher (this process)"],
                "postgres": postgres_processes(),
            }
            before = {name: cpu_seconds(procs) for name, procs in rebuilders.items()}
            try:
                report = await rebuild(conn, js, batch_size=5000)
            finally:
                await conn.close()
            rebuilds.append(report.events_per_second)
            for name, procs in rebuilders.items():
                rebuild_cpu.setdefault(name, []).append(
                    (cpu_seconds(procs) - before[name]) / max(1, report.events) * 1e6
                )
            print(
                f"run {run + 1}/{runs}: sustained {rates[-1]:,.0f} ev/s "
                f"(CPU µs/event: {', '.join(f'{k} {v[-1]:.0f}' for k, v in cpu_per_event.items())}), "
                f"lag p50 {p50s[-1]:.1f} ms p99 {p99s[-1]:.1f} ms, rebuild {rebuilds[-1]:,.0f} ev/s "
                f"({report.events:,} events; CPU µs/event: {', '.join(f'{k} {v[-1]:.0f}' for k, v in rebuild_cpu.items())})",
                file=sys.stderr,
            )
    finally:
        await db.close()
        await nc.close()
        projector.send_signal(signal.SIGTERM)
        projector.wait(30)
        nats.stop()
        if pg is not None:
            pg.stop()
    return {
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
        "events_per_run": len(events),
        "lag_offered_events_per_s": 5000,
        "lag_events_per_run": len(lag_events),
        "runs": runs,
        "sustained_events_per_s": spread(rates),
        "lag_p50_ms": spread(p50s),
        "lag_p99_ms": spread(p99s),
        "rebuild_events_per_s": spread(rebuilds),
        "sustained_cpu_us_per_event": {name: spread(v) for name, v in cpu_per_event.items()},
        "rebuild_cpu_us_per_event": {name: spread(v) for name, v in rebuild_cpu.items()},
        "load_average_1m_at_end": os.getloadavg()[0],
        "targets": TARGETS,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("sustained events/s (publish → projected)", result["sustained_events_per_s"], "≥ 25,000", "{:,.0f}"),
        ("lag p50 at 5,000 events/s (ms)", result["lag_p50_ms"], "—", "{:.1f}"),
        ("lag p99 at 5,000 events/s (ms)", result["lag_p99_ms"], "< 250", "{:.1f}"),
        ("rebuild events/s", result["rebuild_events_per_s"], "≥ 50,000", "{:,.0f}"),
    ]
    lines = [f"{'metric':44} {'median':>10} {'min':>10} {'max':>10}  target", "-" * 86]
    for name, s, target, fmt in rows:
        lines.append(
            f"{name:44} {fmt.format(s['median']):>10} {fmt.format(s['min']):>10} {fmt.format(s['max']):>10}  {target}"
        )
    lines.append("")
    lines.append(
        "CPU per event during the sustained run (µs, median): "
        + ", ".join(f"{name} {s['median']:.0f}" for name, s in result["sustained_cpu_us_per_event"].items())
    )
    lines.append(
        "CPU per event during the rebuild (µs, median): "
        + ", ".join(f"{name} {s['median']:.0f}" for name, s in result["rebuild_cpu_us_per_event"].items())
    )
    lines.append(
        f"load average (1 min) at the end: {result['load_average_1m_at_end']:.1f} on {os.cpu_count()} cores"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(main(args.events, args.runs, args.lag_seconds))
    print(table(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
