"""Events from a newer writer (an unknown field in every object, at every depth) are projected
exactly like the same events without them, and ``playledger replay`` prints them as stored."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import asyncpg
import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ProjectorSettings
from playledger_schemas.events import event_kind
from playledger_schemas.subjects import event_subject
from tests.newer_writer import UNKNOWN, newer
from tests.projector.factory import publish, publish_raw, stream_of, wait_for_checkpoint
from tests.projector.test_projector import running

pytestmark = pytest.mark.integration


@pytest.fixture(name="settings")
def fx_settings(nats_url: str, database_url: str) -> ProjectorSettings:
    return ProjectorSettings(nats_url=nats_url, database_url=database_url, batch_size=200)


def as_newer(job_id: str) -> str:
    return f"n{job_id}"


async def rows(db: asyncpg.Connection, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows by job (and host / seq), without the job id and stream positions (they differ by copy)."""
    out = {}
    for record in await db.fetch(f"SELECT * FROM playledger.{table}"):  # noqa: S608 - a fixed table name
        row = {k: v for k, v in record.items() if k not in ("job_id", "stream_seq", "last_stream_seq")}
        job_id = record["job_id"].removeprefix("n") if record["job_id"].startswith("n") else record["job_id"]
        key = (record["job_id"].startswith("n"), job_id, record.get("host"), record.get("seq"))
        out[key] = row
    return out


async def test_a_newer_writers_events_are_projected_like_the_same_events_and_replayed(
    js: JetStreamContext, settings: ProjectorSettings, nats_url: str, database_url: str
) -> None:
    events = stream_of(6, tasks=3)
    copies = [msgspec.structs.replace(e, job_id=as_newer(e.job_id)) for e in events]
    last = await publish(js, events)
    for event in copies:
        last = await publish_raw(js, event_subject(event.job_id, event_kind(event)), newer(event))
    db = await asyncpg.connect(database_url)
    try:
        async with running(settings):
            await wait_for_checkpoint(db, last)
        assert await db.fetchval("SELECT count(*) FROM playledger.skipped_events") == 0
        for table in ("jobs", "job_hosts", "job_events"):
            projected = await rows(db, table)
            plain = {key[1:]: row for key, row in projected.items() if not key[0]}
            from_newer = {key[1:]: row for key, row in projected.items() if key[0]}
            assert plain, table
            if table == "job_events":  # the data as published, unknown fields included
                assert all(UNKNOWN in row["data"] for row in from_newer.values())
                for row in (*plain.values(), *from_newer.values()):
                    del row["data"]
            assert from_newer == plain, table
    finally:
        await db.close()
    printed = subprocess.run(
        [sys.executable, "-m", "playledger_cli", "replay", "--nats-url", nats_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert len(lines) == len(events) + len(copies)
    replayed = [line["event"] for line in lines if line["event"]["job_id"].startswith("n")]
    assert replayed == [json.loads(newer(e)) for e in copies]  # exactly as stored
