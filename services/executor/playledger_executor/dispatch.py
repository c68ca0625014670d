"""Run consumers: take a submit only when a slot is free, highest priority first.

One durable pull consumer per priority (``run-critical`` … ``run-low``), shared by all
executors. Waiting jobs stay in the stream until some executor has room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from playledger_common.consumers import DUE, MAX_DELIVER, run_consumer
from playledger_common.observability import about_job
from playledger_common.outcome import Ack, Outcome, Retry, handle
from playledger_common.settings import ExecutorSettings
from playledger_executor.accept import accept
from playledger_executor.consumers import PullOne, keep_in_progress
from playledger_executor.decide import (
    Abandon,
    Accept,
    Adopt,
    Delay,
    Hold,
    JobState,
    Lost,
    Proceed,
    Skip,
    Start,
    Wait,
    cause_of,
    decide_dependencies,
    decide_run,
    decide_unended,
)
from playledger_executor.ending import ending
from playledger_executor.errors import ConflictError
from playledger_executor.job import JobRunner
from playledger_executor.journal import new_event
from playledger_executor.lease import Lease
from playledger_executor.poison import PoisonRecorder
from playledger_executor.revive import revive, submit_of
from playledger_executor.schedule import schedule_submit
from playledger_executor.stored import pinned_spec
from playledger_schemas.codec import ContractError, decode_command
from playledger_schemas.commands import DEFAULT_RETRY, RetryJob, SubmitJob, retry_policy
from playledger_schemas.events import JobCanceled, ResultData
from playledger_schemas.ids import PRIORITIES
from playledger_schemas.limits import command_limit
from playledger_schemas.subjects import COMMANDS_STREAM, SCHEDULES_STREAM, due_subject, job_id_of_subject

log: Final = logging.getLogger(__name__)

POLL_S: Final = 1.0
"""Idle executors look again this often (redeliveries do not publish a new submit)."""
MAX_ROUNDS: Final = 10
LOST_REASON: Final = "executor lost"
DEPENDS_POLL_S: Final = 1.0
"""How often a waiting job's dependencies are looked at again (through the schedules stream)."""


