"""Fixtures for the API tests: read-model tables, an app in process, and a real HTTP server.

The read-model tables are created by the projector's own migrations (``create_read_models``).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from playledger_api.app import create_app
from playledger_cli.embedded import free_port
from playledger_common.readmodel import SCHEMA, JobRow, columns, record
from playledger_common.settings import ApiSettings
from playledger_projector import migrations
from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobSpec, LocalSource
from playledger_schemas.events import (
    JobEvent,
    JobQueued,
    JobStarted,
    JobSucceeded,
    QueuedData,
    ResultData,
    RunnerEvent,
    RunnerEventData,
    StartedData,
    event_kind,
)
from playledger_schemas.subjects import event_subject


async def create_read_models(database_url: str) -> None:
    """The read-model tables exactly as the projector creates them (its own migrations)."""
    conn = await asyncpg.connect(database_url)
    try:
        await migrations.apply(conn)
    finally:
        await conn.close()


@pytest.fixture(name="readmodel_url")
async def fx_readmodel_url(database_url: str) -> str:
    await create_read_models(database_url)
    return database_url


@pytest.fixture(name="db")
async def fx_db(readmodel_url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    conn = await asyncpg.connect(readmodel_url, server_settings={"search_path": SCHEMA})
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: msgspec.json.encode(v).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )
    yield conn
    await conn.close()


def auth_files(directory: Path) -> dict[str, Any]:
    """Settings for auth on: a fresh server secret, and a bootstrap admin key written on start."""
    secret = directory / "auth-secret"
    if not secret.exists():
        secret.write_text(secrets.token_hex(32), encoding="utf-8")
    return {"auth_secret_file": secret, "auth_bootstrap_key_file": directory / "admin-key"}


def auth_env(directory: Path) -> dict[str, str]:
    """The same as ``PLAYLEDGER_*`` variables, for an API started as a process."""
    return {f"PLAYLEDGER_{name.upper()}": str(value) for name, value in auth_files(directory).items()}


def key_headers(key_file: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {key_file.read_text(encoding='utf-8').strip()}"}


def admin_headers(settings: ApiSettings) -> dict[str, str]:
    """The bootstrap admin key of a started app, as a request header."""
    assert settings.auth_bootstrap_key_file is not None
    return key_headers(settings.auth_bootstrap_key_file)


@pytest.fixture(name="settings")
def fx_settings(nats_url: str, readmodel_url: str, tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        nats_url=nats_url,
        database_url=readmodel_url,
        sse_heartbeat_s=0.5,
        max_body_bytes=64 * 1024,
        logs_dir=tmp_path / "logs",  # the local log store: never the checkout's var/logs
        secrets_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        **auth_files(tmp_path),
    )


@pytest.fixture(name="client")
async def fx_client(settings: ApiSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    """An in-process client carrying the bootstrap admin key."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        client.headers.update(admin_headers(settings))
        yield client


@pytest.fixture(name="headers")
def fx_headers(settings: ApiSettings, base_url: str) -> dict[str, str]:
    """The admin key's header for requests to ``base_url``."""
    return admin_headers(settings)


_SERVED_KEYS: dict[str, dict[str, str]] = {}
"""The admin key header of each server ``serve`` runs, by its URL."""


def api_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    """An HTTP client for a server started by ``serve``, carrying that server's admin key."""
    return httpx.AsyncClient(base_url=base_url, headers=_SERVED_KEYS.get(base_url, {}), **options)


