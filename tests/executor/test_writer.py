"""The job writer and journal against a real nats-server: order, completeness, dedup, fencing,
and an outage of the server in the middle of a run (issue 11, defects 1 to 3)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from playledger_cli.embedded import NatsServer
from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_stream, events_stream_config
from playledger_executor.errors import ConflictError
from playledger_executor.journal import Journal, msg_id, new_event, subject_of
from playledger_executor.writer import MAX_BATCH_EVENTS, FencedError, JobWriter
from playledger_schemas.codec import encode
from playledger_schemas.events import (
    JobError,
    JobQueued,
    JobSucceeded,
    QueuedData,
    ResultData,
    RunnerEvent,
    RunnerEventData,
    is_terminal,
)
from playledger_schemas.subjects import EVENTS_STREAM, event_subject, job_events_filter
from tests.executor.support import job_events, spec

pytestmark = pytest.mark.integration

TOO_MANY_OPEN_BATCHES = 10210
"""nats-server's answer to a batch opened beyond the stream's limit of open atomic batches."""


async def queued(journal: Journal, job_id: str) -> int:
    event = new_event(JobQueued, job_id=job_id, attempt=0, seq=1, data=QueuedData(spec=spec("ok.yml")))
    return await journal.append(event, expected_stream_seq=0)


def runner_event(job_id: str, counter: int, seq: int) -> RunnerEvent:
    data = RunnerEventData(
        event="runner_on_ok", counter=counter, uuid=f"u{counter}", stdout=f"line {counter}"
    )
    return new_event(RunnerEvent, job_id=job_id, attempt=1, seq=seq, data=data)


async def add_runner_events(writer: JobWriter, job_id: str, count: int) -> None:
    for _ in range(count):
        writer.runner_events += 1
        await writer.add(lambda seq, c=writer.runner_events: runner_event(job_id, c, seq))


async def add_batch(writer: JobWriter, job_id: str, count: int) -> None:
    """``count`` runner events in one ``add_all``: atomic batches."""
    first = writer.runner_events + 1
    writer.runner_events += count
    await writer.add_all(
        [lambda seq, c=counter: runner_event(job_id, c, seq) for counter in range(first, first + count)]
    )


async def succeed(writer: JobWriter, job_id: str) -> None:
    result = ResultData(runner_events=writer.runner_events, last_seq=writer.last_seq)
    await writer.add(lambda seq: new_event(JobSucceeded, job_id=job_id, attempt=1, seq=seq, data=result))


def assert_gap_free_with_one_terminal(events: list[object], runner_events: int) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # type: ignore[attr-defined]
    counters = [e.data.counter for e in events if isinstance(e, RunnerEvent)]
    assert counters == list(range(1, runner_events + 1))
    assert sum(is_terminal(e) for e in events) == 1  # type: ignore[arg-type]
    assert is_terminal(events[-1])  # type: ignore[arg-type]


async def test_events_then_one_terminal_in_order(nc: Client, js: JetStreamContext) -> None:
    journal = Journal(js)
    writer = JobWriter(nc, "w", next_seq=2, stream_seq=await queued(journal, "w"))
    await add_runner_events(writer, "w", 300)
    await succeed(writer, "w")
    events = await job_events(js, "w")
    assert len(events) == 302
    assert_gap_free_with_one_terminal(events, 300)
    assert events[-1].data.last_seq == 301
    assert (await js.stream_info(EVENTS_STREAM)).state.messages == 302


async def test_a_resent_event_whose_first_try_landed_is_stored_once(nc: Client, js: JetStreamContext) -> None:
    """The ack of the first try was lost: the server refuses the re-send (its expected sequence
    is stale); the writer recognises its own event as the job's last message and goes on."""
    journal = Journal(js)
    stream_seq = await queued(journal, "d")
    writer = JobWriter(nc, "d", next_seq=2, stream_seq=stream_seq)
    event = runner_event("d", 1, 2)
    await js.publish(subject_of(event), encode(event), headers={"Nats-Msg-Id": msg_id(event)})
    writer.runner_events = 1
    await writer.add(lambda _seq: event)
    await add_runner_events(writer, "d", 1)
    await succeed(writer, "d")
    events = await job_events(js, "d")
    assert [e.event_id for e in events[1:2]] == [event.event_id]
    assert_gap_free_with_one_terminal(events, 2)


