"""Reading a job's state from the events stream and appending lifecycle events with OCC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Final, TypeVar

from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from playledger_common.tracing import inject
from playledger_executor.decide import JobState, state_of
from playledger_executor.errors import ConflictError
from playledger_executor.truncate import safe_event_name
from playledger_schemas.codec import decode_event, encode
from playledger_schemas.events import (
    AttemptOutcome,
    CommandRejected,
    Event,
    JobDead,
    JobEvent,
    JobQueued,
    JobRetryRequested,
    JobRetryScheduled,
    JobStarted,
    RunnerEvent,
    event_kind,
    lifecycle_kind,
)
from playledger_schemas.subjects import (
    COMMANDS_STREAM,
    EVENTS_STREAM,
    any_submit_of,
    event_subject,
    job_events_filter,
    rejected_subject,
)

WRONG_LAST_SEQUENCE: Final = 10071

E = TypeVar("E", bound=Event)


def new_event(cls: type[E], *, job_id: str, attempt: int, seq: int, data: object) -> E:
    """An event with a fresh id and the current time (the only impure part of building one)."""
    return cls(  # type: ignore[call-arg]
        event_id=uuid.uuid4(), job_id=job_id, attempt=attempt, seq=seq, time=datetime.now(UTC), data=data
    )


def msg_id(event: JobEvent) -> str:
    """``<job>:<attempt>:<seq>:<kind>``; the kind keeps a lifecycle event (``job.error`` from
    another executor) from ever sharing an id with a runner event at the same seq."""
    kind = "runner" if isinstance(event, RunnerEvent) else event_kind(event)
    return f"{event.job_id}:{event.attempt}:{event.seq}:{kind}"


def subject_of(event: JobEvent) -> str:
    """The event's subject; a runner event name is made one safe token first."""
    if isinstance(event, RunnerEvent):
        return event_subject(event.job_id, f"runner.{safe_event_name(event.data.event)}")
    return event_subject(event.job_id, event_kind(event))


class Journal:
    """The events stream as seen by one executor."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def last_event(self, job_id: str) -> tuple[JobEvent | None, int]:
        """The job's last event and its stream sequence (``None, 0`` for an unknown job)."""
        try:
            raw = await self.js.get_last_msg(EVENTS_STREAM, job_events_filter(job_id))
        except NotFoundError:
            return None, 0
        assert raw.data is not None  # noqa: S101 - events always have a payload
        return decode_event(raw.data), raw.seq or 0

    async def state(self, job_id: str) -> JobState:
        """The job's state, including which submit command queued it."""
        last, stream_seq = await self.last_event(job_id)
        accepted_seq = None
        if last is not None and not isinstance(last, JobQueued | JobRetryRequested):
            accepted_seq = await self._accepted_seq(job_id)
        return state_of(last, stream_seq, accepted_seq)

    async def runner_events(self, job_id: str, attempt: int) -> int:
        """How many runner events the attempt appended: the counter of its last one (gap-free)."""
        try:
            raw = await self.js.get_last_msg(EVENTS_STREAM, event_subject(job_id, "runner.*"))
        except NotFoundError:
            return 0
        last = decode_event(raw.data or b"")
        return last.data.counter if isinstance(last, RunnerEvent) and last.attempt == attempt else 0

    async def started_by(self, job_id: str, attempt: int) -> str | None:
        """The executor id in the ``job.started`` of ``attempt`` (``None`` if there is none)."""
        try:
            raw = await self.js.get_last_msg(EVENTS_STREAM, event_subject(job_id, "job.started"))
        except NotFoundError:
            return None
        started = decode_event(raw.data or b"")
        if isinstance(started, JobStarted) and started.attempt == attempt:
            return started.data.executor_id
        return None

    async def _last_of(self, job_id: str, *kinds: type[JobEvent]) -> JobEvent | None:
        """The latest event of the job among these types (one direct get per type)."""
        latest: tuple[int, JobEvent] | None = None
        for kind in kinds:
            try:
                raw = await self.js.get_last_msg(EVENTS_STREAM, event_subject(job_id, lifecycle_kind(kind)))
            except NotFoundError:
                continue
            if latest is None or (raw.seq or 0) > latest[0]:
                latest = (raw.seq or 0, decode_event(raw.data or b""))
        return None if latest is None else latest[1]

    async def known(self, job_id: str) -> bool:
        """The job has events, or a submit of it is in the commands stream (not accepted yet)."""
        if (await self.last_event(job_id))[0] is not None:
            return True
        try:
            await self.js.get_last_msg(COMMANDS_STREAM, any_submit_of(job_id))
        except NotFoundError:
            return False
        return True

    async def attempts(self, job_id: str) -> tuple[AttemptOutcome, ...]:
        """Every earlier attempt's outcome, as the job's latest ``job.retry_scheduled`` (or
        ``job.dead``, for a dead job retried by request) lists them."""
        last = await self._last_of(job_id, JobRetryScheduled, JobDead)
        return tuple(last.data.attempts) if isinstance(last, JobRetryScheduled | JobDead) else ()

    async def queued(self, job_id: str) -> JobQueued | None:
        """The job's ``job.queued`` (its spec, who submitted it)."""
        queued = await self._last_of(job_id, JobQueued)
        return queued if isinstance(queued, JobQueued) else None

    async def _accepted_seq(self, job_id: str) -> int | None:
        """The submit the current attempt runs from: the latest retry request's, else the queued one's."""
        last = await self._last_of(job_id, JobRetryRequested, JobQueued)
        return last.data.command_seq if isinstance(last, JobQueued | JobRetryRequested) else None

    async def record_rejection(self, rejected: CommandRejected) -> None:
        """Store a command rejection once (a redelivered command finds it there already)."""
        subject = rejected_subject(rejected.command_seq)
        headers = {
            "Nats-Msg-Id": f"rejected:{rejected.command_seq}",
            "Nats-Expected-Last-Subject-Sequence": "0",
        }
        try:
            await self.js.publish(subject, encode(rejected), headers=headers)
        except APIError as exc:
            if exc.err_code != WRONG_LAST_SEQUENCE:
                raise

    async def append(self, event: JobEvent, expected_stream_seq: int) -> int:
        """Append if the job's last stream sequence is still ``expected_stream_seq`` (0: no events).

        Raises ``ConflictError`` when another writer got there first; returns the new stream sequence.
        """
        headers = inject(  # the current trace (job.queued's span, a lost attempt's job): for readers
            {
                "Nats-Msg-Id": msg_id(event),
                "Nats-Expected-Last-Subject-Sequence": str(expected_stream_seq),
                "Nats-Expected-Last-Subject-Sequence-Subject": job_events_filter(event.job_id),
            }
        )
        try:
            ack = await self.js.publish(subject_of(event), encode(event), headers=headers)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                msg = f"job {event.job_id} changed concurrently ({exc.description})"
                raise ConflictError(msg) from None
            raise
        return ack.seq
