"""The event that ends an attempt: its own terminal event, ``job.retry_scheduled`` or ``job.dead``.

The decision is ``decide.decide_end`` (pure, over the job's earlier attempts as its latest
``job.retry_scheduled`` lists them); this shell reads that history, the clock and the jitter,
and builds the event. The caller appends it (one writer, OCC); the run consumer then sees the
job ``retrying`` and lets JetStream deliver the submit again when the next attempt is due
(``nak`` with delay), so a retry never depends on a process staying alive.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import msgspec

from playledger_executor.decide import Conclude, DeadLetter, RetryAt, decide_end
from playledger_executor.journal import Journal, new_event
from playledger_schemas.commands import RetryCause, RetryPolicy
from playledger_schemas.events import (
    OUTCOME_EVENTS,
    AttemptOutcome,
    DeadData,
    JobDead,
    JobEvent,
    JobRetryScheduled,
    ResultData,
    RetryScheduledData,
)
from playledger_schemas.status import ResultStatus

_REASON_CHARS: Final = 200


def dead_reason(attempts: tuple[AttemptOutcome, ...]) -> str:
    """``dead after 3 attempts: 1 error (executor lost); 2 failed (…); 3 failed (…)``."""
    parts = [
        f"{a.attempt} {a.status}" + (f" ({a.reason[:_REASON_CHARS]})" if a.reason else "") for a in attempts
    ]
    return f"dead after {len(attempts)} attempts: " + "; ".join(parts)


async def ending(
    journal: Journal,
    *,
    job_id: str,
    attempt: int,
    outcome: ResultStatus,
    cause: RetryCause | None,
    result: ResultData,
    policy: RetryPolicy,
) -> Callable[[int], JobEvent]:
    """A builder (seq -> event) of the event that ends ``attempt``, decided once, here."""
    now = datetime.now(UTC)
    ended = AttemptOutcome(
        attempt=attempt, status=outcome, cause=cause, reason=result.reason, rc=result.rc, ended_at=now
    )
    retried = cause is not None and cause in policy.on and policy.max_attempts > 1
    earlier = await journal.attempts(job_id) if retried else ()  # read only when it matters
    decision = decide_end(policy, ended, earlier, now=now, jitter=random.random())  # noqa: S311 - jitter, not a secret
    fields = msgspec.structs.asdict(result)
    match decision:
        case Conclude():
            cls = OUTCOME_EVENTS[outcome]
            return lambda seq: new_event(cls, job_id=job_id, attempt=attempt, seq=seq, data=result)
        case RetryAt(at=at, attempts=attempts):
            assert cause is not None  # noqa: S101 - decide_end retries only a named cause
            retry = RetryScheduledData(
                **fields,
                status=outcome,
                cause=cause,
                retry_at=at,
                next_attempt=attempt + 1,
                max_attempts=policy.max_attempts,
                attempts=list(attempts),
            )
            return lambda seq: new_event(
                JobRetryScheduled, job_id=job_id, attempt=attempt, seq=seq, data=retry
            )
        case DeadLetter(attempts=attempts):
            dead = DeadData(
                **{**fields, "reason": dead_reason(attempts)},
                max_attempts=policy.max_attempts,
                attempts=list(attempts),
            )
            return lambda seq: new_event(JobDead, job_id=job_id, attempt=attempt, seq=seq, data=dead)
