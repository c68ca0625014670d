"""Fixtures that start the real components: nats-server (>= 2.12) and PostgreSQL.

- ``nats_server``: a fresh nats-server with JetStream on a free port and a temp store, per test.
- ``postgres_url``: the server named by ``PLAYLEDGER_TEST_DATABASE_URL``, else an embedded
  ``pgserver`` started once per run.
- ``database_url``: a fresh, empty database per test, dropped afterwards.

Tests live in one folder per component (``api``, ``cli``, ``common``, ``executor``,
``projector``, ``schemas``); ``unit`` (no IO) and ``integration`` (real servers) are markers,
and every test carries one (a test's own marker may refine its module's): ``pytest -m unit``
runs the fast ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from playledger_cli.embedded import EmbeddedPostgres, NatsServer
from playledger_common.bus import connect
from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_streams
from tests.s3 import fx_s3_bucket, fx_s3_server

__all__ = ["fx_s3_bucket", "fx_s3_server"]  # fixtures for every test directory

KINDS = ("unit", "integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not any(item.get_closest_marker(kind) for kind in KINDS)]
    if unmarked:
        msg = f"mark each test with one of {KINDS} (pytestmark): {', '.join(unmarked[:5])}"
        raise pytest.UsageError(msg)


@pytest.fixture(name="nats_server")
def fx_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture(name="nats_url")
def fx_nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture(name="nc")
async def fx_nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(nats_url, "playledger-tests")
    yield client
    await client.close()


@pytest.fixture(name="js")
async def fx_js(nc: Client, nats_url: str) -> JetStreamContext:
    """A JetStream context on a server whose playledger streams exist."""
    js = nc.jetstream()
    await ensure_streams(js, CommonSettings(nats_url=nats_url))
    return js


@pytest.fixture(name="postgres_url", scope="session")
def fx_postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("PLAYLEDGER_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(data_dir=tmp_path_factory.mktemp("pgdata")).start()
    yield server.url()
    server.stop()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def create_database(postgres_url: str) -> str:
    """A fresh, empty database on the server; its name."""
    name = f"playledger_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


@pytest.fixture(name="database_url")
async def fx_database_url(postgres_url: str) -> AsyncIterator[str]:
    name = await create_database(postgres_url)
    yield with_database(postgres_url, name)
    await drop_database(postgres_url, name)


async def drop_database(postgres_url: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
