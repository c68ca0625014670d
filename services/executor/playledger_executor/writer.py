"""The running job's event writer: one writer per attempt, gap-free, in order, fenced.

Every append — ``job.started``, a batch of runner events, the terminal event — carries
``Nats-Expected-Last-Subject-Sequence`` for the whole job (``…-Subject: playledger.append.job.<id>.>``)
set to the stream sequence of the writer's previous append. So:

- **order through retries**: an append is sent only after the previous one is stored; a publish
  that failed is re-sent (same ``Nats-Msg-Id`` s) before anything after it;
- **one writer**: once anyone else appended to the job (``job.error`` "executor lost" by another
  executor), every further append of this writer is refused (err 10071) and the writer is
  ``FencedError``: its run must stop;
- **retried until it lands**: a timeout, a missing responder or a disconnect is retried with
  backoff for as long as the executor lives (the caller cancels the task to give up).

Several events go out as one **atomic batch** (NATS ≥ 2.12, ``allow_atomic`` on the events
stream; ADR-50): the fence rides on the batch's first message, the server stores all of them or
none, and the whole batch costs one round trip instead of one per event. The batch is not opened
with a request of its own: nats-server checks every header only at the commit (a refused first
message leaves the batch unknown, and the commit answers "incomplete batch"), so the commit's
answer is the batch's. On a stream without
``allow_atomic`` (made before it existed: ``playledger streams migrate``) each event is its own
append, as before.

The server checks the expected sequence before de-duplication, so a re-sent append whose first
try was stored (its ack lost) is refused (10071, or 10201 for a batch of already-stored ids):
the writer then reads the job's last message and, if it is byte-for-byte its own last event,
takes that as the ack.

The cost per event is measured by ``tests/bench/bench_fencing.py`` and
``tests/bench/bench_overhead.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import nats.errors
from nats.aio.client import Client
from nats.js.errors import APIError, NotFoundError

from playledger_common.retry import retried
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

MAX_BATCH_EVENTS: Final = 256
MAX_BATCH_BYTES: Final = 1 << 20
"""One atomic batch holds at most this many events and bytes (the server's limit is 1,000 messages)."""
DUPLICATE_IN_BATCH: Final = 10201
"""A re-sent batch whose ids are already stored: its first try landed."""
INCOMPLETE_BATCH: Final = 10176
"""The commit found its batch incomplete: its first message was refused (the stream already had
as many atomic batches open as nats-server allows, 50 by default: 50 jobs appending at the same
moment) or lost. Nothing of it was stored, so a fresh try (a new batch id) can land."""

Builder: TypeAlias = Callable[[int], JobEvent]
"""Builds the event for a given job sequence number."""


@dataclass(frozen=True, slots=True)
class _Outgoing:
    subject: str
    payload: bytes
    msg_id: str


def _outgoing(event: JobEvent) -> _Outgoing:
    return _Outgoing(subject_of(event), encode(event), msg_id(event))


def _chunks(messages: list[_Outgoing], *, batches: bool) -> Iterator[list[_Outgoing]]:
    """Appends to make: batches within the limits, or one message each."""
    chunk: list[_Outgoing] = []
    size = 0
    for message in messages:
        full = len(chunk) >= MAX_BATCH_EVENTS or size + len(message.payload) > MAX_BATCH_BYTES
        if chunk and (not batches or full):
            yield chunk
            chunk, size = [], 0
        chunk.append(message)
        size += len(message.payload)
    if chunk:
        yield chunk


TRANSIENT: Final = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    # ^ nats-py's name for "no responders" on a JetStream publish: no server stores the subject
    # now, e.g. while a cluster elects the stream's new leader after a node died
)


def retriable(exc: Exception) -> bool:
    """A try that may succeed later: no answer, no server, a server error (5xx), or a batch that
    did not get in whole (``INCOMPLETE_BATCH``)."""
    if isinstance(exc, APIError):
        if exc.err_code == INCOMPLETE_BATCH:
            return True
        return (exc.code or 0) >= 500 and exc.err_code != WRONG_LAST_SEQUENCE
    return isinstance(exc, TRANSIENT)


class PublishError(ExecutorError):
    """The server refused an event for good (not a transient failure); the run cannot go on."""


class FencedError(ExecutorError):
    """Another writer appended to this job: this attempt's writer must stop."""


