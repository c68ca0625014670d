"""``run_at``: a job waits on JetStream's message scheduler, not on a timer in a process (real
nats-server >= 2.12, ansible-runner). It survives restarts and runs once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from nats.js import JetStreamContext

from playledger_cli.embedded import NatsServer
from playledger_common.settings import ExecutorSettings
from playledger_schemas.codec import encode
from playledger_schemas.commands import SubmitJob
from playledger_schemas.events import JobCanceled, JobQueued, JobStarted, JobSucceeded, is_terminal
from playledger_schemas.subjects import submit_subject
from tests.executor.support import cancel, job_events, running_executor, spec, wait_for, wait_terminal

pytestmark = pytest.mark.integration


async def submit_at(js: JetStreamContext, job_id: str, run_at: datetime) -> None:
    command = SubmitJob(job_id=job_id, spec=spec("ok.yml"), run_at=run_at)
    await js.publish(
        submit_subject("normal", job_id), encode(command), headers={"Nats-Msg-Id": f"submit:{job_id}"}
    )


async def test_a_job_3s_ahead_starts_after_its_time_through_restarts_and_runs_once(
    js: JetStreamContext, settings: ExecutorSettings, nats_server: NatsServer
) -> None:
    run_at = datetime.now(UTC) + timedelta(seconds=3)
    async with running_executor(settings):
        await submit_at(js, "later", run_at)
        queued = await wait_for(js, "later", lambda e: isinstance(e, JobQueued), limit_s=10)
    assert isinstance(queued, JobQueued)
    assert queued.data.run_at == run_at
    nats_server.kill()  # everything down while the job is scheduled: nats-server too
    nats_server.start()  # same store and port
    await asyncio.sleep(0.5)
    assert not [e for e in await job_events(js, "later") if isinstance(e, JobStarted)]
    async with running_executor(settings):
        done = await wait_terminal(js, "later", limit_s=30)
    assert isinstance(done, JobSucceeded)
    events = await job_events(js, "later")
    (started,) = [e for e in events if isinstance(e, JobStarted)]  # once
    assert run_at <= started.time <= run_at + timedelta(seconds=1.5)
    assert sum(is_terminal(e) for e in events) == 1


async def test_a_scheduled_job_is_cancellable_and_its_schedule_then_runs_nothing(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    run_at = datetime.now(UTC) + timedelta(seconds=2)
    async with running_executor(settings):
        await submit_at(js, "never", run_at)
        await wait_for(js, "never", lambda e: isinstance(e, JobQueued), limit_s=10)
        await cancel(js, "never", "not today")
        done = await wait_terminal(js, "never", limit_s=10)
        assert isinstance(done, JobCanceled)
        await asyncio.sleep((run_at - datetime.now(UTC)).total_seconds() + 1.5)  # the schedule fires
    events = await job_events(js, "never")
    assert not [e for e in events if isinstance(e, JobStarted)]
    assert events[-1] == done
