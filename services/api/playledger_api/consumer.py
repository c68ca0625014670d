"""One client's own ordered consumer: replay of a finished job, or catching up with the shared feed.

An ordered push consumer filtered on the job's subjects, from right after the client's
position. Its callback only ever appends to a bounded queue (it never blocks, so nats-py never
has a reason to drop); when the queue is full the consumer is unsubscribed at once and its last
messages are ignored. Once the client has drained the queue, a new consumer starts right after
the last event sent. The client falls behind, then catches up. A consumer that stalls (idle
while the stream has newer events of the job) is replaced the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from playledger_api.backlog import MAX_BATCH, Piece, take
from playledger_api.gate import WriterGate
from playledger_api.inbox import CONSUMER_HEARTBEAT_S, Inbox
from playledger_api.metrics import Metrics
from playledger_api.sse import entry
from playledger_common import ordered
from playledger_schemas.subjects import EVENTS_STREAM, job_events_filter

RENEW_RETRY_S: Final = 1.0
log: Final = logging.getLogger(__name__)


async def subscribe(
    js: JetStreamContext,
    job_id: str,
    after: int,
    callback: Callable[[Msg], object],
) -> JetStreamContext.PushSubscription:
    """An ordered push consumer on the job's subjects, from stream sequence ``after + 1``."""
    return await ordered.follow(
        js,
        job_events_filter(job_id),
        callback,  # type: ignore[arg-type]
        config=ordered.after(after),
        idle_heartbeat_s=CONSUMER_HEARTBEAT_S,
    )


async def behind(js: JetStreamContext, job_id: str, position: int) -> bool:
    """The stream holds an event of the job after ``position`` (so a consumer idle there has stalled)."""
    try:
        last = await js.get_last_msg(EVENTS_STREAM, job_events_filter(job_id), direct=True)
    except (nats.errors.Error, TimeoutError):
        return False
    return (last.seq or 0) > position


async def _renew(js: JetStreamContext, job_id: str, after: int, old: Inbox, size: int) -> Inbox:
    """Replace a queue by a fresh consumer starting right after ``after``."""
    await old.close()
    fresh = Inbox(size)
    fresh.subscription = await subscribe(js, job_id, after, fresh.on_message)
    return fresh


async def own_events(
    js: JetStreamContext,
    job_id: str,
    after: int,
    *,
    heartbeat_s: float,
    buffer: int,
    metrics: Metrics,
    enough: Callable[[int], bool] = lambda _position: False,
) -> AsyncGenerator[Piece | None, None]:
    """The job's events after ``after`` from this client's own consumer; ``None`` = idle (send a keepalive).

    Ends after the terminal event, or as soon as ``enough(position)`` says the client may
    continue elsewhere (the shared feed now covers it).
    """
    feed = Inbox(buffer)  # not subscribed yet: the loop subscribes (and retries when NATS is busy)
    gate = WriterGate(job_id, metrics)
    last_sent = after
    stalled, subscribed = True, False
    try:
        while True:
            if stalled or (feed.drained):
                try:
                    feed = await _renew(js, job_id, last_sent, feed, buffer)
                except (nats.errors.Error, TimeoutError) as exc:
                    log.warning("SSE %s: cannot subscribe yet (%s)", job_id, type(exc).__name__)
                    stalled = True
                    yield None
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
                    if enough(last_sent):
                        return
                    stalled = feed.queue.empty() and await behind(js, job_id, last_sent)
                    yield None
                    continue
            while len(batch) < MAX_BATCH and not feed.queue.empty():
                batch.append(feed.queue.get_nowait())
            entries = [
                entry(
                    job_id,
                    seq := msg.metadata.sequence.stream,
                    msg.subject,
                    msg.data,
                    admitted=seq <= last_sent or gate.admit(seq, msg.data),
                )
                for msg in batch
            ]
            piece = take(entries, last_sent)  # an ordered-consumer reset may replay what was sent
            if piece is not None:
                last_sent = piece.last
                yield piece
                if piece.finished or enough(last_sent):
                    return
    finally:
        await feed.close()
