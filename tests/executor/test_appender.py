"""The appender's group commit against a real nats-server: a burst lingers into one append, a
full batch and the run's end do not wait for the linger, and order holds throughout."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from playledger_executor.appender import Appender
from playledger_executor.journal import Journal
from playledger_executor.writer import MAX_BATCH_EVENTS, JobWriter
from playledger_schemas.events import RunnerEvent
from tests.executor.support import job_events
from tests.executor.test_writer import queued, runner_event
from tests.waiting import until

pytestmark = pytest.mark.integration

LONG_LINGER_S = 3600.0
"""Longer than any test runs: whatever gets stored did not wait for it."""


async def writer_for(nc: Client, js: JetStreamContext, job_id: str, appends: list[float]) -> JobWriter:
    stream_seq = await queued(Journal(js), job_id)
    return JobWriter(nc, job_id, next_seq=2, stream_seq=stream_seq, on_stored=appends.append)


async def add(appender: Appender, job_id: str, counters: range) -> None:
    for counter in counters:
        await appender.add(lambda seq, c=counter: runner_event(job_id, c, seq))


async def test_a_burst_lingers_into_one_append_in_order(nc: Client, js: JetStreamContext) -> None:
    appends: list[float] = []
    appender = Appender(await writer_for(nc, js, "burst", appends), linger_s=0.3)
    await add(appender, "burst", range(1, 41))
    await until(lambda: len(appends) >= 1, timeout=30)  # the linger ran out: stored, still open
    await appender.close()
    assert len(appends) == 1
    events = await job_events(js, "burst")
    assert [e.seq for e in events] == list(range(1, 42))
    assert [e.data.counter for e in events if isinstance(e, RunnerEvent)] == list(range(1, 41))


async def test_the_end_of_the_run_does_not_wait_for_the_linger(nc: Client, js: JetStreamContext) -> None:
    appends: list[float] = []
    appender = Appender(await writer_for(nc, js, "end", appends), linger_s=LONG_LINGER_S)
    await add(appender, "end", range(1, 4))
    await asyncio.wait_for(appender.close(), timeout=30)
    assert [e.seq for e in await job_events(js, "end")] == [1, 2, 3, 4]


async def test_a_full_batch_goes_without_waiting(nc: Client, js: JetStreamContext) -> None:
    appends: list[float] = []
    appender = Appender(await writer_for(nc, js, "full", appends), linger_s=LONG_LINGER_S)
    await add(appender, "full", range(1, MAX_BATCH_EVENTS + 1))
    await until(lambda: len(appends) >= 1, timeout=30)  # stored while the appender stays open
    await add(appender, "full", range(MAX_BATCH_EVENTS + 1, MAX_BATCH_EVENTS + 3))
    await appender.close()
    counters = [e.data.counter for e in await job_events(js, "full") if isinstance(e, RunnerEvent)]
    assert counters == list(range(1, MAX_BATCH_EVENTS + 3))
