"""The running job's event writer: one writer per attempt, gap-free, in order, fenced.

Every append — ``job.started``, each runner event, the terminal event — carries
``Nats-Expected-Last-Subject-Sequence`` for the whole job (``…-Subject: playledger.append.job.<id>.>``)
set to the stream sequence of the writer's previous append. So:

- **order through retries**: event ``k+1`` is sent only after ``k`` is stored; a publish that
  failed is re-sent (same ``Nats-Msg-Id``) before anything after it;
- **one writer**: once anyone else appended to the job (``job.error`` "executor lost" by another
  executor), every further append of this writer is refused (err 10071) and the writer is
  ``FencedError``: its run must stop;
- **retried until it lands**: a timeout, a missing responder or a disconnect is retried with
  backoff for as long as the executor lives (the caller cancels the task to give up).

The server checks the expected sequence before de-duplication, so a re-sent event whose first
try was stored (its ack lost) is refused with 10071 too: the writer then reads the job's last
message and, if it is byte-for-byte its own event, takes that as the ack.

The cost: one JetStream round trip per event (not pipelined), measured by
``tests/bench/bench_overhead.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, TypeAlias

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from playledger_common.retry import retrying
from playledger_executor.errors import ExecutorError
from playledger_executor.journal import WRONG_LAST_SEQUENCE, msg_id, subject_of
from playledger_schemas.codec import encode
from playledger_schemas.events import JobEvent
from playledger_schemas.subjects import EVENTS_STREAM, job_events_filter

log: Final = logging.getLogger(__name__)

ACK_TIMEOUT_S: Final = 2.0
"""One try; after a timeout the same event is re-sent (a NATS outage is outlived, not failed)."""
BACKOFF_INITIAL_S: Final = 0.05
BACKOFF_MAX_S: Final = 1.0
"""Waits between tries (``playledger_common.retry``): from 50 ms up to 1 s, for as long as it takes."""

Builder: TypeAlias = Callable[[int], JobEvent]
"""Builds the event for a given job sequence number."""

TRANSIENT: Final = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)


def _retriable(exc: Exception) -> bool:
    """A try that may succeed later: no answer, no server, or a server error (5xx)."""
    if isinstance(exc, APIError):
        return (exc.code or 0) >= 500 and exc.err_code != WRONG_LAST_SEQUENCE
    return isinstance(exc, TRANSIENT)


class PublishError(ExecutorError):
    """The server refused an event for good (not a transient failure); the run cannot go on."""


class FencedError(ExecutorError):
    """Another writer appended to this job: this attempt's writer must stop."""


class JobWriter:
    """Single writer of one job attempt: every event goes through ``add``, one at a time."""

    def __init__(self, js: JetStreamContext, job_id: str, *, next_seq: int, stream_seq: int) -> None:
        self.js = js
        self.job_id = job_id
        self.next_seq = next_seq
        self.last_stream_seq = stream_seq
        """What the next append expects: the job's last stream sequence (0: no event yet)."""
        self.runner_events = 0
        self.fenced = False
        self._lock = asyncio.Lock()

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    async def add(self, build: Builder) -> JobEvent:
        """Build the event at the next sequence (``build(seq)``) and store it; return it stored.

        Raises ``FencedError`` if another writer appended to the job, ``PublishError`` if the server
        refuses the event for good; retries anything else until it lands.
        """
        async with self._lock:
            if self.fenced:
                msg = f"job {self.job_id}: another writer took over"
                raise FencedError(msg)
            event = build(self.next_seq)
            try:
                self.last_stream_seq = await self._store(event)
            except FencedError:
                self.fenced = True
                raise
            self.next_seq += 1
            return event

    async def _store(self, event: JobEvent) -> int:
        subject, payload = subject_of(event), encode(event)
        headers = {
            "Nats-Msg-Id": msg_id(event),
            "Nats-Expected-Last-Subject-Sequence": str(self.last_stream_seq),
            "Nats-Expected-Last-Subject-Sequence-Subject": job_events_filter(self.job_id),
        }
        async for attempt in retrying(
            _retriable, attempts=None, wait_initial_s=BACKOFF_INITIAL_S, wait_max_s=BACKOFF_MAX_S
        ):
            with attempt:
                return await self._try(subject, payload, headers)
        raise AssertionError("unreachable: retrying() re-raises the last failure")  # noqa: EM101

    async def _try(self, subject: str, payload: bytes, headers: dict[str, str]) -> int:
        try:
            ack = await self.js.publish(
                subject, payload, timeout=ACK_TIMEOUT_S, stream=EVENTS_STREAM, headers=dict(headers)
            )
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                stored = await self._stored_as(payload)
                if stored is not None:
                    return stored  # an earlier try landed; its ack was lost
                msg = f"job {self.job_id}: another writer appended ({exc.description})"
                raise FencedError(msg) from None
            if (exc.code or 0) < 500:
                msg = f"event {headers['Nats-Msg-Id']} refused: {exc.description}"
                raise PublishError(msg) from None
            raise
        except TRANSIENT as exc:
            log.debug("storing %s failed (%r); retrying", headers["Nats-Msg-Id"], exc)
            raise
        return ack.seq

    async def _stored_as(self, payload: bytes) -> int | None:
        """The stream sequence of the job's last message if it is exactly ``payload``."""
        while True:
            try:
                raw = await self.js.get_last_msg(EVENTS_STREAM, job_events_filter(self.job_id))
            except NotFoundError:
                return None
            except TRANSIENT:
                await asyncio.sleep(BACKOFF_MAX_S)
                continue
            return raw.seq if raw.data == payload else None
