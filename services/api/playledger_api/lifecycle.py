"""Every job's lifecycle events (queued, started, cancel requested, terminal) as one SSE stream.

For dashboards that list jobs: a change of any job arrives as it is stored. One ordered push
consumer per client, filtered on the lifecycle subjects, from right after the client's position.
The callback only appends to a bounded queue; if the client is too slow and the queue fills, the
stream ends after what was queued, and the client resumes with ``Last-Event-ID`` exactly where it
stopped — nothing is dropped and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_api.inbox import CONSUMER_HEARTBEAT_S, Inbox
from playledger_api.sse import KEEPALIVE, encode_event, sse_event_name
from playledger_common import ordered
from playledger_schemas.subjects import LIFECYCLE_EVENTS, job_id_of_subject, kind_of


def _start(after: int) -> ConsumerConfig:
    """From the client's position, or only what happens from now on for a fresh client."""
    return ordered.after(after) if after > 0 else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)


async def lifecycle_stream(
    js: JetStreamContext, after: int, *, heartbeat_s: float, buffer: int
) -> AsyncIterator[bytes]:
    """SSE bytes: ``id`` = stream sequence, ``event`` = kind (``job.queued``…), ``data`` = the event."""
    inbox = Inbox(buffer)
    inbox.subscription = await ordered.follow(
        js, LIFECYCLE_EVENTS, inbox.on_message, config=_start(after), idle_heartbeat_s=CONSUMER_HEARTBEAT_S
    )
    last = after
    try:
        while not inbox.drained:
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
        await inbox.close()
