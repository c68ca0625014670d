"""The executor's functional core: a job's state from its last event, and what to do next.

Pure: no NATS, no ansible, no clock. The shell reads the job's last event, calls
``state_of`` and one of the ``decide_*`` functions, and carries out the decision with
optimistic concurrency, so a decision taken on a stale state fails cleanly and is re-taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from playledger_schemas.commands import DependsPolicy, RetryCause, RetryPolicy
from playledger_schemas.events import (
    AttemptOutcome,
    HostStats,
    JobCancelRequested,
    JobDead,
    JobEvent,
    JobQueued,
    JobRetryRequested,
    JobRetryScheduled,
    RunnerEvent,
    RunnerStatus,
    is_terminal,
    terminal_status,
)
from playledger_schemas.status import ResultStatus, TerminalStatus

Phase = Literal["new", "queued", "canceling", "running", "retrying", "done"]


@dataclass(frozen=True, slots=True)
class JobState:
    """What the last event of a job says about it."""

    phase: Phase
    attempt: int = 0
    seq: int = 0
    """The job sequence of the last event (0 when there is none)."""
    stream_seq: int = 0
    """Its stream sequence: what the next append expects (optimistic concurrency)."""
    runner_events: int = 0
    """Runner events of the attempt, when the last event tells (a runner event's counter)."""
    accepted_seq: int | None = None
    """Stream sequence of the submit command that was queued (other submits are duplicates)."""
    retry_at: datetime | None = None
    """When the last event is ``job.retry_scheduled``: when the next attempt may start."""
    attempts: tuple[AttemptOutcome, ...] = field(default=())
    """When the last event is ``job.retry_scheduled``: every attempt so far."""
    dead: bool = False
    """The last event is ``job.dead``: a ``job.retry.v1`` may start it again."""
    run_at: datetime | None = None
    """When the last event is ``job.queued``: the submit's ``run_at``."""
    depends_on: tuple[str, ...] = ()
    """When the last event is ``job.queued``: the jobs it waits for, and how."""
    depends_policy: DependsPolicy = "success"
    outcome: TerminalStatus | None = None
    """Phase ``done``: the status its terminal event set."""


NEW = JobState(phase="new")


def state_of(last: JobEvent | None, stream_seq: int = 0, accepted_seq: int | None = None) -> JobState:
    """Fold the last event; ``accepted_seq`` comes from the job's ``job.queued`` event."""
    if last is None:
        return NEW
    if isinstance(last, JobQueued | JobRetryRequested):
        accepted_seq = last.data.command_seq
    base = JobState(
        phase="running", attempt=last.attempt, seq=last.seq, stream_seq=stream_seq, accepted_seq=accepted_seq
    )
    if is_terminal(last):
        return replace(base, phase="done", dead=isinstance(last, JobDead), outcome=terminal_status(last))
    match last:
        case JobQueued(data=data):
            return replace(
                base,
                phase="queued",
                run_at=data.run_at,
                depends_on=tuple(data.depends_on),
                depends_policy=data.depends_policy,
            )
        case JobRetryRequested():
            return replace(base, phase="queued")
        case JobRetryScheduled(data=data):
            return replace(base, phase="retrying", retry_at=data.retry_at, attempts=tuple(data.attempts))
        case JobCancelRequested():
            return replace(base, phase="canceling")
        case RunnerEvent(data=data):
            return replace(base, runner_events=data.counter)
    return base  # job.started


# --- what the run consumer does with a submit command it took -------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """No event yet: the intake has not seen the command; accept (or reject) it first."""


@dataclass(frozen=True, slots=True)
class Start:
    attempt: int
    seq: int


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Lost:
    """The attempt started but never ended: its executor died. Record ``job.error``."""

    attempt: int
    seq: int
    runner_events: int


@dataclass(frozen=True, slots=True)
class Delay:
    """The next attempt is scheduled later: deliver the command again after ``after_s``."""

    after_s: float


RunDecision = Accept | Start | Skip | Lost | Delay


def decide_run(
    state: JobState, command_seq: int, now: datetime | None = None, *, due: bool = False
) -> RunDecision:
    """What to do with the submit command at stream sequence ``command_seq`` at time ``now``;
    ``due``: it is the job's submit as its ``run_at`` schedule fired (``schedule.py``)."""
    if due and state.phase == "new":
        return Skip("a fired schedule of a job without events")
    if due and state.accepted_seq is not None:
        command_seq = state.accepted_seq  # the schedule's copy of the submit that was queued
    if state.phase not in ("new", "done") and state.accepted_seq not in (None, command_seq):
        return Skip(f"duplicate submit; the job was queued by command {state.accepted_seq}")
    match state.phase:
        case "new":
            return Accept()
        case "queued" if state.run_at is not None and now is not None and state.run_at > now:
            if due:  # fired early (the scheduler's clock): wait for the time itself
                return Delay(after_s=(state.run_at - now).total_seconds())
            return Skip(f"scheduled for {state.run_at.isoformat()}: its schedule delivers it then")
        case "queued":
            return Start(attempt=state.attempt + 1, seq=state.seq + 1)
        case "retrying":
            wait_s = (state.retry_at - now).total_seconds() if state.retry_at and now else 0.0
            if wait_s > 0:
                return Delay(after_s=wait_s)
            return Start(attempt=state.attempt + 1, seq=state.seq + 1)
        case "done":
            return Skip("the job has already ended")
        case "canceling" if state.attempt == 0:
            return Skip("the job is being canceled before it started")
        case _:
            return Lost(attempt=state.attempt, seq=state.seq + 1, runner_events=state.runner_events)


# --- a submit whose attempt started and has not ended: lost only on evidence ---------------


@dataclass(frozen=True, slots=True)
class Adopt:
    """The attempt runs in this executor: this is a redelivery of its own command (the
    delivery outlived ``ack_wait``, e.g. during a NATS outage). Keep it in progress."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Another executor that is alive (its lease is current) writes the attempt: look later."""

    reason: str


def decide_unended(
    lost: Lost,
    *,
    writer: str | None,
    here: str,
    running_here: bool,
    lease_missing_for_s: float | None,
    lease_ttl_s: float,
) -> Adopt | Wait | Lost:
    """Whether an attempt that started and never ended is really lost.

    ``writer`` is the executor id of the attempt's ``job.started``; ``running_here`` whether
    this executor runs the job now; ``lease_missing_for_s`` how long this executor has seen the
    writer's lease missing (``None``: it is current). The evidence that the writer is gone: it
    is this executor and the job does not run here (an earlier incarnation under the same id),
    or its lease stayed missing for a whole TTL — right after a NATS outage every lease has
    expired, and a live writer renews its own within seconds.
    """
    if running_here:
        return Adopt()
    if writer is None or writer == here:
        return lost
    if lease_missing_for_s is None:
        return Wait(f"executor {writer} still holds the attempt")
    if lease_missing_for_s < lease_ttl_s:
        return Wait(f"the lease of executor {writer} is missing; looking again after its TTL")
    return lost


# --- what the intake does with a cancel command ------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancelQueued:
    """Append ``job.cancel_requested`` at ``seq`` and ``job.canceled`` at ``seq + 1``."""

    seq: int


@dataclass(frozen=True, slots=True)
class FinishCancel:
    """A cancel of a queued job was requested but not finished: append ``job.canceled``."""

    seq: int


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


CancelDecision = CancelQueued | FinishCancel | Ignore


def decide_cancel(state: JobState) -> CancelDecision:
    match state.phase:
        case "queued" | "retrying":
            return CancelQueued(seq=state.seq + 1)
        case "canceling" if state.attempt == 0:
            return FinishCancel(seq=state.seq + 1)
        case "new":
            return Ignore("no such job")
        case "done":
            return Ignore("the job has already ended")
        case _:
            return Ignore("the job is running; its executor stops it")


# --- a job that depends on others ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proceed:
    """Every dependency ended as the policy asks: start."""


@dataclass(frozen=True, slots=True)
class Hold:
    """A dependency has not ended: look again later."""

    waiting_for: str


@dataclass(frozen=True, slots=True)
class Abandon:
    """A dependency ended without success under ``success``: end the job as ``canceled``."""

    reason: str


def decide_dependencies(
    policy: DependsPolicy, outcomes: tuple[tuple[str, TerminalStatus | None], ...]
) -> Proceed | Hold | Abandon:
    """From each dependency's terminal status (``None``: not ended), in ``depends_on`` order."""
    if policy == "success":
        for job_id, outcome in outcomes:
            if outcome is not None and outcome != "successful":
                return Abandon(f"dependency {job_id} failed")
    for job_id, outcome in outcomes:
        if outcome is None:
            return Hold(waiting_for=job_id)
    return Proceed()


# --- what a retry of a dead job does ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Revive:
    """Append ``job.retry_requested`` at ``seq``: the job is queued again for a new attempt."""

    seq: int


def decide_revive(state: JobState, command_seq: int) -> Revive | Ignore:
    """What a ``job.retry.v1`` command at ``command_seq`` does to the job."""
    if state.phase == "new":
        return Ignore("no such job")
    if not state.dead:
        return Ignore("only a dead job can be retried")
    if state.accepted_seq == command_seq:
        return Ignore("this retry already ran")
    return Revive(seq=state.seq + 1)


# --- what to record for a command that can never be handled (poison) ----------------------------


@dataclass(frozen=True, slots=True)
class RejectPoison:
    """No event yet: record the command as ``job.rejected`` (seq 1)."""


@dataclass(frozen=True, slots=True)
class ErrorPoison(Lost):
    """The job was queued or started: end it as ``job.error`` at ``seq``, like a lost attempt."""


PoisonDecision = RejectPoison | ErrorPoison | Ignore


def decide_poison(state: JobState) -> PoisonDecision:
    match state.phase:
        case "new":
            return RejectPoison()
        case "done":
            return Ignore("the job has already ended")
        case _:
            return ErrorPoison(attempt=state.attempt, seq=state.seq + 1, runner_events=state.runner_events)


# --- how a run ended ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ending:
    outcome: ResultStatus
    reason: str | None


def classify(
    runner_status: RunnerStatus | None,
    rc: int | None,
    *,
    canceled: str | None = None,
    timed_out: bool = False,
    failure: str | None = None,
) -> Ending:
    """Map the runner's final status plus what the executor did into the terminal outcome.

    ``canceled`` is the cancel reason when the executor stopped the run on request;
    ``failure`` explains a run that could not be carried out (no status, worker crash).
    """
    if canceled is not None:
        return Ending("canceled", canceled)
    if timed_out:
        return Ending("timeout", "the job exceeded its timeout")
    match runner_status:
        case "successful" if rc == 0:
            return Ending("successful", None)
        case "successful" | "failed":
            return Ending("failed", f"ansible-playbook exited with rc {rc}")
        case "timeout":
            return Ending("timeout", "ansible-runner reported a timeout")
        case "canceled":
            return Ending("canceled", "ansible-runner reported the run as canceled")
        case "error":
            return Ending("error", failure or "ansible-runner reported an error")
    return Ending("error", failure or f"ansible-runner ended without a final status (rc {rc})")


# --- after an attempt ended: the final word, another attempt, or the dead letter ---------------


def cause_of(
    outcome: ResultStatus, *, lost: bool = False, fetch_failed: bool = False, stats: HostStats | None = None
) -> RetryCause | None:
    """The retry policy's name for how an attempt ended (``None``: never retried)."""
    if lost:
        return "executor_lost"
    if fetch_failed:
        return "source_error"
    match outcome:
        case "failed":
            stats = stats or {}
            unreachable, failures = stats.get("dark") or {}, stats.get("failures") or {}
            return "unreachable" if any(unreachable.values()) and not any(failures.values()) else "failed"
        case "timeout":
            return "timeout"
        case "error":
            return "error"
    return None


@dataclass(frozen=True, slots=True)
class Conclude:
    """Record the attempt's own terminal event (success, a cause the policy does not retry, or a
    policy of one attempt)."""


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Record ``job.retry_scheduled``: the next attempt starts at ``at``."""

    at: datetime
    attempts: tuple[AttemptOutcome, ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Record ``job.dead``: the last attempt the policy allowed did not succeed either."""

    attempts: tuple[AttemptOutcome, ...]


EndDecision = Conclude | RetryAt | DeadLetter


def backoff_delay_s(policy: RetryPolicy, attempt: int, jitter: float) -> float:
    """The wait after attempt ``attempt`` ended: exponential, capped, less up to half of it at
    random (``jitter`` in [0, 1) is that random part, drawn by the caller)."""
    full = min(policy.backoff_max_s, policy.backoff_s * 2.0 ** max(attempt - 1, 0))
    return full * (1.0 - jitter / 2.0)


def decide_end(
    policy: RetryPolicy,
    ended: AttemptOutcome,
    earlier: tuple[AttemptOutcome, ...],
    *,
    now: datetime,
    jitter: float,
) -> EndDecision:
    """What an attempt that ended as ``ended`` leads to, given the job's earlier attempts."""
    attempts = (*(a for a in earlier if a.attempt < ended.attempt), ended)
    if ended.cause is None or ended.cause not in policy.on or policy.max_attempts <= 1:
        return Conclude()
    if ended.attempt >= policy.max_attempts:
        return DeadLetter(attempts=attempts)
    delay = backoff_delay_s(policy, ended.attempt, jitter)
    return RetryAt(at=now + timedelta(seconds=delay), attempts=attempts)
