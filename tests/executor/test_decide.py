"""The functional core: state from the last event, run/cancel decisions, outcome mapping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from playledger_executor.decide import (
    NEW,
    Abandon,
    Accept,
    Adopt,
    CancelQueued,
    Conclude,
    DeadLetter,
    Delay,
    FinishCancel,
    Hold,
    Ignore,
    JobState,
    Lost,
    Proceed,
    RetryAt,
    Skip,
    Start,
    Wait,
    backoff_delay_s,
    cause_of,
    classify,
    decide_cancel,
    decide_dependencies,
    decide_end,
    decide_run,
    decide_unended,
    state_of,
)
from playledger_schemas.commands import DEFAULT_RETRY, RetryPolicy
from playledger_schemas.events import (
    AttemptOutcome,
    CancelRequestedData,
    JobCanceled,
    JobCancelRequested,
    JobQueued,
    JobRejected,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    QueuedData,
    RejectedData,
    ResultData,
    RetryScheduledData,
    RunnerEvent,
    RunnerEventData,
    StartedData,
)
from tests.executor.support import spec

pytestmark = pytest.mark.unit

SPEC = spec("ok.yml")


def ev(cls: Any, seq: int, attempt: int, data: Any) -> Any:
    return cls(event_id=uuid.uuid4(), job_id="j", attempt=attempt, seq=seq, time=datetime.now(UTC), data=data)


QUEUED = ev(JobQueued, 1, 0, QueuedData(spec=SPEC, command_seq=7))
STARTED = ev(JobStarted, 2, 1, StartedData(executor_id="x", spec=SPEC, playbook="ok.yml"))
RUNNER = ev(RunnerEvent, 5, 1, RunnerEventData(event="runner_on_ok", counter=3, uuid="u"))
CANCEL_QUEUED = ev(JobCancelRequested, 2, 0, CancelRequestedData(reason="r"))
CANCEL_RUNNING = ev(JobCancelRequested, 6, 1, CancelRequestedData(reason="r"))
DONE = ev(JobSucceeded, 9, 1, ResultData())
REJECTED = ev(JobRejected, 1, 0, RejectedData(reason="bad"))
CANCELED = ev(JobCanceled, 3, 0, ResultData())


def test_state_of_each_last_event() -> None:
    assert state_of(None) == NEW
    assert state_of(QUEUED, 40) == JobState(phase="queued", attempt=0, seq=1, stream_seq=40, accepted_seq=7)
    assert state_of(STARTED, 41, 7).phase == "running"
    running = state_of(RUNNER, 44, 7)
    assert (running.phase, running.runner_events, running.attempt, running.seq) == ("running", 3, 1, 5)
    assert state_of(CANCEL_QUEUED, 42, 7).phase == "canceling"
    for terminal in (DONE, REJECTED, CANCELED):
        assert state_of(terminal, 50).phase == "done"


def test_decide_run() -> None:
    assert decide_run(NEW, 7) == Accept()
    assert decide_run(state_of(QUEUED, 40), 7) == Start(attempt=1, seq=2)
    assert isinstance(decide_run(state_of(DONE, 50, 7), 7), Skip)
    assert isinstance(decide_run(state_of(REJECTED, 50), 7), Skip)
    assert isinstance(decide_run(state_of(CANCEL_QUEUED, 42, 7), 7), Skip)
    assert decide_run(state_of(STARTED, 41, 7), 7) == Lost(attempt=1, seq=3, runner_events=0)
    assert decide_run(state_of(RUNNER, 44, 7), 7) == Lost(attempt=1, seq=6, runner_events=3)
    assert decide_run(state_of(CANCEL_RUNNING, 45, 7), 7) == Lost(attempt=1, seq=7, runner_events=0)


def test_a_second_submit_of_a_running_job_is_a_duplicate_not_a_lost_run() -> None:
    decision = decide_run(state_of(RUNNER, 44, 7), 99)
    assert isinstance(decision, Skip)
    assert "duplicate" in decision.reason
    assert isinstance(decide_run(state_of(QUEUED, 40), 99), Skip)


LOST = Lost(attempt=1, seq=6, runner_events=3)


def unended(writer: str | None, *, running_here: bool = False, missing_for: float | None = None) -> object:
    return decide_unended(
        LOST,
        writer=writer,
        here="me",
        running_here=running_here,
        lease_missing_for_s=missing_for,
        lease_ttl_s=30.0,
    )


def test_a_redelivery_of_a_job_running_here_is_adopted_never_lost() -> None:
    """Defect 1: after an outage longer than ack_wait the live executor got its own submit back."""
    for writer in ("me", "other", None):
        for missing_for in (None, 0.0, 100.0):
            assert unended(writer, running_here=True, missing_for=missing_for) == Adopt()


def test_lost_only_on_evidence_that_the_writer_is_gone() -> None:
    current = unended("other")
    assert isinstance(current, Wait)
    assert "other" in current.reason
    # just after an outage every lease has expired: look again after a whole TTL
    assert isinstance(unended("other", missing_for=0.0), Wait)
    assert isinstance(unended("other", missing_for=29.9), Wait)
    assert unended("other", missing_for=30.0) == LOST
    # my id, not running here: an earlier incarnation under the same id wrote it
    assert unended("me") == LOST
    assert unended(None) == LOST


def test_decide_cancel() -> None:
    assert decide_cancel(state_of(QUEUED, 40)) == CancelQueued(seq=2)
    assert decide_cancel(state_of(CANCEL_QUEUED, 42, 7)) == FinishCancel(seq=3)
    assert isinstance(decide_cancel(NEW), Ignore)
    assert isinstance(decide_cancel(state_of(DONE, 50)), Ignore)
    assert isinstance(decide_cancel(state_of(STARTED, 41, 7)), Ignore)
    assert isinstance(decide_cancel(state_of(CANCEL_RUNNING, 45, 7)), Ignore)


@pytest.mark.parametrize(
    ("status", "rc", "kwargs", "outcome"),
    [
        ("successful", 0, {}, "successful"),
        ("failed", 2, {}, "failed"),
        ("failed", 4, {}, "failed"),
        ("canceled", 254, {"canceled": "by request"}, "canceled"),
        (None, -9, {"canceled": "by request"}, "canceled"),
        ("canceled", 254, {"timed_out": True}, "timeout"),
        ("timeout", 254, {}, "timeout"),
        ("error", 1, {"failure": "Failed to JSON parse"}, "error"),
        (None, 1, {}, "error"),
        ("successful", 0, {"canceled": "executor shutdown"}, "canceled"),
    ],
)
def test_classify(status: Any, rc: int, kwargs: dict[str, Any], outcome: str) -> None:
    ending = classify(status, rc, **kwargs)
    assert ending.outcome == outcome
    assert (ending.reason is None) == (outcome == "successful")


def test_classify_keeps_the_cancel_reason() -> None:
    assert classify("canceled", 254, canceled="executor shutdown").reason == "executor shutdown"
    assert classify(None, 1, failure="boom").reason == "boom"


# --- retries: the end of an attempt, the wait, the dead letter ------------------------------

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def outcome(attempt: int, status: str = "failed", cause: str | None = "failed") -> AttemptOutcome:
    return AttemptOutcome(attempt=attempt, status=status, cause=cause, reason="r", ended_at=T)  # type: ignore[arg-type]


def test_the_cause_of_an_ending_names_what_a_policy_retries() -> None:
    assert cause_of("error", lost=True) == "executor_lost"
    assert cause_of("error", fetch_failed=True) == "source_error"
    assert cause_of("failed", stats={"failures": {"h": 1}, "dark": {}}) == "failed"
    assert cause_of("failed", stats={"failures": {}, "dark": {"h": 1}}) == "unreachable"
    assert cause_of("timeout") == "timeout"
    assert cause_of("error") == "error"
    assert cause_of("successful") is None
    assert cause_of("canceled") is None


def test_backoff_doubles_up_to_its_cap_and_jitter_takes_up_to_half() -> None:
    policy = RetryPolicy(backoff_s=10, backoff_max_s=25)
    assert [backoff_delay_s(policy, n, 0.0) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]
    assert backoff_delay_s(policy, 1, 0.999) == pytest.approx(5.005)


def test_an_attempt_is_retried_only_for_a_cause_its_policy_names() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=10, on=["failed"])
    decision = decide_end(policy, outcome(1), (), now=T, jitter=0.0)
    assert decision == RetryAt(at=T + timedelta(seconds=10), attempts=(outcome(1),))
    assert decide_end(policy, outcome(1, "error", "executor_lost"), (), now=T, jitter=0.0) == Conclude()
    assert decide_end(policy, outcome(1, "successful", None), (), now=T, jitter=0.0) == Conclude()
    assert (
        decide_end(DEFAULT_RETRY, outcome(1), (), now=T, jitter=0.0) == Conclude()
    )  # playbook failures: asked only
    assert isinstance(
        decide_end(DEFAULT_RETRY, outcome(1, "error", "executor_lost"), (), now=T, jitter=0.0), RetryAt
    )
    assert (
        decide_end(RetryPolicy(max_attempts=1, on=["failed"]), outcome(1), (), now=T, jitter=0.0)
        == Conclude()
    )


def test_the_last_allowed_attempt_is_dead_with_every_attempt() -> None:
    policy = RetryPolicy(max_attempts=3, on=["failed", "executor_lost"])
    earlier = (outcome(1, "error", "executor_lost"), outcome(2))
    assert decide_end(policy, outcome(3), earlier, now=T, jitter=0.5) == DeadLetter(
        attempts=(*earlier, outcome(3))
    )
    # a success on the last attempt is simply a success
    assert decide_end(policy, outcome(3, "successful", None), earlier, now=T, jitter=0.5) == Conclude()


def test_a_retrying_job_waits_for_its_time_then_starts_the_next_attempt() -> None:
    data = RetryScheduledData(
        status="failed", cause="failed", retry_at=T, next_attempt=2, max_attempts=3, attempts=[outcome(1)]
    )
    state = state_of(ev(JobRetryScheduled, 6, 1, data), 50, 7)
    assert (state.phase, state.retry_at, state.attempts) == ("retrying", T, (outcome(1),))
    assert decide_run(state, 7, T - timedelta(seconds=3)) == Delay(after_s=3.0)
    assert decide_run(state, 7, T) == Start(attempt=2, seq=7)
    assert isinstance(decide_run(state, 99, T), Skip)  # another submit of the same job: a duplicate
    assert decide_cancel(state) == CancelQueued(seq=7)  # cancellable while it waits


def test_a_job_with_run_at_waits_for_its_schedule_not_for_the_run_consumers() -> None:
    queued = ev(JobQueued, 1, 0, QueuedData(spec=SPEC, command_seq=7, run_at=T))
    state = state_of(queued, 40)
    assert (state.phase, state.run_at) == ("queued", T)
    early = T - timedelta(seconds=5)
    assert isinstance(decide_run(state, 7, early), Skip)  # the run consumer: its schedule delivers it
    assert decide_run(state, 7, T) == Start(attempt=1, seq=2)  # its time came: whoever has it runs it
    assert decide_run(state, 3, early + timedelta(seconds=4), due=True) == Delay(after_s=1.0)  # fired early
    assert decide_run(state, 3, T, due=True) == Start(attempt=1, seq=2)  # the schedule's own copy
    assert isinstance(decide_run(NEW, 3, T, due=True), Skip)


def test_dependencies_decide_from_their_terminal_statuses() -> None:
    assert decide_dependencies("success", (("a", "successful"), ("b", "successful"))) == Proceed()
    assert decide_dependencies("success", (("a", "successful"), ("b", None))) == Hold(waiting_for="b")
    assert decide_dependencies("success", (("a", None), ("b", "failed"))) == Abandon("dependency b failed")
    assert decide_dependencies("success", (("a", "dead"),)) == Abandon("dependency a failed")
    assert decide_dependencies("completion", (("a", "failed"), ("b", "canceled"))) == Proceed()
    assert decide_dependencies("completion", (("a", "failed"), ("b", None))) == Hold(waiting_for="b")
    queued = ev(
        JobQueued, 1, 0, QueuedData(spec=SPEC, command_seq=7, depends_on=["a"], depends_policy="completion")
    )
    assert (state_of(queued).depends_on, state_of(queued).depends_policy) == (("a",), "completion")
    assert state_of(DONE).outcome == "successful"
