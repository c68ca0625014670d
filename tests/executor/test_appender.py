"""The appender's group commit against a real nats-server: what queues up together is one append,
what queues while an append is on its way is the next one, and order holds throughout."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from playledger_executor.appender import Appender
from playledger_executor.journal import Journal
from playledger_executor.writer import JobWriter
from playledger_schemas.events import RunnerEvent
from tests.executor.support import job_events
from tests.executor.test_writer import queued, runner_event

pytestmark = pytest.mark.integration


async def writer_for(nc: Client, js: JetStreamContext, job_id: str, appends: list[float]) -> JobWriter:
    stream_seq = await queued(Journal(js), job_id)
    return JobWriter(nc, job_id, next_seq=2, stream_seq=stream_seq, on_stored=appends.append)


async def add(appender: Appender, job_id: str, counters: range) -> None:
    for counter in counters:
        await appender.add(lambda seq, c=counter: runner_event(job_id, c, seq))


async def test_what_one_read_brings_is_one_append_in_order(nc: Client, js: JetStreamContext) -> None:
    appends: list[float] = []
    appender = Appender(await writer_for(nc, js, "burst", appends))
    await add(appender, "burst", range(1, 41))
    await appender.close()
    assert len(appends) == 1
    events = await job_events(js, "burst")
    assert [e.seq for e in events] == list(range(1, 42))
    assert [e.data.counter for e in events if isinstance(e, RunnerEvent)] == list(range(1, 41))


async def test_events_added_during_an_append_go_together_in_the_next(
    nc: Client, js: JetStreamContext
) -> None:
    appends: list[float] = []
    appender = Appender(await writer_for(nc, js, "group", appends))
    await add(appender, "group", range(1, 2))
    await asyncio.sleep(0)  # the store task takes event 1 and waits for its append's ack
    await add(appender, "group", range(2, 31))
    await appender.close()
    assert len(appends) == 2
    counters = [e.data.counter for e in await job_events(js, "group") if isinstance(e, RunnerEvent)]
    assert counters == list(range(1, 31))
