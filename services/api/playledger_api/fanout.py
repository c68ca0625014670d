"""One shared live consumer per job per API process, feeding every SSE client that watches it.

While at least one client watches a job, one ordered consumer appends the job's events to
a ``Ring`` (each event encoded once); clients read the ring at their own pace and are woken
together when something new arrives (one wake-up per batch of messages, not per message).
The feed never waits for a client: a client that falls below the ring's floor catches up on
its own consumer (``consumer.own_events``) and then reads the ring again. When the last client
leaves, the consumer lingers briefly (a reconnecting EventSource finds it still there), then stops.

A feed that cannot subscribe (NATS busy) retries with the shared policy (``common.retry``).
A feed whose consumer stalls (no message for a heartbeat while the stream has newer events of
the job: a lost connection, a deleted consumer) is resubscribed right after its newest event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from playledger_api.backlog import Ring, feed_floor
from playledger_api.consumer import RENEW_RETRY_S, behind, subscribe
from playledger_api.gate import WriterGate
from playledger_api.inbox import unsubscribe
from playledger_api.metrics import Metrics
from playledger_api.sse import entry
from playledger_common.retry import retried

LINGER_S: Final = 2.0
"""How long a job's consumer outlives its last client."""
WAKE_COST_S: Final = 40e-6
"""Roughly what one client's wake-up costs (the API's write plus the client's read); see ``JobFeed.wake_interval``."""
MAX_WAKE_INTERVAL_S: Final = 0.04
"""Tuned with ``tests/bench/bench_sse.py``: 1,000 clients, 100 events/s (25 ms: p99 167 ms, 40 ms: 128 ms)."""
log: Final = logging.getLogger(__name__)


class JobFeed:
    """A job's shared consumer and ring. Clients read ``ring`` and wait on ``changed()``."""

    def __init__(
        self, js: JetStreamContext, job_id: str, ring: Ring, *, heartbeat_s: float, metrics: Metrics
    ) -> None:
        self.job_id = job_id
        self.ring = ring
        self.clients = 0
        self._js = js
        self._heartbeat_s = heartbeat_s
        self._metrics = metrics
        self._changed = asyncio.Event()
        self._wake_scheduled = False
        self._last_wake = 0.0
        self._heard = False
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._gate = WriterGate(job_id, metrics)
        self._task = asyncio.create_task(self._run(), name=f"sse-feed-{job_id}")

    def changed(self) -> asyncio.Event:
        """Set at the next wake-up: new events, or a heartbeat tick (take it before reading the ring)."""
        return self._changed

    def wake_interval(self) -> float:
        """Least time between two wake-ups of the clients: about what one round of them costs.

        Waking every client per message would mean one write per client per event; waiting
        until the last round is likely served batches the events that arrived meanwhile into one
        write per client, at a latency cost no larger than the round itself (none for a few
        clients, at most ``MAX_WAKE_INTERVAL_S``).
        """
        return min(MAX_WAKE_INTERVAL_S, self.clients * WAKE_COST_S)

    async def _on_message(self, msg: Msg) -> None:
        self._heard = True
        seq = msg.metadata.sequence.stream
        admitted = seq <= self.ring.head or self._gate.admit(seq, msg.data)  # a replay is the ring's business
        if (
            self.ring.append(entry(self.job_id, seq, msg.subject, msg.data, admitted=admitted))
            and not self._wake_scheduled
        ):
            self._wake_scheduled = True
            loop = asyncio.get_running_loop()
            loop.call_at(max(loop.time(), self._last_wake + self.wake_interval()), self._wake)

    def _wake(self) -> None:
        self._wake_scheduled = False
        self._last_wake = asyncio.get_running_loop().time()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _run(self) -> None:
        """Subscribe (retrying while NATS is busy), then tick: keepalives, and a stalled consumer's renewal.

        Clients have no timers of their own: one woken by a tick with nothing new sends a keepalive.
        """
        subscribed = False
        while True:
            if self._subscription is None:
                self._subscription = await self._subscribe()
                if subscribed:
                    self._metrics.sse_resubscribes.inc()
                subscribed = True
            self._heard = False
            await asyncio.sleep(self._heartbeat_s)
            self._wake()
            if not self._heard and await behind(self._js, self.job_id, self.ring.head):
                log.info("SSE feed %s: consumer stalled after %d; resubscribing", self.job_id, self.ring.head)
                await unsubscribe(self._subscription)
                self._subscription = None

    async def _subscribe(self) -> JetStreamContext.PushSubscription:
        """Subscribe right after the ring's head, for as long as NATS is busy (``_not_yet``)."""
        return await retried(
            lambda: subscribe(self._js, self.job_id, self.ring.head, self._on_message),
            self._not_yet,
            attempts=None,
        )

    def _not_yet(self, exc: Exception) -> bool | float:
        """NATS is busy: wake the clients (they send keepalives) and retry after at most a heartbeat."""
        if not isinstance(exc, nats.errors.Error | TimeoutError):
            return False
        log.warning("SSE feed %s: cannot subscribe yet (%s)", self.job_id, type(exc).__name__)
        self._wake()
        return min(RENEW_RETRY_S, self._heartbeat_s)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._subscription is not None:
            await unsubscribe(self._subscription)
            self._subscription = None


class Hub:
    """The process's job feeds, by job id."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        capacity: int,
        heartbeat_s: float,
        metrics: Metrics,
        linger_s: float = LINGER_S,
    ) -> None:
        self._js = js
        self._capacity = capacity
        self._heartbeat_s = heartbeat_s
        self._metrics = metrics
        self._linger_s = linger_s
        self._feeds: dict[str, JobFeed] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._feeds)

    @contextlib.contextmanager
    def watch(self, job_id: str, position: int, last_seq: int) -> Iterator[JobFeed]:
        """Attach a client at ``position`` to the job's feed (started if needed) until the block ends.

        ``last_seq`` is the job's latest event in the stream (0 when none yet).
        """
        feed = self._feeds.get(job_id)
        if feed is None:
            ring = Ring(capacity=self._capacity, floor=feed_floor(position, last_seq, self._capacity))
            feed = JobFeed(self._js, job_id, ring, heartbeat_s=self._heartbeat_s, metrics=self._metrics)
            self._feeds[job_id] = feed
            self._metrics.sse_feeds.inc()
        expiry = self._expiry.pop(job_id, None)
        if expiry is not None:
            expiry.cancel()
        feed.clients += 1
        try:
            yield feed
        finally:
            feed.clients -= 1
            if feed.clients == 0:
                loop = asyncio.get_running_loop()
                self._expiry[job_id] = loop.call_later(self._linger_s, self._expire, job_id)

    def _expire(self, job_id: str) -> None:
        self._expiry.pop(job_id, None)
        feed = self._feeds.get(job_id)
        if feed is None or feed.clients:
            return
        del self._feeds[job_id]
        self._metrics.sse_feeds.dec()
        task = asyncio.create_task(feed.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Stop every feed (the API is shutting down)."""
        for expiry in self._expiry.values():
            expiry.cancel()
        self._expiry.clear()
        feeds = list(self._feeds.values())
        self._feeds.clear()
        self._metrics.sse_feeds.set(0)
        await asyncio.gather(*(feed.close() for feed in feeds), *self._closing)
