"""Recording a command no handler could ever take (``outcome.Poison``) in the job's history.

A job without events gets ``job.rejected`` with the reason; a queued, started or retrying one
ends as ``job.error``; an ended one is left alone. Both carry ``dead_letter: true``, so poison
commands are listed with the dead jobs (``GET /api/v1/jobs?dead_letter=true``). Appends expect the state they were decided on, so
two consumers poisoning the same job record it once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Final

from nats.aio.msg import Msg

from playledger_executor.accept import Unusable, claimed_job_id
from playledger_executor.decide import ErrorPoison, Ignore, RejectPoison, decide_poison
from playledger_executor.errors import ConflictError
from playledger_executor.journal import Journal, new_event
from playledger_schemas.events import (
    CommandRejected,
    FieldError,
    JobError,
    JobRejected,
    RejectedData,
    ResultData,
    event_kind,
)

log: Final = logging.getLogger(__name__)

MAX_ROUNDS: Final = 10


class PoisonRecorder:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def __call__(self, msg: Msg, reason: str) -> None:
        command_seq = msg.metadata.sequence.stream
        job_id = claimed_job_id(msg.subject, msg.data)
        if isinstance(job_id, Unusable):  # names no job a client could own: recorded under its sequence
            await self.journal.record_rejection(
                CommandRejected(
                    event_id=uuid.uuid4(),
                    time=datetime.now(UTC),
                    command_seq=command_seq,
                    subject=msg.subject,
                    reason=reason,
                    errors=[FieldError(path="$", message=reason)],
                )
            )
            log.warning("command %d on %r recorded as command.rejected: %s", command_seq, msg.subject, reason)
            return
        for _ in range(MAX_ROUNDS):
            state = await self.journal.state(job_id)
            decision = decide_poison(state)
            if isinstance(decision, Ignore):
                log.info("poison command %d for %s not recorded: %s", command_seq, job_id, decision.reason)
                return
            event = poison_event(decision, job_id, reason, command_seq)
            try:
                await self.journal.append(event, state.stream_seq)
            except ConflictError:
                continue
            kind = event_kind(event)
            log.warning("command %d for %s recorded as %s: %s", command_seq, job_id, kind, reason)
            return
        text = f"poison command {command_seq} for {job_id}: gave up after {MAX_ROUNDS} races"
        raise ConflictError(text)


def poison_event(
    decision: RejectPoison | ErrorPoison, job_id: str, reason: str, command_seq: int
) -> JobRejected | JobError:
    if isinstance(decision, RejectPoison):
        errors = [FieldError(path="$", message=reason)]
        data = RejectedData(reason=reason, errors=errors, command_seq=command_seq, dead_letter=True)
        return new_event(JobRejected, job_id=job_id, attempt=0, seq=1, data=data)
    result = ResultData(
        reason=reason, runner_events=decision.runner_events, last_seq=decision.seq - 1, dead_letter=True
    )
    return new_event(JobError, job_id=job_id, attempt=decision.attempt, seq=decision.seq, data=result)
