"""Every job's lifecycle events (queued, started, cancel requested, terminal) as one SSE stream.

For dashboards that list jobs: a change of any job arrives as it is stored. One ordered push
consumer per client, filtered on the lifecycle subjects, from right after the client's position.
The callback only appends to a bounded queue; if the client is too slow and the queue fills, the
stream ends after what was queued, and the client resumes with ``Last-Event-ID`` exactly where it
stopped — nothing is dropped and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_api.sse import KEEPALIVE, encode_event, sse_event_name
from playledger_schemas.subjects import EVENTS_STREAM, LIFECYCLE_EVENTS, job_id_of_subject, kind_of

CONSUMER_HEARTBEAT_S: Final = 5.0


class _Inbox:
    """Messages in arrival order until the first one that does not fit; after that, none."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=size)
        self.overflowed = False

    async def on_message(self, msg: Msg) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.overflowed = True


def _start(after: int) -> ConsumerConfig:
    """From the client's position, or only what happens from now on for a fresh client."""
    if after > 0:
        return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
    return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)


async def lifecycle_stream(
    js: JetStreamContext, after: int, *, heartbeat_s: float, buffer: int
) -> AsyncIterator[bytes]:
    """SSE bytes: ``id`` = stream sequence, ``event`` = kind (``job.queued``…), ``data`` = the event."""
    inbox = _Inbox(buffer)
    subscription = await js.subscribe(
        LIFECYCLE_EVENTS,
        stream=EVENTS_STREAM,
        cb=inbox.on_message,
        ordered_consumer=True,
        idle_heartbeat=CONSUMER_HEARTBEAT_S,
        config=_start(after),
    )
    last = after
    try:
        while not (inbox.overflowed and inbox.queue.empty()):
            try:
                async with asyncio.timeout(heartbeat_s):
                    msg = await inbox.queue.get()
            except TimeoutError:
                yield KEEPALIVE
                continue
            seq = msg.metadata.sequence.stream
            job_id = job_id_of_subject(msg.subject)
            if seq <= last or job_id is None:  # an ordered-consumer reset replays from its last position
                continue
            last = seq
            yield encode_event(seq, sse_event_name(kind_of(msg.subject, job_id)), msg.data)
    finally:
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()
