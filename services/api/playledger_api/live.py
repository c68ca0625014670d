"""One SSE client's stream: every event of a job after its resume point, exactly once, in order.

A client watching a job live attaches to the job's shared feed FIRST (from then on nothing is
missed: the feed holds every event after its floor), then, if its position is below the floor
(it resumes from further back), replays the gap on its own consumer until it reaches the floor,
and continues from the feed. A client that falls below the floor later (too slow for the ring)
does the same: catches up on its own, then reads the feed again. Whatever the source, events
at or below the last one sent are skipped (``backlog.take``). Pending events go out in one
chunk per write. A finished job is replayed on the client's own consumer (nothing to share).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from nats.js import JetStreamContext

from playledger_api.backlog import Piece
from playledger_api.consumer import own_events
from playledger_api.fanout import Hub, JobFeed
from playledger_api.metrics import Metrics
from playledger_api.sse import KEEPALIVE


async def job_event_stream(
    js: JetStreamContext,
    hub: Hub | None,
    job_id: str,
    after: int,
    *,
    last_seq: int,
    heartbeat_s: float,
    buffer: int,
    metrics: Metrics,
) -> AsyncIterator[bytes]:
    """SSE bytes of every event of ``job_id`` after ``after`` until the terminal one (then ``end``).

    ``hub`` is ``None`` for a job that has finished already; ``last_seq`` is the job's latest
    event in the stream (0 when none yet).
    """
    metrics.sse_clients.inc()
    try:
        if hub is None:
            replay = own_events(js, job_id, after, heartbeat_s=heartbeat_s, buffer=buffer, metrics=metrics)
            async with aclosing(replay):
                async for piece in replay:
                    yield _sent(piece, metrics)
            return
        with hub.watch(job_id, after, last_seq) as feed:
            follow = _follow(js, feed, after, heartbeat_s=heartbeat_s, buffer=buffer, metrics=metrics)
            async with aclosing(follow):
                async for chunk in follow:
                    yield chunk
    finally:
        metrics.sse_clients.dec()


async def _follow(
    js: JetStreamContext, feed: JobFeed, position: int, *, heartbeat_s: float, buffer: int, metrics: Metrics
) -> AsyncGenerator[bytes, None]:
    ring = feed.ring
    woken = False
    while True:
        if not ring.covers(position):
            metrics.sse_catchups.inc()
            catch_up = own_events(
                js,
                feed.job_id,
                position,
                heartbeat_s=heartbeat_s,
                buffer=buffer,
                metrics=metrics,
                enough=ring.covers,
            )
            async with aclosing(catch_up):
                async for piece in catch_up:
                    yield _sent(piece, metrics)
                    if piece is not None:
                        position = piece.last
                        if piece.finished:
                            return
            continue
        changed = feed.changed()
        piece = ring.after(position)
        if piece is None:
            if woken:
                yield KEEPALIVE  # a heartbeat tick, nothing new
            await changed.wait()
            woken = True
            continue
        woken = False
        yield _sent(piece, metrics)
        position = piece.last
        if piece.finished:
            return


def _sent(piece: Piece | None, metrics: Metrics) -> bytes:
    if piece is None:
        return KEEPALIVE
    metrics.sse_events.inc(piece.count)
    return piece.chunk
