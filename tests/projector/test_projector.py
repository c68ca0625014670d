"""The projector in process, against a real nats-server and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec
import nats.errors
import pytest
from nats.js import JetStreamContext

from playledger_cli.embedded import NatsServer
from playledger_common.readmodel import READ_MODEL_VERSION
from playledger_common.settings import ProjectorSettings
from playledger_projector import migrations
from playledger_projector.applier import Applier
from playledger_projector.consumer import StreamReader
from playledger_projector.lag import measure, read_checkpoint
from playledger_projector.locks import LOCK_CLASS, REBUILD
from playledger_projector.metrics import ProjectorMetrics
from playledger_projector.rebuild import RebuildError, rebuild, replay_into, swap_in
from playledger_projector.service import Projector
from playledger_projector.store import CheckpointMovedError, Store
from playledger_projector.views import BatchChanges
from playledger_schemas.codec import encode
from playledger_schemas.events import JobFailed, JobSucceeded, event_kind
from playledger_schemas.status import is_terminal_status
from playledger_schemas.subjects import event_subject
from tests.projector.factory import (
    JobBuilder,
    checkpoint,
    count,
    msg_id,
    publish,
    publish_raw,
    realistic_job,
    snapshot,
    stream_of,
    wait_for_checkpoint,
)
from tests.waiting import until

pytestmark = pytest.mark.integration

HOSTS = ["web1", "web2"]


@pytest.fixture(name="settings")
def fx_settings(nats_url: str, database_url: str) -> ProjectorSettings:
    return ProjectorSettings(nats_url=nats_url, database_url=database_url, batch_size=200)


@pytest.fixture(name="db")
async def fx_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@asynccontextmanager
async def running(settings: ProjectorSettings, **options: float) -> AsyncIterator[Projector]:
    projector = Projector(settings, poll_interval=0.1, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    try:
        yield projector
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_a_stream_is_projected_completely(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection
) -> None:
    events = stream_of(12, tasks=8)
    last = await publish(js, events)
    async with running(settings):
        await wait_for_checkpoint(db, last)
    per_job = count(events)
    rows = {r["job_id"]: r for r in await db.fetch("SELECT * FROM playledger.jobs")}
    assert {j: r["event_count"] for j, r in rows.items()} == per_job
    assert all(is_terminal_status(r["status"]) for r in rows.values())
    assert all(r["terminal_seq"] == r["last_seq"] == per_job[j] for j, r in rows.items())
    assert await db.fetchval("SELECT count(*) FROM playledger.job_events") == len(events)
    assert await db.fetchval("SELECT count(*) FROM playledger.skipped_events") == 0
    seqs = await db.fetch(
        "SELECT job_id, array_agg(seq ORDER BY seq) AS s FROM playledger.job_events GROUP BY job_id"
    )
    assert all(r["s"] == list(range(1, per_job[r["job_id"]] + 1)) for r in seqs)
    # Host summaries of finished runs equal ansible's own stats (playbook_on_stats).
    stats_events = await db.fetch(
        "SELECT job_id, data FROM playledger.job_events WHERE event = 'playbook_on_stats' ORDER BY stream_seq"
    )
    assert stats_events
    for row in stats_events:
        stats = msgspec.json.decode(row["data"])["event_data"]
        hosts = {
            h["host"]: h
            for h in await db.fetch("SELECT * FROM playledger.job_hosts WHERE job_id = $1", row["job_id"])
        }
        for host in stats["processed"]:
            assert hosts[host]["ok"] == stats["ok"].get(host, 0)
            assert hosts[host]["changed"] == stats["changed"].get(host, 0)
            assert hosts[host]["failures"] == stats["failures"].get(host, 0)
            assert hosts[host]["unreachable"] == stats["dark"].get(host, 0)
            assert hosts[host]["skipped"] == stats["skipped"].get(host, 0)
            assert hosts[host]["ignored"] == stats["ignored"].get(host, 0)
    lag = await measure(db, js)
    assert (lag.projected_seq, lag.stream_last_seq, lag.lag) == (last, last, 0)


async def test_unknown_event_types_are_recorded_and_skipped(
    js: JetStreamContext,
    settings: ProjectorSettings,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    await publish(js, b.events)
    unknown = b'{"type": "job.paused.v1", "job_id": "j1", "seq": 3}'
    skipped_seq = await publish_raw(js, "playledger.append.job.j1.job.paused", unknown)
    b.events.clear()
    b.result(JobSucceeded, runner_status="successful", rc=0)
    last = await publish(js, b.events)
    with caplog.at_level(logging.WARNING, logger="playledger_projector"):
        async with running(settings):
            await wait_for_checkpoint(db, last)
    row = await db.fetchrow("SELECT * FROM playledger.skipped_events")
    assert row["stream_seq"] == skipped_seq
    assert row["subject"] == "playledger.append.job.j1.job.paused"
    assert row["reason"] == "unknown event type 'job.paused.v1' (written by a newer version?)"
    assert bytes(row["payload"]) == unknown
    assert await db.fetchval("SELECT status FROM playledger.jobs WHERE job_id = 'j1'") == "successful"
    assert any("job.paused.v1" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_events_that_break_the_writer_rules_are_counted_and_not_folded(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection
) -> None:
    """A seq gap or anything after the terminal event (a forged ``job.succeeded``) is never truth."""
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    queued, started = b.events
    failed = b.result(JobFailed, runner_status="failed", rc=2).events[-1]
    forged = b.result(JobSucceeded, runner_status="successful", rc=0).events[-1]
    async with running(settings):
        gap = await publish_raw(js, event_subject("j1", "job.started"), encode(started))  # seq 2 before 1
        await wait_for_checkpoint(db, gap)
        assert await db.fetchval("SELECT count(*) FROM playledger.jobs") == 0
        await wait_for_checkpoint(db, await publish(js, [queued, started, failed, forged]))
    job = await db.fetchrow("SELECT * FROM playledger.jobs")
    assert job["status"] == "failed"
    assert (job["event_count"], job["last_seq"]) == (3, 3)
    skipped = [
        r["reason"]
        for r in await db.fetch("SELECT reason FROM playledger.skipped_events ORDER BY stream_seq")
    ]
    assert skipped == [
        "writer rule broken: seq 2 leaves a gap (the job's last seq is 0)",
        "writer rule broken: seq 4 comes after the job's terminal event",
    ]


async def test_redelivered_and_replayed_events_change_nothing(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection
) -> None:
    events = stream_of(3, tasks=4)
    last = await publish(js, events)
    async with running(settings):
        await wait_for_checkpoint(db, last)
    before = await snapshot(db)

    # Replay the whole stream into the live tables: everything is at or below the checkpoint.
    conn = await asyncpg.connect(settings.database_url)
    try:
        applier = Applier(Store(conn, "playledger"), await read_checkpoint(conn))
        reader = StreamReader(js, 0, batch_size=100, linger=0.01)
        await reader.start()
        replayed = 0
        while replayed < last:
            batch = await reader.next_batch(wait=5)
            assert batch
            replayed += len(batch)
            assert await applier.apply(batch) == 0
        await reader.stop()
        # A writer that is behind the checkpoint cannot write at all.
        stale = Store(conn, "playledger")
        with pytest.raises(CheckpointMovedError):
            await stale.write(
                BatchChanges(
                    jobs=[],
                    host_upserts=[],
                    host_deletes=[],
                    events=[],
                    skipped=[],
                    first_stream_seq=5,
                    last_stream_seq=6,
                ),
                expected_checkpoint=4,
            )
    finally:
        await conn.close()
    assert await snapshot(db) == before

    # The same events published again outside the dedup window (new msg ids, new stream seqs).
    again = await publish_again(js, events[:5])
    async with running(settings):
        await wait_for_checkpoint(db, again)
    after = await snapshot(db)
    for table in ("jobs", "job_hosts", "job_events"):
        assert after[table] == before[table], table
    skipped = await db.fetch("SELECT reason FROM playledger.skipped_events ORDER BY stream_seq")
    assert [r["reason"] for r in skipped] == [
        f"duplicate: job {e.job_id} seq {e.seq} is already projected" for e in events[:5]
    ]


async def publish_again(js: JetStreamContext, events: list[JobSucceeded] | list) -> int:  # type: ignore[type-arg]
    last = 0
    for e in events:
        ack = await js.publish(
            f"playledger.append.job.{e.job_id}.again",
            encode(e),
            headers={"Nats-Msg-Id": f"again-{e.event_id}"},
        )
        last = ack.seq
    return last


async def test_a_job_is_terminal_only_once_all_its_events_are_queryable(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection
) -> None:
    events = stream_of(30, seed=11, tasks=10)
    observed_terminal = observed_open = 0
    done = asyncio.Event()

    async def watch(conn: asyncpg.Connection) -> None:
        nonlocal observed_terminal, observed_open
        while not done.is_set():
            rows = await conn.fetch(
                "SELECT j.job_id, j.status, j.terminal_seq, j.last_seq,"
                " (SELECT count(*) FROM playledger.job_events e WHERE e.job_id = j.job_id) AS n,"
                " (SELECT max(seq) FROM playledger.job_events e WHERE e.job_id = j.job_id) AS top"
                " FROM playledger.jobs j"
            )
            for r in rows:
                if is_terminal_status(r["status"]):
                    observed_terminal += 1
                    assert r["n"] == r["top"] == r["terminal_seq"] == r["last_seq"], dict(r)
                else:
                    observed_open += 1
                    assert r["terminal_seq"] is None
            await asyncio.sleep(0.005)

    small = msgspec.structs.replace(settings, batch_size=40)
    async with running(small, linger=0.0) as projector:
        await asyncio.wait_for(projector.active.wait(), 10)
        watch_conn = await asyncpg.connect(settings.database_url)
        watcher = asyncio.create_task(watch(watch_conn))
        last = 0
        for start in range(0, len(events), 300):
            last = await publish(js, events[start : start + 300])
            await asyncio.sleep(0.02)
        await wait_for_checkpoint(db, last)
        done.set()
        await watcher
        await watch_conn.close()
    assert observed_terminal > 0
    assert observed_open > 0, "the watcher never saw a job in flight"
    assert await db.fetchval("SELECT count(*) FROM playledger.jobs WHERE terminal_seq IS NULL") == 0


async def test_rebuild_equals_the_live_projection_and_the_live_projector_resumes(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection
) -> None:
    rng = random.Random(5)
    events = stream_of(15, tasks=6)
    await publish_raw(js, "playledger.append.job.x.job.new", b'{"type": "job.new.v2"}')
    last = await publish(js, events)
    async with running(settings) as projector:
        await wait_for_checkpoint(db, last)
        live = await snapshot(db)
        conn = await asyncpg.connect(settings.database_url)
        try:
            progress = ProjectorMetrics()
            report = await rebuild(conn, js, progress=progress)
            await db.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, REBUILD)
            with pytest.raises(RebuildError, match="another rebuild is running"):
                await rebuild(conn, js)
            await db.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, REBUILD)
        finally:
            await conn.close()
        assert report.last_stream_seq == last
        assert report.events == len(events) + 1
        rebuilt = progress.registry.get_sample_value
        assert (
            rebuilt("playledger_projector_rebuild_seq")
            == rebuilt("playledger_projector_rebuild_target_seq")
            == last
        )
        counted = projector.metrics.registry.get_sample_value
        # The live projector counts a commit once it has settled it (just after PostgreSQL shows it).
        await until(lambda: counted("playledger_projector_checkpoint_seq") == last)
        assert counted("playledger_projector_events_skipped_total", {"reason": "unknown_type"}) == 1
        assert counted("playledger_projector_events_applied_total") == len(events)
        assert await snapshot(db) == live, "the rebuilt schema swapped in equals the live one, row for row"
        assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'playledger_%'") == 0
        # The live projector keeps going in the swapped-in schema, from its checkpoint.
        more = [e for n in range(3) for e in realistic_job(f"after{n}", rng, tasks=3)]
        last = await publish(js, more)
        await wait_for_checkpoint(db, last)
        assert projector.active.is_set()
    total = await db.fetchval("SELECT count(*) FROM playledger.job_events")
    assert total == len(events) + len(more)
    fresh = await asyncpg.connect(settings.database_url)
    try:
        await replay_into(fresh, js, "reference")
        assert await snapshot(fresh, "reference") == await snapshot(db)
    finally:
        await fresh.close()


async def test_an_event_the_database_refuses_is_recorded_not_retried_forever(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection
) -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.runner("runner_on_ok", host="web1", res={})
    b.counter = 2**40  # beyond PostgreSQL's integer
    b.runner("runner_on_ok", host="web2", res={})
    b.result(JobSucceeded, rc=0)
    last = await publish(js, b.events)
    async with running(settings):
        await wait_for_checkpoint(db, last)
    assert [r["seq"] for r in await db.fetch("SELECT seq FROM playledger.job_events ORDER BY seq")] == [
        1,
        2,
        3,
        5,
    ]
    reason = await db.fetchval("SELECT reason FROM playledger.skipped_events")
    assert reason.startswith("cannot store event: ")
    assert await db.fetchval("SELECT status FROM playledger.jobs") == "successful"


async def test_migrations_are_applied_once(db: asyncpg.Connection) -> None:
    assert await migrations.current_version(db) == 0
    assert await migrations.apply(db) == [m.version for m in migrations.migrations()]
    assert await migrations.apply(db) == []
    assert await migrations.current_version(db) == READ_MODEL_VERSION
    assert await checkpoint(db) == 0
    tables = {
        r["tablename"]
        for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'playledger'")
    }
    assert tables == {
        "jobs",
        "job_hosts",
        "job_events",
        "projection_checkpoint",
        "skipped_events",
        "schema_migrations",
    }


async def test_the_projector_carries_on_after_a_nats_server_restart(
    js: JetStreamContext, settings: ProjectorSettings, db: asyncpg.Connection, nats_server: NatsServer
) -> None:
    rng = random.Random(9)
    before = [e for n in range(3) for e in realistic_job(f"before{n}", rng, tasks=3)]
    after = [e for n in range(3) for e in realistic_job(f"after{n}", rng, tasks=3)]
    async with running(settings, stall_after=1.0):
        await wait_for_checkpoint(db, await publish(js, before))
        nats_server.stop()
        nats_server.start()
        last = 0
        for event in after:
            for _ in range(100):  # until the test's own client has reconnected
                try:
                    ack = await js.publish(
                        event_subject(event.job_id, event_kind(event)),
                        encode(event),
                        headers={"Nats-Msg-Id": msg_id(event)},
                        timeout=1.0,
                    )
                    last = ack.seq
                    break
                except (nats.errors.Error, TimeoutError):
                    await asyncio.sleep(0.2)
        assert last == len(before) + len(after)
        await wait_for_checkpoint(db, last, timeout=30)
    assert await db.fetchval("SELECT count(*) FROM playledger.job_events") == len(before) + len(after)


async def test_a_rebuild_while_events_keep_arriving_loses_and_doubles_nothing(
    js: JetStreamContext,
    settings: ProjectorSettings,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = stream_of(60, seed=21, tasks=6)
    first, rest = events[: len(events) // 3], events[len(events) // 3 :]
    await publish(js, first)

    async def keep_publishing() -> int:
        last = 0
        for start in range(0, len(rest), 40):
            last = await publish(js, rest[start : start + 40])
            await asyncio.sleep(0.05)
        return last

    async with running(msgspec.structs.replace(settings, batch_size=50)):
        publisher = asyncio.create_task(keep_publishing())
        conn = await asyncpg.connect(settings.database_url)
        try:
            await asyncio.sleep(0.2)
            report = await rebuild(conn, js, batch_size=300)
        finally:
            await conn.close()
        last = await publisher
        assert report.last_stream_seq < last, "the rebuild should finish while events still arrive"
        await wait_for_checkpoint(db, last)
    assert await db.fetchval("SELECT count(*) FROM playledger.job_events") == len(events)
    fresh = await asyncpg.connect(settings.database_url)
    try:
        await replay_into(fresh, js, "reference")
        assert await snapshot(fresh, "reference") == await snapshot(db)
    finally:
        await fresh.close()


async def test_after_a_swap_behind_it_the_live_projector_resumes_from_the_new_checkpoint(
    js: JetStreamContext,
    settings: ProjectorSettings,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(13)
    jobs = [realistic_job(f"s{n}", rng, tasks=4) for n in range(6)]
    with caplog.at_level(logging.INFO, logger="playledger_projector"):
        async with running(settings):
            built_upto = await publish(js, [e for job in jobs[:2] for e in job])
            await wait_for_checkpoint(db, built_upto)
            conn = await asyncpg.connect(settings.database_url)
            try:
                await replay_into(conn, js, "playledger_rebuild")  # built now, swapped in later
                ahead = await publish(js, [e for job in jobs[2:4] for e in job])
                await wait_for_checkpoint(db, ahead)
                await swap_in(conn, "playledger_rebuild", "playledger")
            finally:
                await conn.close()
            assert await checkpoint(db) == built_upto, "the swapped-in schema is behind the live projector"
            last = await publish(js, [e for job in jobs[4:] for e in job])
            await wait_for_checkpoint(db, last)
    moved = [r.getMessage() for r in caplog.records if "resuming from the database" in r.getMessage()]
    assert moved == [f"checkpoint is {built_upto}, expected {ahead}: resuming from the database"]
    assert await db.fetchval("SELECT count(*) FROM playledger.job_events") == sum(len(j) for j in jobs)
    fresh = await asyncpg.connect(settings.database_url)
    try:
        await replay_into(fresh, js, "reference")
        assert await snapshot(fresh, "reference") == await snapshot(db)
    finally:
        await fresh.close()
