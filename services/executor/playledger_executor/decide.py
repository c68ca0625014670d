"""The executor's functional core: a job's state from its last event, and what to do next.

Pure: no NATS, no ansible, no clock. The shell reads the job's last event, calls
``state_of`` and one of the ``decide_*`` functions, and carries out the decision with
optimistic concurrency, so a decision taken on a stale state fails cleanly and is re-taken.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from playledger_schemas.events import (
    JobCancelRequested,
    JobEvent,
    JobQueued,
    Outcome,
    RunnerEvent,
    RunnerStatus,
    is_terminal,
)

Phase = Literal["new", "queued", "canceling", "running", "done"]


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


NEW = JobState(phase="new")


def state_of(last: JobEvent | None, stream_seq: int = 0, accepted_seq: int | None = None) -> JobState:
    """Fold the last event; ``accepted_seq`` comes from the job's ``job.queued`` event."""
    if last is None:
        return NEW
    if isinstance(last, JobQueued):
        accepted_seq = last.data.command_seq
    base = JobState(
        phase="running", attempt=last.attempt, seq=last.seq, stream_seq=stream_seq, accepted_seq=accepted_seq
    )
    if is_terminal(last):
        return replace(base, phase="done")
    match last:
        case JobQueued():
            return replace(base, phase="queued")
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


RunDecision = Accept | Start | Skip | Lost


def decide_run(state: JobState, command_seq: int) -> RunDecision:
    """What to do with the submit command at stream sequence ``command_seq``."""
    if state.phase not in ("new", "done") and state.accepted_seq not in (None, command_seq):
        return Skip(f"duplicate submit; the job was queued by command {state.accepted_seq}")
    match state.phase:
        case "new":
            return Accept()
        case "queued":
            return Start(attempt=state.attempt + 1, seq=state.seq + 1)
        case "done":
            return Skip("the job has already ended")
        case "canceling" if state.attempt == 0:
            return Skip("the job is being canceled before it started")
        case _:
            return Lost(attempt=state.attempt, seq=state.seq + 1, runner_events=state.runner_events)


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
        case "queued":
            return CancelQueued(seq=state.seq + 1)
        case "canceling" if state.attempt == 0:
            return FinishCancel(seq=state.seq + 1)
        case "new":
            return Ignore("no such job")
        case "done":
            return Ignore("the job has already ended")
        case _:
            return Ignore("the job is running; its executor stops it")


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
    outcome: Outcome
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
        return Ending("timed_out", "the job exceeded its timeout")
    match runner_status:
        case "successful" if rc == 0:
            return Ending("succeeded", None)
        case "successful" | "failed":
            return Ending("failed", f"ansible-playbook exited with rc {rc}")
        case "timeout":
            return Ending("timed_out", "ansible-runner reported a timeout")
        case "canceled":
            return Ending("canceled", "ansible-runner reported the run as canceled")
        case "error":
            return Ending("error", failure or "ansible-runner reported an error")
    return Ending("error", failure or f"ansible-runner ended without a final status (rc {rc})")