class Dispatcher:
    def __init__(
        self, nc: Client, js: JetStreamContext, runner: JobRunner, settings: ExecutorSettings, lease: Lease
    ) -> None:
        self.nc = nc
        self.lease = lease
        self.lease_missing_since: dict[str, float] = {}
        """Per other executor: when this one first found its lease missing (loop time)."""
        self.js = js
        self.runner = runner
        self.journal = runner.journal
        self.settings = settings
        self.slots = asyncio.Semaphore(settings.concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.poison = PoisonRecorder(self.journal)

    async def run(self, stopping: asyncio.Event) -> None:
        # fired run_at schedules first (their time has come), then the submits by priority
        pulls = [
            await PullOne(self.nc, SCHEDULES_STREAM, DUE).start(),
            *[await PullOne(self.nc, COMMANDS_STREAM, run_consumer(p)).start() for p in PRIORITIES],
        ]
        nudge = await self.nc.subscribe("playledger.cmd.submit.>", cb=self._nudge)
        try:
            while not stopping.is_set():
                if not await _first(self.slots.acquire(), stopping):
                    break
                if stopping.is_set():
                    self.slots.release()
                    break
                self.wake.clear()
                try:
                    msg = await self._take(pulls)
                except Exception:  # a disconnect must not end the dispatcher: log, wait, go on
                    log.exception("taking a submit failed; retrying")
                    msg = None
                if msg is None:
                    self.slots.release()
                    await _first(self.wake.wait(), stopping, wait_s=POLL_S)
                    continue
                task = asyncio.create_task(self.handle(msg))
                self.tasks.add(task)
                task.add_done_callback(self._done)
        finally:
            await nudge.unsubscribe()
            for pull in pulls:
                await pull.close()

    async def _nudge(self, _msg: Msg) -> None:
        self.wake.set()

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()

    async def _take(self, pulls: list[PullOne]) -> Msg | None:
        for pull in pulls:
            msg = await pull.next()
            if msg is not None:
                return msg
        return None

    async def handle(self, msg: Msg) -> None:
        """Decide and act on one submit, then settle it (``outcome.handle``). Never raises."""
        heartbeat = asyncio.create_task(keep_in_progress(msg, self.settings.ack_wait_s))
        try:
            await handle(msg, self._handle, max_deliver=MAX_DELIVER, on_poison=self.poison)
        finally:
            heartbeat.cancel()

    async def _handle(self, msg: Msg) -> Outcome:
        with about_job(job_id_of_subject(msg.subject) or "", msg.headers):
            return await self._run_submit(msg)

    async def _run_submit(self, msg: Msg) -> Outcome:
        """Act on the job's state until it needs nothing more from this delivery: ``Ack``, or
        ``Retry`` when its next attempt is due later (JetStream delivers it again then)."""
        command_seq = msg.metadata.sequence.stream
        job_id = job_id_of_subject(msg.subject) or ""
        due = msg.subject == due_subject(job_id)
        races = 0
        retry = _retry(msg.data)
        while races < MAX_ROUNDS:
            state = await self.journal.state(job_id) if job_id else None
            if retry is not None and state is not None and state.dead:
                await revive(self.journal, retry, command_seq)  # before the intake did: as Accept
                if (await self.journal.state(job_id)).dead:
                    return Ack()  # nothing to run: decide_revive said why
                continue
            now = datetime.now(UTC)
            decision = (
                decide_run(state, command_seq, now, due=due) if state else Skip("no job id in the subject")
            )
            match decision:
                case Accept():
                    await accept(
                        self.journal,
                        msg.subject,
                        msg.data,
                        command_seq,
                        self.settings,
                        command_limit(self.nc.max_payload),
                    )
                    if state is not None and (await self.journal.state(job_id)).phase == "new":
                        return Ack()  # rejected under its command sequence, not a job id
                    races += 1
                    continue
                case Skip(reason=reason):
                    log.info("submit %d for %s skipped: %s", command_seq, job_id, reason)
                    return Ack()
                case Delay(after_s=after_s):
                    log.info("job %s: next attempt in %.1fs", job_id, after_s)
                    return Retry(after_s=after_s, why="the next attempt is scheduled")
                case Lost():
                    match await self._unended(job_id, decision):
                        case Adopt():
                            await self._adopt(job_id)
                            return Ack()
                        case Wait(reason=reason):
                            # Held in progress (the heartbeat) and looked at again: no redelivery,
                            # so waiting never counts towards the consumer's max_deliver.
                            log.info("submit %d for %s: %s", command_seq, job_id, reason)
                            await asyncio.sleep(self.lease.ttl_s / 3)
                            continue
                    if not await self._record_lost(msg, job_id, decision, state.stream_seq if state else 0):
                        races += 1
                    continue  # decide again: the attempt's end may have scheduled the next one
                case Start():
                    command = await self._runnable(msg.data)
                    if command is None:
                        log.warning(
                            "queued job %s has an undecodable submit %d; skipped", job_id, command_seq
                        )
                        return Ack()
                    if job_id in self.runner.running:  # a redelivery that raced its own start
                        await self._adopt(job_id)
                        return Ack()
                    if state is not None and state.attempt == 0 and state.depends_on:
                        match await self._dependencies(state):
                            case Hold(waiting_for=waiting_for):
                                log.info("job %s waits for %s", job_id, waiting_for)
                                await self._look_again(job_id, msg.data)
                                return Ack()
                            case Abandon(reason=reason):
                                if not await self._abandon(job_id, state, reason):
                                    races += 1
                                continue
                    if state is not None and state.attempt == 0 and not due:
                        waited = (now - msg.metadata.timestamp).total_seconds()
                        self.runner.metrics.queue_wait.labels(command.spec.priority).observe(max(0.0, waited))
                    expected = state.stream_seq if state else 0
                    queued_by = state.accepted_seq if state and due and state.accepted_seq else command_seq
                    if not await self.runner.start(command, decision, expected, queued_by):
                        races += 1
                    continue  # decide again: the attempt's end may have scheduled the next one
        log.warning("submit %d for %s: gave up after %d races", command_seq, job_id, MAX_ROUNDS)
        return Ack()

    async def _unended(self, job_id: str, lost: Lost) -> Adopt | Wait | Lost:
        """Gather the evidence about the writer of a started, unended attempt, then decide."""
        running_here = job_id in self.runner.running
        writer = None if running_here else await self.journal.started_by(job_id, lost.attempt)
        missing_for = None
        if writer is not None and writer != self.runner.executor_id:
            now = asyncio.get_running_loop().time()
            if await self.lease.alive(writer):
                self.lease_missing_since.pop(writer, None)
            else:
                missing_for = now - self.lease_missing_since.setdefault(writer, now)
        return decide_unended(
            lost,
            writer=writer,
            here=self.runner.executor_id,
            running_here=running_here,
            lease_missing_for_s=missing_for,
            lease_ttl_s=self.lease.ttl_s,
        )

    async def _adopt(self, job_id: str) -> None:
        """A redelivery of a command this executor runs (it outlived ``ack_wait``, e.g. through a
        NATS outage): keep this delivery in progress too until the run ends, then ack it."""
        running = self.runner.running.get(job_id)
        if running is None:
            return
        log.info("submit for %s redelivered while it runs here; held until the run ends", job_id)
        await running.ended.wait()

    async def _record_lost(self, msg: Msg, job_id: str, lost: Lost, expected: int) -> bool:
        """End the lost attempt: ``job.error`` "executor lost", or the retry its policy asks for."""
        runner_events = lost.runner_events or await self.journal.runner_events(job_id, lost.attempt)
        command = await self._runnable(msg.data)
        end = await ending(
            self.journal,
            job_id=job_id,
            attempt=lost.attempt,
            outcome="error",
            cause=cause_of("error", lost=True),
            result=ResultData(reason=LOST_REASON, runner_events=runner_events, last_seq=lost.seq - 1),
            policy=retry_policy(command.spec) if command is not None else DEFAULT_RETRY,
        )
        event = end(lost.seq)
        try:
            await self.journal.append(event, expected)
        except ConflictError:
            return False
        log.warning("job %s attempt %d: %s", job_id, lost.attempt, LOST_REASON)
        return True

    async def _dependencies(self, state: JobState) -> Proceed | Hold | Abandon:
        """Each dependency's terminal status from its events, then the pure decision."""
        outcomes = tuple([(dep, (await self.journal.state(dep)).outcome) for dep in state.depends_on])
        return decide_dependencies(state.depends_policy, outcomes)

    async def _look_again(self, job_id: str, payload: bytes) -> None:
        """Hand the submit to the schedules stream for another look in ``DEPENDS_POLL_S`` (a new
        message each time, so waiting never counts towards ``max_deliver``)."""
        at = datetime.now(UTC) + timedelta(seconds=DEPENDS_POLL_S)
        await schedule_submit(self.js, job_id, at, payload, msg_id=f"deps:{job_id}:{at.timestamp()}")

    async def _abandon(self, job_id: str, state: JobState, reason: str) -> bool:
        """End a job whose dependency failed as ``canceled`` (OCC; ``False``: lost a race)."""
        data = ResultData(reason=reason, last_seq=state.seq)
        event = new_event(JobCanceled, job_id=job_id, attempt=state.attempt, seq=state.seq + 1, data=data)
        try:
            await self.journal.append(event, state.stream_seq)
        except ConflictError:
            return False
        log.info("job %s canceled: %s", job_id, reason)
        return True

    async def _runnable(self, payload: bytes) -> SubmitJob | None:
        """The submit to run: the command itself (with the stored inventory its ``job.queued``
        resolved), or for a retry, the job's queued spec."""
        command = _command(payload)
        if isinstance(command, RetryJob):
            return await submit_of(self.journal, command)
        return None if command is None else await pinned_spec(self.journal, command)


def _command(payload: bytes) -> SubmitJob | RetryJob | None:
    """The run consumers' commands: a submit, or a retry of a dead job (on the same subjects)."""
    try:
        command = decode_command(payload)
    except ContractError:
        return None
    return command if isinstance(command, SubmitJob | RetryJob) else None


def _retry(payload: bytes) -> RetryJob | None:
    command = _command(payload)
    return command if isinstance(command, RetryJob) else None


async def _first(awaitable: object, stopping: asyncio.Event, wait_s: float | None = None) -> bool:
    """Wait for ``awaitable`` or ``stopping``; True if the awaitable finished first."""
    task = asyncio.ensure_future(awaitable)  # type: ignore[call-overload]
    stop = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait({task, stop}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if task in done:
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # It may have finished while being canceled: then keep what it got.
    return task.done() and not task.cancelled() and task.exception() is None
