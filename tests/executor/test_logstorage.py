"""The complete log and the artifacts in log storage: a real S3 API (moto's standalone server over
HTTP), the executor streaming parts while the job runs, storage outages and a killed executor."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
from pathlib import Path

import msgspec
import pytest
from moto.server import ThreadedMotoServer
from nats.js import JetStreamContext

from playledger_common.logstore import LogStore, S3Store, log_key, parts_prefix, read_log, read_span
from playledger_common.settings import ExecutorSettings
from playledger_schemas.events import JobSucceeded, ResultData, RunnerEvent
from tests.executor.support import (
    executor_env,
    job_events,
    processes_with,
    running_executor,
    spawn_executor,
    spec,
    stop_process,
    submit,
    wait_process,
    wait_runner_event,
    wait_terminal,
)
from tests.s3 import S3Server, start_s3

pytestmark = pytest.mark.integration
CUT = "y" * 100_000
"""Printed by logged.yml: longer than an event's stdout may be (64 KiB), so cut in the stream."""


def on_s3(settings: ExecutorSettings, endpoint_url: str, bucket: str, **more: object) -> ExecutorSettings:
    return msgspec.structs.replace(
        settings,
        storage_url=f"s3://{bucket}/logs",
        storage_endpoint_url=endpoint_url,
        storage_region="us-east-1",
        storage_path_style=True,
        log_flush_s=0.3,
        **more,
    )


def store_of(endpoint_url: str, bucket: str) -> S3Store:
    return S3Store(
        bucket=bucket, prefix="logs", endpoint_url=endpoint_url, region="us-east-1", path_style=True
    )


async def log_so_far(store: LogStore, job_id: str) -> bytes:
    pieces, _ = await read_log(store, job_id, 1)
    return b"".join([c async for c in read_span(store, pieces, 0, sum(s for _, s in pieces))])


async def wait_log_contains(store: LogStore, job_id: str, text: str, limit_s: float = 30.0) -> bytes:
    deadline = time.monotonic() + limit_s
    while True:
        data = await log_so_far(store, job_id)
        if text.encode() in data:
            return data
        assert time.monotonic() < deadline, data[-500:]
        await asyncio.sleep(0.2)


async def object_bytes(store: LogStore, key: str) -> bytes:
    size = await store.size(key)
    assert size is not None, key
    return b"".join([c async for c in store.open_range(key, 0, size)])


