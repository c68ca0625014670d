"""Launch rate via HTTP: jobs accepted per second by ``POST /api/v1/jobs`` (issue 7, item 4, HTTP part).

Acceptance only (no executor runs): a 202 means the submit command is stored in JetStream.
The API runs as ``playledger api`` (uvicorn; 1 and 2 workers) against a real nats-server and
PostgreSQL (the read-model lookup for a known job id is part of every submit). Clients are
raw keep-alive HTTP/1.1 connections (``--connections`` of them) so the client side stays cheap.

    python tests/bench/bench_launch_http.py [--jobs 3000] [--connections 32] [--workers 1,2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [str(REPO / sub) for sub in ("schemas", "services/common", "services/api", "services/projector")]
sys.path[:0] = SOURCES

import asyncpg  # noqa: E402
from http_wait import wait_http_ok  # noqa: E402 - a sibling module of this script

from playledger_cli.embedded import EmbeddedPostgres, NatsServer, free_port  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_projector import migrations  # noqa: E402
from playledger_schemas.subjects import COMMANDS_STREAM  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_launch_http.json"
BODY = (
    '{{"id": "{job_id}", "source": {{"type": "local", "path": "site.yml"}}, '
    '"inventory": {{"type": "inline", "hosts": ["web1", "web2"]}}, "extra_vars": {{"release": "1.2.3"}}, '
    '"options": {{"tags": ["deploy"], "forks": 5}}}}'
)


async def create_read_models(url: str) -> None:
    """The read models exactly as the projector creates them (its own migrations)."""
    conn = await asyncpg.connect(url)
    try:
        await migrations.apply(conn)
    finally:
        await conn.close()


async def submitter(port: int, job_ids: list[str], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for job_id in job_ids:
            body = BODY.format(job_id=job_id).encode()
            writer.write(
                b"POST /api/v1/jobs HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            statuses.append(status)
    finally:
        writer.close()


async def one_round(port: int, jobs: int, connections: int) -> float:
    prefix = uuid.uuid4().hex[:8]
    ids = [f"{prefix}-{n}" for n in range(jobs)]
    statuses: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(submitter(port, ids[c::connections], statuses) for c in range(connections)))
    elapsed = time.perf_counter() - started
    if statuses.count(202) != jobs:
        msg = f"only {statuses.count(202)} of {jobs} submits were accepted"
        raise RuntimeError(msg)
    return jobs / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        postgres = EmbeddedPostgres(data_dir=Path(tmp) / "pg").start()
        try:
            database_url = postgres.url()
            await create_read_models(database_url)
            for workers in (int(w) for w in args.workers.split(",")):
                port = free_port()
                env = {
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(SOURCES),
                    "PLAYLEDGER_NATS_URL": server.url,
                    "PLAYLEDGER_DATABASE_URL": database_url,
                    "PLAYLEDGER_LOG_LEVEL": "WARNING",
                }
                with (Path(tmp) / f"api-{workers}.log").open("wb") as log:
                    api = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "playledger_cli",
                            "api",
                            "--port",
                            str(port),
                            "--workers",
                            str(workers),
                        ],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                try:
                    await wait_http_ok(port, "/ready")
                    await one_round(port, 200, args.connections)  # warm up
                    rates = [await one_round(port, args.jobs, args.connections) for _ in range(args.rounds)]
                finally:
                    api.terminate()
                    api.wait(timeout=30)
                row = {
                    "workers": workers,
                    "jobs_per_round": args.jobs,
                    "connections": args.connections,
                    "median_per_s": round(statistics.median(rates)),
                    "min_per_s": round(min(rates)),
                    "max_per_s": round(max(rates)),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            nc = await connect(server.url, "bench-launch")
            stored = (await nc.jetstream().stream_info(COMMANDS_STREAM)).state.messages
            await nc.close()
        finally:
            postgres.stop()
            server.stop()

    expected = (200 + args.jobs * args.rounds) * len(rows)
    print(f"\nsubmit commands stored: {stored} (expected {expected})")
    print(f"{'workers':>8} {'median/s':>9} {'min/s':>7} {'max/s':>7}")
    for r in rows:
        print(f"{r['workers']:>8} {r['median_per_s']:>9} {r['min_per_s']:>7} {r['max_per_s']:>7}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.write_text(
        json.dumps({"machine": machine, "rows": rows, "commands_stored": stored}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
