"""Cancel (running and queued), timeout and graceful shutdown, for real."""

from __future__ import annotations

import asyncio
import random
import time

import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_common.consumers import run_consumer
from playledger_common.settings import ExecutorSettings
from playledger_schemas.events import (
    JobCanceled,
    JobCancelRequested,
    JobQueued,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
    RunnerEvent,
)
from playledger_schemas.subjects import COMMANDS_STREAM
from tests.executor.support import (
    cancel,
    job_events,
    processes_with,
    running_executor,
    spec,
    submit,
    wait_for,
    wait_process,
    wait_runner_event,
    wait_terminal,
)

pytestmark = pytest.mark.integration


def sleep_marker() -> str:
    """A sleep duration unique to this test, so its processes can be found."""
    return f"{random.randint(40, 90)}.{random.randint(100000, 999999)}"


async def assert_gone(marker: str, limit_s: float = 3.0) -> None:
    deadline = time.monotonic() + limit_s
    while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert processes_with(f"sleep {marker}") == []


async def test_cancel_of_a_running_job_stops_the_whole_tree_within_2s(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    marker = sleep_marker()
    async with running_executor(settings):
        await submit(js, "long", spec("sleep.yml", extra_vars={"sleep_s": marker}))
        await wait_runner_event(js, "long", "runner_on_start")
        await wait_process(f"sleep {marker}")  # the task process runs now
        asked = time.monotonic()
        await cancel(js, "long", reason="operator said stop")
        done = await wait_terminal(js, "long", limit_s=10)
        took = time.monotonic() - asked
        await assert_gone(marker, limit_s=0.5)
    assert isinstance(done, JobCanceled)
    print(f"cancel of a running job took {took:.2f}s")
    assert took < 2.0, f"cancel took {took:.2f}s"
    assert done.data.reason == "operator said stop"
    events = await job_events(js, "long")
    requested = [e for e in events if isinstance(e, JobCancelRequested)]
    assert len(requested) == 1
    assert requested[0].attempt == 1
    assert requested[0].data.reason == "operator said stop"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert done.data.last_seq == events[-2].seq
    assert done.data.runner_events == sum(isinstance(e, RunnerEvent) for e in events)


async def test_cancel_of_a_queued_job_ends_it_without_running(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    marker = sleep_marker()
    one_slot = msgspec.structs.replace(settings, concurrency=1)
    async with running_executor(one_slot):
        await submit(js, "blocker", spec("sleep.yml", extra_vars={"sleep_s": marker}))
        await wait_for(js, "blocker", lambda e: isinstance(e, JobStarted | RunnerEvent))
        await submit(js, "waiting", spec("ok.yml"))
        await wait_for(js, "waiting", lambda e: isinstance(e, JobQueued), limit_s=5)
        await cancel(js, "waiting")
        done = await wait_terminal(js, "waiting", limit_s=10)
        await cancel(js, "blocker")
        await wait_terminal(js, "blocker", limit_s=10)
        await assert_gone(marker)
    assert isinstance(done, JobCanceled)
    events = await job_events(js, "waiting")
    assert [type(e) for e in events] == [JobQueued, JobCancelRequested, JobCanceled]
    assert [e.attempt for e in events] == [0, 0, 0]
    assert done.data.reason == "test cancel"


async def test_cancel_published_before_the_executor_starts(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    await submit(js, "early", spec("ok.yml"))
    await cancel(js, "early")
    async with running_executor(settings):
        done = await wait_terminal(js, "early", limit_s=15)
    assert isinstance(done, JobCanceled)
    assert not any(isinstance(e, RunnerEvent) for e in await job_events(js, "early"))


async def test_a_job_over_its_timeout_ends_timed_out(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    marker = sleep_marker()
    async with running_executor(settings):
        await submit(js, "slow", spec("sleep.yml", extra_vars={"sleep_s": marker}, timeout=2))
        await wait_for(js, "slow", lambda e: isinstance(e, JobStarted))
        started = time.monotonic()
        done = await wait_terminal(js, "slow", limit_s=15)
        took = time.monotonic() - started
        await assert_gone(marker)
    assert isinstance(done, JobTimedOut)
    assert done.data.reason == "the job exceeded its timeout"
    print(f"timeout 2s: terminal after {took:.2f}s")
    assert took < 2 + 2.0 + 1.0, f"timed out after {took:.2f}s"  # limit + cancel bound + margin
    assert not any(isinstance(e, JobCancelRequested) for e in await job_events(js, "slow"))


async def test_graceful_shutdown_finishes_short_jobs_and_cancels_the_rest(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    marker = sleep_marker()
    quick = msgspec.structs.replace(settings, shutdown_grace_s=4.0)
    async with running_executor(quick) as service:
        await submit(js, "short", spec("sleep.yml", extra_vars={"sleep_s": "1.0123"}))
        await submit(js, "endless", spec("sleep.yml", extra_vars={"sleep_s": marker}))
        await wait_process("sleep 1.0123")
        await wait_process(f"sleep {marker}")
        service.request_stop()
    # leaving the context waited for run() to return
    short = await wait_terminal(js, "short", limit_s=1)
    endless = await wait_terminal(js, "endless", limit_s=1)
    assert isinstance(short, JobSucceeded)
    assert isinstance(endless, JobCanceled)
    assert endless.data.reason == "executor shutdown"
    await assert_gone(marker)
    info = await js.consumer_info(COMMANDS_STREAM, run_consumer("normal"))
    assert (info.num_ack_pending, info.num_pending) == (0, 0)  # both commands acknowledged