@pytest.mark.parametrize(("adding", "more"), [(add_runner_events, 1), (add_batch, 4)], ids=["event", "batch"])
async def test_a_writer_is_fenced_once_another_executor_ended_the_attempt(
    nc: Client, js: JetStreamContext, adding: Callable[[JobWriter, str, int], Awaitable[None]], more: int
) -> None:
    """A fenced append stores nothing: neither a single event nor any event of a batch."""
    journal = Journal(js)
    writer = JobWriter(nc, "race", next_seq=2, stream_seq=await queued(journal, "race"))
    await adding(writer, "race", 3)
    # another executor decided this attempt was lost and ended the job
    state = await journal.state("race")
    lost = new_event(JobError, job_id="race", attempt=1, seq=5, data=ResultData(reason="executor lost"))
    await journal.append(lost, state.stream_seq)
    with pytest.raises(FencedError):
        await adding(writer, "race", more)
    with pytest.raises(FencedError):  # and stays fenced: not even the terminal event lands
        await succeed(writer, "race")
    events = await job_events(js, "race")
    assert [type(e) for e in events] == [JobQueued, RunnerEvent, RunnerEvent, RunnerEvent, JobError]


def test_msg_ids_of_lifecycle_and_runner_events_never_collide() -> None:
    """Defect 1: ``job.error`` "executor lost" took the Msg-Id of the runner event at its seq."""
    lost = new_event(JobError, job_id="j", attempt=1, seq=7, data=ResultData(reason="executor lost"))
    assert msg_id(lost) != msg_id(runner_event("j", 6, 7))
    assert msg_id(lost) == "j:1:7:job.error"


async def test_first_event_only_once(js: JetStreamContext) -> None:
    journal = Journal(js)
    await queued(journal, "once")
    with pytest.raises(ConflictError):
        await journal.append(
            new_event(JobQueued, job_id="once", attempt=0, seq=1, data=QueuedData(spec=spec("fail.yml"))), 0
        )


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batches"])
async def test_events_written_through_a_nats_server_restart_are_stored_in_order_once(
    nc: Client, js: JetStreamContext, nats_server: NatsServer, batched: bool
) -> None:
    """Defects 2 and 3: a publish that failed during the outage is re-sent before anything after
    it, and the terminal event sent while the server is down lands once it is back."""
    journal = Journal(js)
    writer = JobWriter(nc, "o", next_seq=2, stream_seq=await queued(journal, "o"))
    await add_runner_events(writer, "o", 20)
    nats_server.kill()
    during = asyncio.create_task((add_batch if batched else add_runner_events)(writer, "o", 10))
    await asyncio.sleep(3.0)  # several tries time out while the server is away
    assert not during.done()
    nats_server.start()  # same store and port
    await asyncio.wait_for(during, timeout=60)
    nats_server.kill()
    terminal = asyncio.create_task(succeed(writer, "o"))
    await asyncio.sleep(2.5)
    nats_server.start()
    await asyncio.wait_for(terminal, timeout=60)
    events = await job_events(js, "o")
    assert_gap_free_with_one_terminal(events, 30)
    stored = (await js.stream_info(EVENTS_STREAM, subjects_filter=job_events_filter("o"))).state.messages
    assert stored == 32


async def test_a_batch_is_stored_whole_in_order_and_split_at_the_limits(
    nc: Client, js: JetStreamContext
) -> None:
    journal = Journal(js)
    writer = JobWriter(nc, "b", next_seq=2, stream_seq=await queued(journal, "b"))
    await add_batch(writer, "b", MAX_BATCH_EVENTS * 2 + 3)  # three batches
    await add_batch(writer, "b", 1)  # a single event: a plain fenced publish
    await succeed(writer, "b")
    events = await job_events(js, "b")
    assert_gap_free_with_one_terminal(events, MAX_BATCH_EVENTS * 2 + 4)
    batches = set()
    for stored_seq in range(2, len(events)):
        raw = await js.get_msg(EVENTS_STREAM, stored_seq)
        batches.add((raw.headers or {}).get("Nats-Batch-Id"))
    assert len(batches - {None}) == 3


