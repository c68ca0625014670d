"""``depends_on``: a chain runs in order; a failed link cancels what depends on it; unknown ids
are rejected at submit (real nats-server, ansible-runner)."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.codec import encode
from playledger_schemas.commands import DependsPolicy, SubmitJob
from playledger_schemas.events import (
    JobCanceled,
    JobFailed,
    JobQueued,
    JobRejected,
    JobStarted,
    JobSucceeded,
)
from playledger_schemas.subjects import submit_subject
from tests.executor.support import job_events, running_executor, spec, wait_for, wait_terminal

pytestmark = pytest.mark.integration


async def submit_after(
    js: JetStreamContext,
    job_id: str,
    playbook: str,
    depends_on: list[str],
    policy: DependsPolicy = "success",
) -> None:
    command = SubmitJob(job_id=job_id, spec=spec(playbook), depends_on=depends_on, depends_policy=policy)
    await js.publish(
        submit_subject("normal", job_id), encode(command), headers={"Nats-Msg-Id": f"submit:{job_id}"}
    )


async def started_at(js: JetStreamContext, job_id: str) -> JobStarted:
    (started,) = [e for e in await job_events(js, job_id) if isinstance(e, JobStarted)]
    return started


async def test_a_three_job_chain_runs_in_order(js: JetStreamContext, settings: ExecutorSettings) -> None:
    async with running_executor(settings):  # concurrency 2: waiting jobs hold no slot
        await submit_after(js, "link-a", "ok.yml", [])
        await submit_after(js, "link-b", "ok.yml", ["link-a"])
        await submit_after(js, "link-c", "ok.yml", ["link-b"])
        queued = await wait_for(js, "link-c", lambda e: isinstance(e, JobQueued), limit_s=10)
        assert isinstance(queued, JobQueued)
        assert queued.data.depends_on == ["link-b"]
        ends = {
            job_id: await wait_terminal(js, job_id, limit_s=60) for job_id in ("link-a", "link-b", "link-c")
        }
    assert all(isinstance(e, JobSucceeded) for e in ends.values())
    assert (await started_at(js, "link-b")).time > ends["link-a"].time
    assert (await started_at(js, "link-c")).time > ends["link-b"].time


async def test_a_failed_middle_job_cancels_the_last_with_the_reason(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    async with running_executor(settings):
        await submit_after(js, "first", "ok.yml", [])
        await submit_after(js, "middle", "fail.yml", ["first"])
        await submit_after(js, "last", "ok.yml", ["middle"])
        await submit_after(js, "anyway", "ok.yml", ["middle"], policy="completion")
        last = await wait_terminal(js, "last", limit_s=60)
        anyway = await wait_terminal(js, "anyway", limit_s=60)
    assert isinstance(await wait_terminal(js, "middle"), JobFailed)
    assert isinstance(last, JobCanceled)
    assert last.data.reason == "dependency middle failed"
    assert not [e for e in await job_events(js, "last") if isinstance(e, JobStarted)]
    assert isinstance(anyway, JobSucceeded)  # completion: it ran once middle ended, however


async def test_an_unknown_dependency_is_rejected_naming_it(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    async with running_executor(settings):
        await submit_after(js, "orphan", "ok.yml", ["nobody"])
        rejected = await wait_terminal(js, "orphan", limit_s=10)
    assert isinstance(rejected, JobRejected)
    assert [(e.path, e.message) for e in rejected.data.errors] == [
        ("$.depends_on[0]", "no job 'nobody': a job may depend only on jobs submitted before it")
    ]
