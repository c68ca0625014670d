"""Projector processes (``python -m playledger_cli projector``): kill -9 and resume,
two replicas against one database, and the CLI subcommands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from nats.js import JetStreamContext

from playledger_common.readmodel import READ_MODEL_VERSION
from playledger_projector import migrations
from playledger_projector.locks import LEADER, LEADER_HOLDERS_SQL, LOCK_CLASS
from playledger_projector.rebuild import replay_into
from tests.projector.factory import (
    checkpoint,
    count,
    publish,
    publish_raw,
    snapshot,
    stream_of,
    wait_for_checkpoint,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNKNOWN = b'{"type": "job.paused.v3", "job_id": "j1"}'


class Processes:
    def __init__(self, tmp_path: Path, nats_url: str, database_url: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "PLAYLEDGER_NATS_URL": nats_url,
            "PLAYLEDGER_DATABASE_URL": database_url,
            "PLAYLEDGER_BATCH_SIZE": "250",
        }
        self.started: list[subprocess.Popen[bytes]] = []

    def projector(self) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"projector-{len(self.started)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "playledger_cli", "projector"], env=self.env, stdout=log, stderr=log
        )
        log.close()
        self.started.append(proc)
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "playledger_cli", "projector", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(name="procs")
def fx_procs(tmp_path: Path, nats_url: str, database_url: str) -> Iterator[Processes]:
    procs = Processes(tmp_path, nats_url, database_url)
    yield procs
    procs.stop_all()


async def active_pid(db: asyncpg.Connection) -> int | None:
    """The OS pid of the projector holding the leader lock (from its application_name)."""
    names = await db.fetch(
        LEADER_HOLDERS_SQL,
        LOCK_CLASS,
        LEADER,
    )
    assert len(names) <= 1, "two projectors hold the leader lock"
    return int(names[0]["application_name"].split("/")[1]) if names else None


async def wait_for_active(db: asyncpg.Connection, among: set[int], timeout: float = 30.0) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        pid = await active_pid(db)
        if pid in among:
            return pid
        await asyncio.sleep(0.05)
    msg = f"none of {among} became active within {timeout}s"
    raise AssertionError(msg)


async def kill_when_past(db: asyncpg.Connection, proc: subprocess.Popen[bytes], seq: int, last: int) -> int:
    """kill -9 the process once the checkpoint passes ``seq``; the kill must land mid-stream."""
    reached = await wait_for_checkpoint(db, seq, timeout=90)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = await checkpoint(db)
    assert at_kill < last, f"the projector finished ({at_kill}/{last}) before it could be killed"
    assert reached <= at_kill
    return at_kill


async def assert_equals_one_go(db: asyncpg.Connection, js: JetStreamContext, database_url: str) -> None:
    """Every table equals a projection of the whole stream built in one go."""
    conn = await asyncpg.connect(database_url)
    try:
        await replay_into(conn, js, "reference", batch_size=10_000)
        reference = await snapshot(conn, "reference")
    finally:
        await conn.close()
    live = await snapshot(db)
    for table in reference:
        assert len(live[table]) == len(reference[table]), table
        assert live[table] == reference[table], table


async def test_kill_9_in_the_middle_of_a_50000_event_stream_then_restart(
    js: JetStreamContext, procs: Processes, database_url: str
) -> None:
    await publish_raw(js, "playledger.append.job.j1.job.paused", UNKNOWN)
    events = stream_of(265, seed=1)
    assert len(events) >= 50_000
    last = await publish(js, events)
    await publish_raw(js, "playledger.append.job.j2.job.paused", UNKNOWN)
    last += 1
    db = await asyncpg.connect(database_url)
    try:
        first = procs.projector()
        killed_at = await kill_when_past(db, first, 8_000, last)
        second = procs.projector()
        killed_again_at = await kill_when_past(db, second, killed_at + 12_000, last)
        third = procs.projector()
        await wait_for_checkpoint(db, last, timeout=120)
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=30) == 0
        assert 0 < killed_at < killed_again_at < last

        # Independent of the projector's own code: every event once, nothing doubled.
        assert await db.fetchval("SELECT count(*) FROM playledger.job_events") == len(events)
        assert await db.fetchval("SELECT count(DISTINCT stream_seq) FROM playledger.job_events") == len(
            events
        )
        per_job = {
            r["job_id"]: r["event_count"]
            for r in await db.fetch("SELECT job_id, event_count FROM playledger.jobs")
        }
        assert per_job == count(events)
        assert await db.fetchval("SELECT count(*) FROM playledger.skipped_events") == 2
        await assert_equals_one_go(db, js, database_url)

        status = procs.cli("status")
        assert status.returncode == 0, status.stderr
        assert f"projected stream seq: {last}" in status.stdout
        assert "lag:                  0" in status.stdout
        assert "active projector:     none" in status.stdout
    finally:
        await db.close()


async def test_two_projectors_one_active_and_the_standby_takes_over(
    js: JetStreamContext, procs: Processes, database_url: str
) -> None:
    events = stream_of(150, seed=2, tasks=35)
    head, tail = events[: len(events) * 2 // 3], events[len(events) * 2 // 3 :]
    last = await publish(js, head)
    db = await asyncpg.connect(database_url)
    try:
        a, b = procs.projector(), procs.projector()
        active = await wait_for_active(db, {a.pid, b.pid})
        standby = b if active == a.pid else a
        await wait_for_checkpoint(db, 500, timeout=60)
        assert await active_pid(db) == active, "leadership stays put while the active one lives"
        assert standby.poll() is None

        victim = a if active == a.pid else b
        await kill_when_past(db, victim, 1_500, last)
        assert await wait_for_active(db, {standby.pid}, timeout=15) == standby.pid
        last = await publish(js, tail)
        await wait_for_checkpoint(db, last, timeout=120)

        status = procs.cli("status")
        assert f"active projector:     playledger-projector/{standby.pid}/" in status.stdout

        assert await db.fetchval("SELECT count(*) FROM playledger.job_events") == len(events)
        await assert_equals_one_go(db, js, database_url)
    finally:
        await db.close()


async def test_cli_migrate_and_rebuild(js: JetStreamContext, procs: Processes, database_url: str) -> None:
    migrated = procs.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    every = ", ".join(str(m.version) for m in migrations.migrations())
    assert migrated.stdout.splitlines() == [
        f"applied migrations {every}",
        f"read models at version {READ_MODEL_VERSION}",
    ]
    again = procs.cli("migrate")
    assert again.stdout.splitlines() == [f"read models at version {READ_MODEL_VERSION}"]

    events = stream_of(10, seed=4, tasks=6)
    last = await publish(js, events)
    db = await asyncpg.connect(database_url)
    try:
        proc = procs.projector()
        await wait_for_checkpoint(db, last)
        live = await snapshot(db)
        rebuilt = procs.cli("rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert f"rebuilt from {len(events)} events up to stream sequence {last}" in rebuilt.stdout
        assert await snapshot(db) == live
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        await db.close()

    bad = subprocess.run(
        [sys.executable, "-m", "playledger_cli", "projector", "status"],
        env={k: v for k, v in procs.env.items() if k != "PLAYLEDGER_DATABASE_URL"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 5  # ansible-playbook's 'bad or incomplete options'
    assert "PLAYLEDGER_DATABASE_URL is required but not set" in bad.stderr