async def test_a_resent_batch_whose_first_try_landed_is_stored_once(nc: Client, js: JetStreamContext) -> None:
    """Same as a lost ack of one event, for a batch: a second writer in the first one's state
    re-sends the very same events; the server refuses them and the writer sees they are its own."""
    journal = Journal(js)
    stream_seq = await queued(journal, "rb")
    builds = [lambda seq, c=counter: runner_event("rb", c, seq) for counter in range(1, 6)]
    events = [build(seq) for seq, build in enumerate(builds, start=2)]
    same = [lambda _seq, e=event: e for event in events]
    first = JobWriter(nc, "rb", next_seq=2, stream_seq=stream_seq)
    await first.add_all(same)
    again = JobWriter(nc, "rb", next_seq=2, stream_seq=stream_seq)
    await again.add_all(same)
    assert again.last_stream_seq == first.last_stream_seq
    again.runner_events = 5
    await succeed(again, "rb")
    assert_gap_free_with_one_terminal(await job_events(js, "rb"), 5)


async def test_without_atomic_batches_each_event_is_its_own_append(nc: Client, js: JetStreamContext) -> None:
    """An events stream made before ``allow_atomic`` (until ``playledger streams migrate``)."""
    journal = Journal(js)
    writer = JobWriter(nc, "nb", next_seq=2, stream_seq=await queued(journal, "nb"), atomic_batches=False)
    await add_batch(writer, "nb", 7)
    await succeed(writer, "nb")
    events = await job_events(js, "nb")
    assert_gap_free_with_one_terminal(events, 7)
    for stored_seq in range(2, len(events) + 1):
        assert "Nats-Batch-Id" not in ((await js.get_msg(EVENTS_STREAM, stored_seq)).headers or {})


async def test_an_append_while_no_server_stores_the_stream_waits_for_it(nc: Client, nats_url: str) -> None:
    """``no responders`` on a publish (nats-py's ``NoStreamResponseError``) is what a client sees
    while a cluster elects the events stream's new leader: the writer retries it, as it retries
    a timeout, instead of failing the job (found by ``tests/faults/test_cluster.py``)."""
    writer = JobWriter(nc, "later", next_seq=1, stream_seq=0)
    queued_event = new_event(
        JobQueued, job_id="later", attempt=0, seq=1, data=QueuedData(spec=spec("ok.yml"))
    )
    append = asyncio.create_task(writer.add(lambda seq: queued_event))
    await asyncio.sleep(0.5)  # it tries (and is told "no responders") before the stream exists
    assert not append.done()
    await ensure_stream(nc.jetstream(), events_stream_config(CommonSettings(nats_url=nats_url)))
    await append
    assert [e.seq for e in await job_events(nc.jetstream(), "later")] == [1]


async def test_a_batch_beyond_the_open_batches_the_server_allows_is_tried_again(
    nc: Client, js: JetStreamContext
) -> None:
    """nats-server keeps at most 50 atomic batches open per stream (50 jobs appending at once).
    The batch opened beyond them is refused, its commit answers "incomplete batch", and the
    writer tries again with a fresh batch until there is room: here once the 50 held open below
    time out (10 s), instead of failing the job."""
    for n in range(50):
        held = {"Nats-Batch-Id": f"held-{n}", "Nats-Batch-Sequence": "1"}
        await nc.publish(event_subject(f"held-{n}", "runner.held"), b"{}", headers=held)
    refused = await nc.request(
        event_subject("held-50", "runner.held"),
        b"{}",
        timeout=5,
        headers={"Nats-Batch-Id": "held-50", "Nats-Batch-Sequence": "1"},
    )
    assert json.loads(refused.data)["error"]["err_code"] == TOO_MANY_OPEN_BATCHES  # no room now
    writer = JobWriter(nc, "room", next_seq=2, stream_seq=await queued(Journal(js), "room"))
    await asyncio.wait_for(add_batch(writer, "room", 5), timeout=60)
    await succeed(writer, "room")
    assert_gap_free_with_one_terminal(await job_events(js, "room"), 5)
