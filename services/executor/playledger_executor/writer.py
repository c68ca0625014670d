"""The running job's event writer: sequence numbers, pipelined publishes, completeness.

Runner events are published with ``publish_async`` inside a bounded window, never one round
trip at a time; ``Nats-Msg-Id`` de-duplicates a retried publish. ``finish`` appends the
terminal event only after every earlier publish is acknowledged, with optimistic concurrency
on the last acknowledged stream sequence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, TypeAlias

from nats.js import JetStreamContext
from nats.js.api import PubAck

from playledger_common.retry import retrying
from playledger_executor.journal import Journal, msg_id, subject_of
from playledger_schemas.codec import encode
from playledger_schemas.events import JobEvent
from playledger_schemas.subjects import EVENTS_STREAM

log: Final = logging.getLogger(__name__)

WINDOW: Final = 512
RETRIES: Final = 3
ACK_TIMEOUT_S: Final = 10.0

Builder: TypeAlias = Callable[[int], JobEvent]
"""Builds the event for a given job sequence number."""


class PublishError(Exception):
    """An event could not be stored after retries; the job cannot be completed honestly."""


class JobWriter:
    """Single writer of one job attempt: every event goes through ``add`` in order."""

    def __init__(self, js: JetStreamContext, journal: Journal, *, next_seq: int, stream_seq: int) -> None:
        self.js = js
        self.journal = journal
        self.next_seq = next_seq
        self.last_stream_seq = stream_seq
        self.runner_events = 0
        self._lock = asyncio.Lock()
        self._pending: list[tuple[asyncio.Future[PubAck], str, bytes, dict[str, str]]] = []

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    async def add(self, build: Builder) -> JobEvent:
        """Build the event at the next sequence (``build(seq)``) and publish it, pipelined."""
        async with self._lock:
            event = build(self.next_seq)
            self.next_seq += 1
            subject, payload = subject_of(event), encode(event)
            headers = {"Nats-Msg-Id": msg_id(event)}
            future = await self.js.publish_async(
                subject, payload, headers=dict(headers), stream=EVENTS_STREAM
            )
            self._pending.append((future, subject, payload, headers))
            if len(self._pending) >= WINDOW:
                await self._settle()
            return event

    async def flush(self) -> None:
        async with self._lock:
            await self._settle()

    async def _settle(self) -> None:
        """Wait for every pending ack; republish (same msg id) whatever failed or never answered."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        await asyncio.wait([f for f, *_ in pending], timeout=ACK_TIMEOUT_S)
        for future, subject, payload, headers in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                ack = future.result()
            else:
                error = future.exception() if future.done() and not future.cancelled() else "no ack in time"
                future.cancel()
                ack = await self._retry(subject, payload, headers, error)
            self.last_stream_seq = max(self.last_stream_seq, ack.seq)

    async def _retry(self, subject: str, payload: bytes, headers: dict[str, str], error: object) -> PubAck:
        """Re-publish with the same msg id (stored once); any failure is retried, then reported."""
        log.warning("publish of %s failed (%s); retrying", headers["Nats-Msg-Id"], error)
        try:
            async for attempt in retrying(Exception, attempts=RETRIES):
                with attempt:
                    return await self.js.publish(
                        subject, payload, headers=dict(headers), stream=EVENTS_STREAM
                    )
        except Exception as exc:  # noqa: BLE001 - reported as what it means for the job
            error = exc
        msg = f"event {headers['Nats-Msg-Id']} could not be stored: {error}"
        raise PublishError(msg)

    async def finish(self, build: Builder) -> JobEvent:
        """Append the terminal event after all earlier ones are acknowledged (OCC on the last)."""
        async with self._lock:
            await self._settle()
            event = build(self.next_seq)
            self.last_stream_seq = await self.journal.append(event, self.last_stream_seq)
            self.next_seq += 1
            return event
