"""Executors as real processes: kill -9 mid-job, and two executors sharing one queue."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from pathlib import Path

import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import RetryPolicy
from playledger_schemas.events import (
    JobError,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    RunnerEvent,
    is_terminal,
)
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

pytestmark = pytest.mark.integration


def env_of(settings: ExecutorSettings, **extra: str) -> dict[str, str]:
    return executor_env(
        {
            "PLAYLEDGER_NATS_URL": settings.nats_url,
            "PLAYLEDGER_PROJECTS_DIR": str(settings.projects_dir),
            "PLAYLEDGER_LOGS_DIR": str(settings.logs_dir),
            "PLAYLEDGER_WORK_DIR": str(settings.work_dir),
            "PLAYLEDGER_CANCEL_GRACE_S": "0.5",
            **{f"PLAYLEDGER_{k.upper()}": v for k, v in extra.items()},
        }
    )


async def wait_ready(log: Path, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        await asyncio.sleep(0.1)


async def test_kill_9_mid_job_is_recorded_as_executor_lost(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    """With a policy of one attempt: the job ends as ``error`` "executor lost"."""
    marker = f"57.{os.getpid()}{int(time.time()) % 1000}"
    log = tmp_path / "victim.log"
    env = env_of(settings, executor_id="victim", ack_wait_s="2", projects_dir="/nonexistent", concurrency="7")
    victim = spawn_executor(env, log, "--concurrency", "1", "--projects-dir", str(settings.projects_dir))
    try:
        await wait_ready(log)
        once = RetryPolicy(max_attempts=1)
        await submit(js, "doomed", spec("sleep.yml", retry=once, extra_vars={"sleep_s": marker}))
        await wait_runner_event(js, "doomed", "runner_on_start")
        await wait_process(f"sleep {marker}")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        async with running_executor(msgspec.structs.replace(settings, executor_id="rescuer")):
            done = await wait_terminal(js, "doomed", limit_s=20)
    finally:
        stop_process(victim, signal.SIGKILL)
        for pid in processes_with(f"sleep {marker}"):  # the dead executor's orphaned task
            os.kill(pid, signal.SIGKILL)
    assert isinstance(done, JobError)
    assert done.data.reason == "executor lost"
    assert done.attempt == 1
    events = await job_events(js, "doomed")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert done.data.runner_events == sum(isinstance(e, RunnerEvent) for e in events)
    (started,) = [e for e in events if isinstance(e, JobStarted)]
    assert started.data.executor_id == "victim"
    assert sum(is_terminal(e) for e in events) == 1


async def test_kill_9_mid_job_is_retried_on_another_executor_and_succeeds(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    """The default policy retries ``executor_lost``: attempt 2 runs on the rescuer and succeeds."""
    marker = f"58.{os.getpid()}{int(time.time()) % 1000}"
    log = tmp_path / "victim.log"
    victim = spawn_executor(env_of(settings, executor_id="victim", ack_wait_s="2"), log)
    counter = tmp_path / "lost.count"
    extra_vars = {"counter": str(counter), "succeed_on": 1, "sleep_first_s": marker}
    quick = RetryPolicy(backoff_s=0.5, backoff_max_s=1.0)  # the default causes, a short backoff
    try:
        await wait_ready(log)
        await submit(js, "rescued", spec("flaky.yml", retry=quick, extra_vars=extra_vars))
        await wait_process(f"sleep {marker}")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        async with running_executor(msgspec.structs.replace(settings, executor_id="rescuer")):
            done = await wait_terminal(js, "rescued", limit_s=30)
    finally:
        stop_process(victim, signal.SIGKILL)
        for pid in processes_with(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)
    assert isinstance(done, JobSucceeded)
    assert done.attempt == 2
    events = await job_events(js, "rescued")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [(e.attempt, e.data.executor_id) for e in events if isinstance(e, JobStarted)] == [
        (1, "victim"),
        (2, "rescuer"),
    ]
    (scheduled,) = [e for e in events if isinstance(e, JobRetryScheduled)]
    assert (scheduled.attempt, scheduled.data.cause, scheduled.data.reason) == (
        1,
        "executor_lost",
        "executor lost",
    )
    assert sum(is_terminal(e) for e in events) == 1
    for attempt in (1, 2):
        counters = [e.data.counter for e in events if isinstance(e, RunnerEvent) and e.attempt == attempt]
        assert counters == list(range(1, len(counters) + 1))
    assert counter.read_text().strip() == "2"


async def test_two_executors_share_20_jobs_none_twice_none_lost(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    executors = [
        spawn_executor(env_of(settings, executor_id=name, concurrency="2"), log)
        for name, log in zip(("exec-a", "exec-b"), logs, strict=True)
    ]
    try:
        for log in logs:
            await wait_ready(log)
        jobs = [f"shared-{n:02d}" for n in range(20)]
        for job_id in jobs:
            await submit(js, job_id, spec("ok.yml"))
        finals = [await wait_terminal(js, job_id, limit_s=120) for job_id in jobs]
    finally:
        codes = [stop_process(process) for process in executors]
    assert codes == [0, 0]  # SIGTERM: drained and exited cleanly
    assert all(isinstance(f, JobSucceeded) for f in finals)
    ran_by: collections.Counter[str] = collections.Counter()
    for job_id in jobs:
        events = await job_events(js, job_id)
        started = [e for e in events if isinstance(e, JobStarted)]
        assert len(started) == 1, job_id
        assert sum(is_terminal(e) for e in events) == 1, job_id
        ran_by[started[0].data.executor_id] += 1
    assert set(ran_by) == {"exec-a", "exec-b"}
    assert sum(ran_by.values()) == 20
