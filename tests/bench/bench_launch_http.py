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


async def submitter(port: int, job_ids: list[str], statuses: list[int], auth: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for job_id in job_ids:
            body = BODY.format(job_id=job_id).encode()
            writer.write(
                b"POST /api/v1/jobs HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"%sContent-Length: %d\r\n\r\n%s" % (auth, len(body), body)
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


async def one_round(port: int, jobs: int, connections: int, auth: bytes = b"") -> float:
    prefix = uuid.uuid4().hex[:8]
    ids = [f"{prefix}-{n}" for n in range(jobs)]
    statuses: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(submitter(port, ids[c::connections], statuses, auth) for c in range(connections)))
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
    parser.add_argument(
        "--auth", default="off,on", help="API keys off, on (a bearer key per request), or both"
    )
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        postgres = EmbeddedPostgres(data_dir=Path(tmp) / "pg").start()
        try:
            database_url = postgres.url()
            await create_read_models(database_url)
            secret = Path(tmp) / "auth-secret"
            secret.write_text(uuid.uuid4().hex + uuid.uuid4().hex, encoding="utf-8")
            key_file = Path(tmp) / "admin-key"
            runs = [(int(w), a) for w in args.workers.split(",") for a in args.auth.split(",")]
            for workers, auth_mode in runs:
                port = free_port()
                env = {
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(SOURCES),
                    "PLAYLEDGER_NATS_URL": server.url,
                    "PLAYLEDGER_DATABASE_URL": database_url,
                    "PLAYLEDGER_LOG_LEVEL": "WARNING",
                    "PLAYLEDGER_AUTH": auth_mode,
                    "PLAYLEDGER_AUTH_SECRET_FILE": str(secret),
                    "PLAYLEDGER_AUTH_BOOTSTRAP_KEY_FILE": str(key_file),
                }
                with (Path(tmp) / f"api-{workers}-{auth_mode}.log").open("wb") as log:
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
                    header = b""
                    if auth_mode == "on":
                        header = b"Authorization: Bearer %s\r\n" % key_file.read_text().strip().encode()
                    await one_round(port, 200, args.connections, header)  # warm up
                    rates = [
                        await one_round(port, args.jobs, args.connections, header) for _ in range(args.rounds)
                    ]
                finally:
                    api.terminate()
                    api.wait(timeout=30)
                row = {
                    "workers": workers,
                    "auth": auth_mode,
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
    print(f"{'workers':>8} {'auth':>5} {'median/s':>9} {'min/s':>7} {'max/s':>7}")
    for r in rows:
        print(
            f"{r['workers']:>8} {r['auth']:>5} {r['median_per_s']:>9} {r['min_per_s']:>7} {r['max_per_s']:>7}"
        )
    for workers in sorted({r["workers"] for r in rows}):
        by_auth = {r["auth"]: r["median_per_s"] for r in rows if r["workers"] == workers}
        if {"on", "off"} <= set(by_auth):
            print(f"workers {workers}: auth on / off = {by_auth['on'] / by_auth['off']:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.write_text(
        json.dumps({"machine": machine, "rows": rows, "commands_stored": stored}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
