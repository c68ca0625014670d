"""The intake: every command, once, for all executors (durable pull consumer ``intake``).

Independent of run slots, so a submit is visible as ``job.queued`` at once even when every
slot is busy. Invalid commands become ``job.rejected``; cancels of queued jobs end them; a launch becomes
its submit (``launcher``).
A command whose handling keeps failing is poison after ``MAX_DELIVER`` deliveries (``outcome``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg

from playledger_common.consumers import INTAKE, MAX_DELIVER
from playledger_common.observability import about_job
from playledger_common.outcome import Ack, Outcome, handle
from playledger_common.settings import ExecutorSettings
from playledger_executor.accept import accept
from playledger_executor.consumers import pull_batches
from playledger_executor.decide import CancelQueued, FinishCancel, Ignore, decide_cancel
from playledger_executor.errors import ConflictError
from playledger_executor.journal import Journal, new_event
from playledger_executor.launcher import launch
from playledger_executor.poison import PoisonRecorder
from playledger_executor.revive import revive
from playledger_schemas.commands import CancelJob, LaunchJob, RetryJob
from playledger_schemas.events import CancelRequestedData, JobCanceled, JobCancelRequested, ResultData
from playledger_schemas.limits import command_limit
from playledger_schemas.subjects import COMMANDS_STREAM, job_id_of_subject

log: Final = logging.getLogger(__name__)

BATCH: Final = 256
MAX_ROUNDS: Final = 10


class Intake:
    def __init__(self, nc: Client, settings: ExecutorSettings) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.journal = Journal(self.js)
        self.settings = settings
        self.poison = PoisonRecorder(self.journal)

    async def run(self, stopping: asyncio.Event) -> None:
        await pull_batches(self.js, COMMANDS_STREAM, INTAKE, stopping, self.handle_batch, batch=BATCH)

    async def handle_batch(self, msgs: list[Msg]) -> None:
        """Commands of different jobs concurrently (their round trips overlap); of one job, in order."""
        by_job: dict[str, list[Msg]] = {}
        for msg in msgs:
            by_job.setdefault(job_id_of_subject(msg.subject) or msg.subject, []).append(msg)
        await asyncio.gather(*(self._in_order(group) for group in by_job.values()))

    async def _in_order(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await handle(msg, self.handle, max_deliver=MAX_DELIVER, on_poison=self.poison)

    async def handle(self, msg: Msg) -> Outcome:
        with about_job(job_id_of_subject(msg.subject) or "", msg.headers):
            return await self._handle(msg)

    async def _handle(self, msg: Msg) -> Outcome:
        """Record the command as queued or rejected; a cancel of a queued job ends it; a retry of a
        dead job queues it again."""
        seq = msg.metadata.sequence.stream
        command = await accept(
            self.journal,
            msg.subject,
            msg.data,
            seq,
            self.settings,
            command_limit(self.nc.max_payload),
        )
        if isinstance(command, CancelJob):
            await self.cancel(command)
        if isinstance(command, RetryJob):
            await revive(self.journal, command, seq)
        if isinstance(command, LaunchJob):
            await launch(self.journal, command, seq, self.settings)
        return Ack()

    async def cancel(self, command: CancelJob) -> None:
        """End a queued job as canceled (OCC; on a race, re-read and re-decide)."""
        job_id = command.job_id
        for _ in range(MAX_ROUNDS):
            state = await self.journal.state(job_id)
            decision = decide_cancel(state)
            try:
                match decision:
                    case Ignore(reason=reason):
                        log.info("cancel of %s ignored: %s", job_id, reason)
                    case CancelQueued(seq=seq):
                        requested = new_event(
                            JobCancelRequested,
                            job_id=job_id,
                            attempt=state.attempt,
                            seq=seq,
                            data=CancelRequestedData(reason=command.reason),
                        )
                        stream_seq = await self.journal.append(requested, state.stream_seq)
                        await self._canceled(command, state.attempt, seq + 1, stream_seq)
                    case FinishCancel(seq=seq):
                        await self._canceled(command, state.attempt, seq, state.stream_seq)
            except ConflictError:
                continue
            return
        log.warning("cancel of %s gave up after %d races", job_id, MAX_ROUNDS)

    async def _canceled(self, command: CancelJob, attempt: int, seq: int, expected: int) -> None:
        event = new_event(
            JobCanceled,
            job_id=command.job_id,
            attempt=attempt,
            seq=seq,
            data=ResultData(reason=command.reason, last_seq=seq - 1),
        )
        await self.journal.append(event, expected)
        log.info("queued job %s canceled", command.job_id)
