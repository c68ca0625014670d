"""Live job progress over SSE, served from JetStream (never by polling PostgreSQL).

One ordered push consumer per client, filtered on the job's subjects and starting right
after the client's ``Last-Event-ID``; the SSE ``id`` is the stream sequence, so a
reconnecting client resumes exactly where it stopped, and replay flows into live events on
the same consumer (no backfill/live race).

Slow clients lose nothing and cost bounded memory: the consumer's callback only ever
appends to a bounded queue (it never blocks, so nats-py never has a reason to drop); when the
queue is full the consumer is unsubscribed at once and its last messages are ignored. Once
the client has drained the queue, a new consumer starts right after the last event sent. The client falls behind, then catches up. Anything at or below the last
sequence sent (an ordered-consumer reset) is skipped, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_api.metrics import Metrics
from playledger_schemas.subjects import EVENTS_STREAM, job_events_filter

TERMINAL_KINDS: Final = frozenset(
    {"job.succeeded", "job.failed", "job.canceled", "job.timed_out", "job.error", "job.rejected"}
)
END_EVENT: Final = "end"
CONSUMER_HEARTBEAT_S: Final = 5.0
RENEW_RETRY_S: Final = 1.0
log: Final = logging.getLogger(__name__)


class EndData(msgspec.Struct, frozen=True, kw_only=True):
    """Data of the final ``end`` event: the job is terminal and every event was sent."""

    job_id: str
    outcome: str
    """The terminal event's kind, e.g. ``job.succeeded``."""
    last_event_id: int


def subject_kind(subject: str, job_id: str) -> str:
    """``playledger.evt.job.<id>.runner.runner_on_ok`` -> ``runner.runner_on_ok``."""
    return subject.removeprefix(f"playledger.evt.job.{job_id}.")


def sse_event_name(kind: str) -> str:
    """The SSE ``event:``: lifecycle kinds as they are (``job.started``), runner events by name."""
    return kind.removeprefix("runner.")


KEEPALIVE: Final = b": keepalive\n\n"
MAX_BATCH: Final = 256
"""Events written to the client in one chunk when it has fallen behind (fewer, larger writes)."""


def encode_event(seq: int, name: str, data: bytes) -> bytes:
    """One SSE message; JSON never needs a raw newline, but a pretty-printed payload still stays one event."""
    if b"\n" in data or b"\r" in data:
        data = b"\ndata: ".join(data.splitlines())
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, name.encode(), data)


def end_message(job_id: str, kind: str, seq: int) -> bytes:
    data = msgspec.json.encode(EndData(job_id=job_id, outcome=kind, last_event_id=seq))
    return b"event: %s\ndata: %s\n\n" % (END_EVENT.encode(), data)


class _Feed:
    """One ordered consumer's messages in a bounded queue. Full means overflowed: the consumer is
    unsubscribed at once (so the server stops pushing) and replaced once the client has drained the queue.
    """

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=size)
        self.overflowed = False
        self.subscription: JetStreamContext.PushSubscription | None = None
        self.closing: asyncio.Task[None] | None = None

    async def on_message(self, msg: Msg) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.subscription is not None:
                self.closing = asyncio.create_task(_close(self.subscription))

    async def close(self) -> None:
        if self.closing is not None:
            await self.closing
        elif self.subscription is not None:
            await _close(self.subscription)


async def _subscribe(js: JetStreamContext, job_id: str, after: int, feed: _Feed) -> None:
    """An ordered push consumer on the job's subjects, from stream sequence ``after + 1``."""
    if after > 0:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    feed.subscription = await js.subscribe(
        job_events_filter(job_id),
        stream=EVENTS_STREAM,
        cb=feed.on_message,
        ordered_consumer=True,
        idle_heartbeat=CONSUMER_HEARTBEAT_S,
        config=config,
    )


async def _close(subscription: JetStreamContext.PushSubscription) -> None:
    with contextlib.suppress(nats.errors.Error):
        await subscription.unsubscribe()


async def _renew(js: JetStreamContext, job_id: str, after: int, old: _Feed, buffer: int) -> _Feed:
    """Replace a feed by a fresh consumer starting right after ``after``."""
    await old.close()
    feed = _Feed(buffer)
    await _subscribe(js, job_id, after, feed)
    return feed


async def _behind(js: JetStreamContext, job_id: str, last_sent: int) -> bool:
    """The stream holds an event of the job after ``last_sent`` that the consumer has not delivered."""
    try:
        last = await js.get_last_msg(EVENTS_STREAM, job_events_filter(job_id), direct=True)
    except (nats.errors.Error, TimeoutError):
        return False
    return (last.seq or 0) > last_sent


async def job_event_stream(
    js: JetStreamContext,
    job_id: str,
    after: int,
    *,
    heartbeat_s: float,
    buffer: int,
    metrics: Metrics,
) -> AsyncIterator[bytes]:
    """Every event of ``job_id`` with stream sequence > ``after``, live, until the terminal one (SSE bytes).

    A consumer that overflowed, or that stalled (idle while the stream has newer events of the
    job: a lost connection, a failed ordered-consumer reset), is replaced from the last event sent.
    """
    feed = _Feed(buffer)  # not subscribed yet: the loop subscribes (and retries when NATS is busy)
    metrics.sse_clients.inc()
    last_sent = after
    stalled, subscribed = True, False
    try:
        while True:
            if stalled or (feed.overflowed and feed.queue.empty()):
                try:
                    feed = await _renew(js, job_id, last_sent, feed, buffer)
                except (nats.errors.Error, TimeoutError) as exc:
                    log.warning("SSE %s: cannot subscribe yet (%s)", job_id, type(exc).__name__)
                    stalled = True
                    yield KEEPALIVE
                    await asyncio.sleep(RENEW_RETRY_S)
                    continue
                if subscribed:
                    metrics.sse_resubscribes.inc()
                stalled, subscribed = False, True
            batch: list[Msg] = []
            if feed.queue.empty():
                try:
                    async with asyncio.timeout(heartbeat_s):
                        batch.append(await feed.queue.get())
                except TimeoutError:
                    stalled = feed.queue.empty() and await _behind(js, job_id, last_sent)
                    yield KEEPALIVE
                    continue
            while len(batch) < MAX_BATCH and not feed.queue.empty():
                batch.append(feed.queue.get_nowait())
            chunk: list[bytes] = []
            finished = False
            for msg in batch:
                seq = msg.metadata.sequence.stream
                if seq <= last_sent:
                    continue  # an ordered-consumer reset replayed it
                kind = subject_kind(msg.subject, job_id)
                chunk.append(encode_event(seq, sse_event_name(kind), msg.data))
                last_sent = seq
                if kind in TERMINAL_KINDS:
                    chunk.append(end_message(job_id, kind, seq))
                    finished = True
                    break
            if chunk:
                metrics.sse_events.inc(len(chunk) - finished)
                yield b"".join(chunk)
            if finished:
                return
    finally:
        metrics.sse_clients.dec()
        await feed.close()