class JobWriter:
    """Single writer of one job attempt: every event goes through ``add`` / ``add_all``, one append at a time."""

    def __init__(
        self,
        nc: Client,
        job_id: str,
        *,
        next_seq: int,
        stream_seq: int,
        atomic_batches: bool = True,
        on_stored: Callable[[float], object] | None = None,
    ) -> None:
        self.nc = nc
        self.on_stored = on_stored
        """Called with each append's duration in seconds (publish latency), once per chunk."""
        self.js = nc.jetstream()
        self.job_id = job_id
        self.next_seq = next_seq
        self.last_stream_seq = stream_seq
        """What the next append expects: the job's last stream sequence (0: no event yet)."""
        self.atomic_batches = atomic_batches
        self.runner_events = 0
        self.fenced = False
        self.trace_headers: dict[str, str] = {}
        """The job span's ``traceparent``, sent with each single event (``add``: job.started, the
        terminal event), not with the runner events' batches (the hot path stays as it was)."""
        self._lock = asyncio.Lock()

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    async def add(self, build: Builder) -> JobEvent:
        """Build the event at the next sequence (``build(seq)``) and store it; return it stored.

        Raises ``FencedError`` if another writer appended to the job, ``PublishError`` if the server
        refuses the event for good; retries anything else until it lands.
        """
        return (await self.add_all([build], self.trace_headers))[0]

    async def add_all(
        self, builds: Sequence[Builder], headers: dict[str, str] | None = None
    ) -> list[JobEvent]:
        """``add`` for several events at consecutive sequences, stored in as few appends as allowed."""
        async with self._lock:
            if self.fenced:
                msg = f"job {self.job_id}: another writer took over"
                raise FencedError(msg)
            events = [build(self.next_seq + offset) for offset, build in enumerate(builds)]
            for chunk in _chunks([_outgoing(event) for event in events], batches=self.atomic_batches):
                started = time.perf_counter()
                try:
                    self.last_stream_seq = await self._store(chunk, headers or {})
                except FencedError:
                    self.fenced = True
                    raise
                self.next_seq += len(chunk)
                if self.on_stored is not None:
                    self.on_stored(time.perf_counter() - started)
            return events

    async def _store(self, chunk: list[_Outgoing], extra: dict[str, str]) -> int:
        fence = {
            "Nats-Expected-Last-Subject-Sequence": str(self.last_stream_seq),
            "Nats-Expected-Last-Subject-Sequence-Subject": job_events_filter(self.job_id),
            **extra,
        }
        try:  # the first try outside the retry policy: building its context costs more than a batch
            return await self._try(chunk, fence)
        except Exception as exc:
            if not retriable(exc):
                raise
        await asyncio.sleep(BACKOFF_INITIAL_S)
        return await retried(
            lambda: self._try(chunk, fence),
            retriable,
            attempts=None,
            wait_initial_s=BACKOFF_INITIAL_S,
            wait_max_s=BACKOFF_MAX_S,
        )

    async def _try(self, chunk: list[_Outgoing], fence: dict[str, str]) -> int:
        try:
            if len(chunk) == 1:
                message = chunk[0]
                headers = {"Nats-Msg-Id": message.msg_id, **fence}
                ack = await self.js.publish(
                    message.subject,
                    message.payload,
                    timeout=ACK_TIMEOUT_S,
                    stream=EVENTS_STREAM,
                    headers=headers,
                )
                return ack.seq
            return await self._send_batch(chunk, fence)
        except APIError as exc:
            if exc.err_code in (WRONG_LAST_SEQUENCE, DUPLICATE_IN_BATCH):
                stored = await self._stored_as(chunk[-1].payload)
                if stored is not None:
                    return stored  # an earlier try landed; its ack was lost
                msg = f"job {self.job_id}: another writer appended ({exc.description})"
                raise FencedError(msg) from None
            if not retriable(exc):
                msg = f"event {chunk[0].msg_id} refused: {exc.description}"
                raise PublishError(msg) from None
            raise
        except TRANSIENT as exc:
            log.debug("storing %s failed (%r); retrying", chunk[0].msg_id, exc)
            raise

    async def _send_batch(self, chunk: list[_Outgoing], fence: dict[str, str]) -> int:
        """One atomic batch: the first message (with the fence) opens it, the last (a request) commits it."""
        batch_id = uuid.uuid4().hex  # a fresh id per try: an abandoned try never mixes with the next
        last = len(chunk)
        for number, message in enumerate(chunk, start=1):
            headers = {
                "Nats-Msg-Id": message.msg_id,
                "Nats-Batch-Id": batch_id,
                "Nats-Batch-Sequence": str(number),
            }
            if number == 1:
                headers.update(fence)
            if number < last:
                await self.nc.publish(message.subject, message.payload, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                committed = await self.nc.request(
                    message.subject, message.payload, timeout=ACK_TIMEOUT_S, headers=headers
                )
                return _acked_seq(committed.data)
        raise AssertionError("unreachable: a batch has a last message")  # noqa: EM101

    async def _stored_as(self, payload: bytes) -> int | None:
        """The stream sequence of the job's last message if it is exactly ``payload``."""
        return await retried(
            lambda: self._last_is(payload), TRANSIENT, attempts=None, wait_max_s=BACKOFF_MAX_S
        )

    async def _last_is(self, payload: bytes) -> int | None:
        try:
            raw = await self.js.get_last_msg(EVENTS_STREAM, job_events_filter(self.job_id))
        except NotFoundError:
            return None
        return raw.seq if raw.data == payload else None


def _acked_seq(reply: bytes) -> int:
    """The stream sequence of a JetStream publish ack, or the server's refusal raised as ``APIError``."""
    answer = json.loads(reply)
    if "error" in answer:
        APIError.from_error(answer["error"])  # raises the matching APIError subclass
    seq: int = answer["seq"]
    return seq
