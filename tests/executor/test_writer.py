"""The job writer and journal against a real nats-server: order, completeness, dedup, OCC."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from playledger_executor.errors import ConflictError
from playledger_executor.journal import Journal, new_event, subject_of
from playledger_executor.writer import WINDOW, JobWriter
from playledger_schemas.codec import encode
from playledger_schemas.events import (
    JobError,
    JobQueued,
    JobSucceeded,
    QueuedData,
    ResultData,
    RunnerEvent,
    RunnerEventData,
)
from playledger_schemas.subjects import EVENTS_STREAM
from tests.executor.support import job_events, spec

pytestmark = pytest.mark.integration


async def queued(journal: Journal, job_id: str) -> int:
    event = new_event(JobQueued, job_id=job_id, attempt=0, seq=1, data=QueuedData(spec=spec("ok.yml")))
    return await journal.append(event, expected_stream_seq=0)


def runner_event(job_id: str, counter: int, seq: int) -> RunnerEvent:
    data = RunnerEventData(
        event="runner_on_ok", counter=counter, uuid=f"u{counter}", stdout=f"line {counter}"
    )
    return new_event(RunnerEvent, job_id=job_id, attempt=1, seq=seq, data=data)


async def test_pipelined_events_then_one_terminal_in_order(js: JetStreamContext) -> None:
    journal = Journal(js)
    stream_seq = await queued(journal, "w")
    writer = JobWriter(js, journal, next_seq=2, stream_seq=stream_seq)
    count = 2 * WINDOW + 17  # crosses the window twice
    for counter in range(1, count + 1):
        writer.runner_events += 1
        await writer.add(lambda seq, c=counter: runner_event("w", c, seq))
    result = ResultData(runner_events=writer.runner_events, last_seq=writer.last_seq)
    await writer.finish(lambda seq: new_event(JobSucceeded, job_id="w", attempt=1, seq=seq, data=result))

    events = await job_events(js, "w")
    assert len(events) == count + 2
    assert [e.seq for e in events] == list(range(1, count + 3))
    assert [e.data.counter for e in events[1:-1] if isinstance(e, RunnerEvent)] == list(range(1, count + 1))
    assert isinstance(events[-1], JobSucceeded)
    assert events[-1].data.last_seq == count + 1
    assert (await js.stream_info(EVENTS_STREAM)).state.messages == count + 2


async def test_a_retried_publish_is_stored_once(js: JetStreamContext) -> None:
    journal = Journal(js)
    stream_seq = await queued(journal, "d")
    writer = JobWriter(js, journal, next_seq=2, stream_seq=stream_seq)
    event = await writer.add(lambda seq: runner_event("d", 1, seq))
    await writer.flush()
    headers = {"Nats-Msg-Id": "d:1:2"}
    ack = await writer._retry(subject_of(event), encode(event), headers, "simulated lost ack")
    assert ack.duplicate
    assert len(await job_events(js, "d")) == 2


async def test_terminal_append_refuses_when_another_writer_appended(js: JetStreamContext) -> None:
    journal = Journal(js)
    stream_seq = await queued(journal, "race")
    writer = JobWriter(js, journal, next_seq=2, stream_seq=stream_seq)
    await writer.add(lambda seq: runner_event("race", 1, seq))
    await writer.flush()
    # another executor decided this attempt was lost and ended the job
    state = await journal.state("race")
    lost = new_event(JobError, job_id="race", attempt=1, seq=3, data=ResultData(reason="executor lost"))
    await journal.append(lost, state.stream_seq)
    with pytest.raises(ConflictError):
        await writer.finish(
            lambda seq: new_event(JobSucceeded, job_id="race", attempt=1, seq=seq, data=ResultData())
        )
    events = await job_events(js, "race")
    assert [type(e) for e in events] == [JobQueued, RunnerEvent, JobError]


async def test_first_event_only_once(js: JetStreamContext) -> None:
    journal = Journal(js)
    await queued(journal, "once")
    with pytest.raises(ConflictError):
        await journal.append(
            new_event(JobQueued, job_id="once", attempt=0, seq=1, data=QueuedData(spec=spec("fail.yml"))), 0
        )
