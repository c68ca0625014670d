"""API keys' cost per submit: two real uvicorn servers (auth off, auth on) in one process.

Rounds alternate off, on, on, off against both servers, so both see the same machine state
(successive API processes on a busy shared machine differ by more than the effect measured).
Each round is ``--jobs`` submits over ``--connections`` keep-alive connections; with auth on
every request carries ``Authorization: Bearer <key>``.

    python tests/bench/bench_auth_overhead.py [--jobs 600] [--connections 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import uvicorn

from playledger_api.app import create_app
from playledger_cli.embedded import EmbeddedPostgres, NatsServer, free_port
from playledger_common.settings import ApiSettings
from playledger_projector import migrations

BODY = (
    '{{"id": "{job_id}", "source": {{"type": "local", "path": "site.yml"}}, '
    '"inventory": {{"type": "inline", "hosts": ["web1"]}}}}'
)


async def submitter(port: int, job_ids: list[str], auth: bytes) -> None:
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
            if status != 202:
                msg = f"submit answered {status}"
                raise RuntimeError(msg)
    finally:
        writer.close()


async def one_round(port: int, auth: bytes, jobs: int, connections: int) -> float:
    prefix = secrets.token_hex(4)
    ids = [f"{prefix}-{n}" for n in range(jobs)]
    started = time.perf_counter()
    await asyncio.gather(*(submitter(port, ids[c::connections], auth) for c in range(connections)))
    return jobs / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        work = Path(tmp)
        nats = NatsServer(store_dir=work / "nats").start()
        postgres = EmbeddedPostgres(data_dir=work / "pg").start()
        try:
            conn = await asyncpg.connect(postgres.url())
            await migrations.apply(conn)
            await conn.close()
            (work / "secret").write_text(secrets.token_hex(32), encoding="utf-8")
            servers: dict[str, tuple[int, uvicorn.Server, asyncio.Task[None]]] = {}
            for mode in ("off", "on"):
                settings = ApiSettings(
                    nats_url=nats.url,
                    database_url=postgres.url(),
                    auth=mode,  # type: ignore[arg-type]
                    auth_secret_file=work / "secret",
                    auth_bootstrap_key_file=work / "admin-key",
                )
                port = free_port()
                config = uvicorn.Config(
                    create_app(settings), host="127.0.0.1", port=port, log_level="warning"
                )
                server = uvicorn.Server(config)
                task = asyncio.create_task(server.serve())
                while not server.started:
                    await asyncio.sleep(0.05)
                servers[mode] = (port, server, task)
            key = (work / "admin-key").read_text(encoding="utf-8").strip()
            headers = {"off": b"", "on": b"Authorization: Bearer %s\r\n" % key.encode()}
            for mode in ("off", "on"):  # warm up
                await one_round(servers[mode][0], headers[mode], 200, args.connections)
            rates: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(args.rounds):
                for mode in ("off", "on", "on", "off"):
                    rates[mode].append(
                        await one_round(servers[mode][0], headers[mode], args.jobs, args.connections)
                    )
            for _, server, _ in servers.values():
                server.should_exit = True
            await asyncio.gather(*(task for _, _, task in servers.values()))
        finally:
            postgres.stop()
            nats.stop()
    for mode, values in rates.items():
        print(f"auth {mode}: median {statistics.median(values):.0f}/s  rounds {[round(v) for v in values]}")
    print(f"on / off = {statistics.median(rates['on']) / statistics.median(rates['off']):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