async def test_log_and_artifacts_round_trip_through_s3(
    js: JetStreamContext, settings: ExecutorSettings, s3_server: S3Server, s3_bucket: str
) -> None:
    store = store_of(s3_server.endpoint_url, s3_bucket)
    async with running_executor(on_s3(settings, s3_server.endpoint_url, s3_bucket)):
        await submit(js, "kept", spec("logged.yml", extra_vars={"sleep_s": 3, "release": "2.0"}))
        await wait_runner_event(js, "kept", "runner_on_ok")
        running = await wait_log_contains(store, "kept", CUT)  # readable while the job runs
        assert (await read_log(store, "kept", 1))[1] is False  # from the parts
        done = await wait_terminal(js, "kept")
    assert isinstance(done, JobSucceeded)
    result: ResultData = done.data
    assert result.missing == []
    assert result.log is not None
    assert result.log_uri == f"s3://{s3_bucket}/logs/{log_key('kept', 1)}"
    log = await object_bytes(store, result.log.key)
    assert (result.log.size, result.log.sha256) == (len(log), hashlib.sha256(log).hexdigest())
    assert log.startswith(running)
    assert CUT.encode() in log
    assert b"PLAY RECAP" in log
    cut = [e for e in await job_events(js, "kept") if isinstance(e, RunnerEvent) and e.data.truncated]
    assert cut
    assert CUT not in cut[0].data.stdout  # the stream has it cut, the log whole
    assert await store.listing(parts_prefix("kept", 1)) == []  # parts replaced by the one object

    artifacts = {a.name: a for a in result.artifacts}
    assert {"rc", "status", "artifact_data.json"} <= set(artifacts)
    assert not {n for n in artifacts if n.split("/")[0] in ("command", "env", "job_events", "stdout")}
    for artifact in artifacts.values():
        body = await object_bytes(store, artifact.key)
        assert (artifact.size, artifact.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert json.loads(await object_bytes(store, artifacts["artifact_data.json"].key)) == {"release": "2.0"}
    assert (await object_bytes(store, artifacts["rc"].key)).strip() == b"0"
    await store.close()


async def test_storage_stopped_mid_job_then_restarted_loses_nothing(
    js: JetStreamContext, settings: ExecutorSettings, s3_bucket: str
) -> None:
    s3 = start_s3()
    store = store_of(s3.endpoint_url, s3_bucket)
    await store.ensure()
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    again: ThreadedMotoServer | None = None
    try:
        async with running_executor(on_s3(settings, s3.endpoint_url, s3_bucket)):
            await submit(js, "outage", spec("logged.yml", extra_vars={"sleep_s": 4}))
            await wait_log_contains(store, "outage", "TASK [say a lot]")
            s3.server.stop()  # storage goes away mid-job: the run goes on
            await wait_runner_event(js, "outage", "runner_on_start")
            await asyncio.sleep(2)
            again = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            again.start()  # moto keeps its buckets in this process: the same storage is back
            done = await wait_terminal(js, "outage")
        assert isinstance(done, JobSucceeded)
        assert done.data.missing == []
        assert done.data.log is not None
        assert CUT.encode() in await object_bytes(store, done.data.log.key)
    finally:
        (again or s3.server).stop()
        await store.close()


async def test_storage_down_at_the_end_the_job_still_ends_and_says_what_is_missing(
    js: JetStreamContext, settings: ExecutorSettings, s3_bucket: str
) -> None:
    s3 = start_s3()
    stopped = False
    try:
        async with running_executor(on_s3(settings, s3.endpoint_url, s3_bucket, storage_final_s=1.0)):
            await submit(js, "lost-log", spec("logged.yml", extra_vars={"sleep_s": 2}))
            await wait_runner_event(js, "lost-log", "runner_on_start")
            s3.server.stop()
            stopped = True
            done = await wait_terminal(js, "lost-log")
    finally:
        if not stopped:
            s3.server.stop()
    assert isinstance(done, JobSucceeded)  # the job's outcome does not depend on storage
    assert done.data.log is None
    assert done.data.log_uri is None
    missing = {m.name: m.reason for m in done.data.missing}
    assert "stdout" in missing
    assert "artifact_data.json" in missing
    assert missing["stdout"].startswith("log storage unavailable: S3 ")


async def test_kill_9_of_the_executor_leaves_the_log_up_to_the_crash(
    js: JetStreamContext, settings: ExecutorSettings, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    store = store_of(s3_server.endpoint_url, s3_bucket)
    await store.ensure()
    marker = f"58.{os.getpid()}{int(time.time()) % 1000}"
    env = executor_env(
        {
            "PLAYLEDGER_NATS_URL": settings.nats_url,
            "PLAYLEDGER_PROJECTS_DIR": str(settings.projects_dir),
            "PLAYLEDGER_WORK_DIR": str(settings.work_dir),
            "PLAYLEDGER_EXECUTOR_ID": "crashing",
            "PLAYLEDGER_LOG_FLUSH_S": "0.3",
            **s3_server.bucket_env(s3_bucket),
        }
    )
    log = tmp_path / "crashing.log"
    victim = spawn_executor(env, log)
    try:
        await submit(js, "crashed", spec("sleep.yml", extra_vars={"sleep_s": marker}))
        await wait_process(f"sleep {marker}", limit_s=60)
        before = await wait_log_contains(store, "crashed", "TASK [sleep a while]")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        stop_process(victim, signal.SIGKILL)
        for pid in processes_with(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)
    assert b"PLAY [sleep]" in before
    assert await log_so_far(store, "crashed") == before  # what was shipped stays readable
    assert await store.size(log_key("crashed", 1)) is None  # never finished
    await store.close()
