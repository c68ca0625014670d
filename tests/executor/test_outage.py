"""A running job survives a NATS outage longer than ``ack_wait`` (issue 11, defects 1 and 3);
a writer fenced by another executor stops (defect 1, second half).

Before: the submit was redelivered to the live executor, which declared its own job lost
(``job.error`` "executor lost"), then kept writing: two terminal events, one runner event lost.
"""

from __future__ import annotations

import asyncio
import os
import signal

import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_cli.embedded import NatsServer
from playledger_common.settings import ExecutorSettings
from playledger_executor.journal import Journal, new_event
from playledger_schemas.events import JobError, JobSucceeded, ResultData, RunnerEvent, is_terminal
from tests.executor.support import (
    job_events,
    running_executor,
    spec,
    submit,
    wait_runner_event,
    wait_terminal,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def assert_succeeded_once(js: JetStreamContext, job_id: str) -> None:
    done = await wait_terminal(js, job_id, limit_s=60)
    await asyncio.sleep(1.0)  # nothing may follow the terminal event
    events = await job_events(js, job_id)
    assert isinstance(done, JobSucceeded), done
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(is_terminal(e) for e in events) == 1
    assert is_terminal(events[-1])
    counters = [e.data.counter for e in events if isinstance(e, RunnerEvent)]
    assert counters == list(range(1, len(counters) + 1))
    assert done.data.runner_events == len(counters)
    assert done.data.rc == 0


@pytest.mark.parametrize("fault", ["sigstop", "kill"])
async def test_an_outage_longer_than_ack_wait_keeps_the_running_job(
    js: JetStreamContext, nats_server: NatsServer, settings: ExecutorSettings, fault: str
) -> None:
    quick = msgspec.structs.replace(settings, ack_wait_s=1.0)
    async with running_executor(quick):
        await submit(js, "through", spec("sleep.yml", extra_vars={"sleep_s": 6}))
        await wait_runner_event(js, "through", "runner_on_start")
        assert nats_server.process is not None
        if fault == "sigstop":
            os.kill(nats_server.process.pid, signal.SIGSTOP)
            await asyncio.sleep(4.0)  # four times ack_wait
            os.kill(nats_server.process.pid, signal.SIGCONT)
        else:
            nats_server.kill()
            await asyncio.sleep(4.0)
            nats_server.start()  # same store and port
        await assert_succeeded_once(js, "through")


async def test_a_fenced_executor_stops_its_run_and_appends_nothing_more(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    """Another executor recorded the attempt lost: the live one's next append is refused, it
    kills the run and never appends a second terminal event."""
    async with running_executor(settings) as executor:
        await submit(js, "fenced", spec("sleep.yml", extra_vars={"sleep_s": 2}))
        await wait_runner_event(js, "fenced", "runner_on_start")
        journal = Journal(js)
        state = await journal.state("fenced")
        lost = new_event(
            JobError,
            job_id="fenced",
            attempt=state.attempt,
            seq=state.seq + 1,
            data=ResultData(reason="executor lost"),
        )
        await journal.append(lost, state.stream_seq)
        deadline = asyncio.get_running_loop().time() + 30
        while "fenced" in executor.runner.running:
            assert asyncio.get_running_loop().time() < deadline, "the fenced run did not stop"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
    events = await job_events(js, "fenced")
    assert events[-1].event_id == lost.event_id
    assert sum(is_terminal(e) for e in events) == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
