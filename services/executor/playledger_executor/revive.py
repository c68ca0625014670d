"""Starting a dead job again (``job.retry.v1``): append ``job.retry_requested``, once.

Shared by the intake and the run consumers (a run consumer that takes the retry before the
intake has seen it revives the job first, as it accepts a submit first). The append expects
the state it was decided on, so two consumers handling the same retry record it once; a
redelivered retry finds it done (``decide_revive``).
"""

from __future__ import annotations

import logging
from typing import Final

from playledger_executor.decide import Ignore, Revive, decide_revive
from playledger_executor.errors import ConflictError
from playledger_executor.journal import Journal, new_event
from playledger_schemas.commands import RetryJob, SubmitJob
from playledger_schemas.events import JobRetryRequested, RetryRequestedData

log: Final = logging.getLogger(__name__)

MAX_ROUNDS: Final = 10


async def revive(journal: Journal, command: RetryJob, command_seq: int) -> None:
    job_id = command.job_id
    for _ in range(MAX_ROUNDS):
        state = await journal.state(job_id)
        match decide_revive(state, command_seq):
            case Ignore(reason=reason):
                log.info("retry %d of %s changes nothing: %s", command_seq, job_id, reason)
                return
            case Revive(seq=seq):
                data = RetryRequestedData(
                    reason=command.reason, command_seq=command_seq, requested_by=command.requested_by
                )
                event = new_event(JobRetryRequested, job_id=job_id, attempt=state.attempt, seq=seq, data=data)
                try:
                    await journal.append(event, state.stream_seq)
                except ConflictError:
                    continue
                log.info("dead job %s retried by request (command %d)", job_id, command_seq)
                return
    msg = f"retry {command_seq} of {job_id}: gave up after {MAX_ROUNDS} races"
    raise ConflictError(msg)


async def submit_of(journal: Journal, command: RetryJob) -> SubmitJob | None:
    """The submit a retried job's new attempt runs: its spec as ``job.queued`` recorded it."""
    queued = await journal.queued(command.job_id)
    if queued is None:
        return None
    return SubmitJob(job_id=command.job_id, spec=queued.data.spec, submitted_by=queued.data.submitted_by)