async def serve(settings: ApiSettings) -> AsyncIterator[str]:
    """The app behind a real uvicorn server in this event loop (SSE streams need a real server)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    if settings.auth == "on":
        _SERVED_KEYS[url] = admin_headers(settings)
    try:
        yield url
    finally:
        _SERVED_KEYS.pop(url, None)
        server.should_exit = True
        await task


@pytest.fixture(name="base_url")
async def fx_base_url(settings: ApiSettings) -> AsyncIterator[str]:
    async for url in serve(settings):
        yield url


# --- test data: read-model rows and real events -------------------------------------------------

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def insert_job(db: asyncpg.Connection[asyncpg.Record], job_id: str, **fields: Any) -> None:
    """A ``jobs`` row as the projector writes it: ``JobRow`` defaults, a small local job, ``fields``."""
    values: dict[str, Any] = {
        "status": "queued",
        "created_at": T0,
        "source": {"type": "local", "path": "site.yml"},
        "inventory_summary": {"type": "inline", "hosts": 1, "groups": []},
        "options": {"verbosity": 0},
        "extra_vars": {},
        **fields,
    }
    row = JobRow(job_id=job_id, **values)
    names = columns(JobRow)
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    await db.execute(f"INSERT INTO jobs ({', '.join(names)}) VALUES ({params})", *record(row))  # noqa: S608


async def insert_event(
    db: asyncpg.Connection[asyncpg.Record],
    job_id: str,
    seq: int,
    *,
    event: str,
    stdout: str = "",
    host: str | None = None,
    data: dict[str, Any] | None = None,
    type_: str = "runner.event.v1",
    attempt: int = 1,
) -> None:
    await db.execute(
        "INSERT INTO job_events (job_id, seq, stream_seq, type, event, attempt, counter, host, time, stdout, data) "
        "VALUES ($1, $2, (SELECT coalesce(max(stream_seq), 0) + 1 FROM job_events), $3, $4, $5, $6, $7, $8, $9, $10)",
        job_id,
        seq,
        type_,
        event,
        attempt,
        seq if type_ == "runner.event.v1" else None,
        host,
        T0 + timedelta(seconds=seq),
        stdout,
        data if data is not None else {"event": event, "stdout": stdout, "pid": 1},
    )


SPEC = JobSpec(source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["localhost"]))


def job_events(job_id: str, runner_events: int, stdout_size: int = 0) -> list[JobEvent]:
    """A realistic job: queued, started, ``runner_events`` runner events, succeeded."""
    now = datetime.now(UTC)
    events: list[JobEvent] = [
        JobQueued(
            event_id=uuid.uuid4(), job_id=job_id, attempt=0, seq=1, time=now, data=QueuedData(spec=SPEC)
        ),
        JobStarted(
            event_id=uuid.uuid4(),
            job_id=job_id,
            attempt=1,
            seq=2,
            time=now,
            data=StartedData(executor_id="test", spec=SPEC, playbook="site.yml"),
        ),
    ]
    names = [
        "playbook_on_start",
        "playbook_on_play_start",
        "playbook_on_task_start",
        "runner_on_start",
        "runner_on_ok",
    ]
    for counter in range(1, runner_events + 1):
        name = names[min(counter - 1, 2)] if counter <= 3 else names[3 + (counter % 2)]
        events.append(
            RunnerEvent(
                event_id=uuid.uuid4(),
                job_id=job_id,
                attempt=1,
                seq=2 + counter,
                time=now,
                data=RunnerEventData(
                    event=name,
                    counter=counter,
                    uuid=str(uuid.uuid4()),
                    stdout=f"line {counter}" + "x" * stdout_size,
                    pid=4242,
                    event_data={"host": "localhost"},
                ),
            )
        )
    last = 2 + runner_events
    events.append(
        JobSucceeded(
            event_id=uuid.uuid4(),
            job_id=job_id,
            attempt=1,
            seq=last + 1,
            time=now,
            data=ResultData(runner_status="successful", rc=0, runner_events=runner_events, last_seq=last),
        )
    )
    return events


async def publish(js: JetStreamContext, events: list[JobEvent]) -> list[int]:
    """Append events as the executor does (subject per kind, msg id); returns their stream sequences."""
    seqs = []
    for ev in events:
        ack = await js.publish(
            event_subject(ev.job_id, event_kind(ev)),
            encode(ev),
            headers={"Nats-Msg-Id": f"{ev.job_id}:{ev.attempt}:{ev.seq}"},
        )
        seqs.append(ack.seq)
    return seqs
