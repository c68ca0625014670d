"""Retries on real runs: each attempt its own number and runner events, the dead letter, the
default policy for infrastructure failures (real nats-server, ansible-runner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import RetryPolicy
from playledger_schemas.events import (
    JobDead,
    JobEvent,
    JobFailed,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    RunnerEvent,
    is_terminal,
)
from tests.executor.support import job_events, running_executor, spec, submit, wait_terminal

pytestmark = pytest.mark.integration

QUICK = {"backoff_s": 0.3, "backoff_max_s": 1.0}


def check_attempts(events: list[JobEvent], attempts: int) -> None:
    """seq gap-free; one job.started per attempt; runner counters 1..k within each attempt; one end."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    started = [e for e in events if isinstance(e, JobStarted)]
    assert [e.attempt for e in started] == list(range(1, attempts + 1))
    for attempt in range(1, attempts + 1):
        counters = [e.data.counter for e in events if isinstance(e, RunnerEvent) and e.attempt == attempt]
        assert counters == list(range(1, len(counters) + 1)), attempt
        assert counters, f"attempt {attempt} has its own runner events"
    assert sum(is_terminal(e) for e in events) == 1
    assert is_terminal(events[-1])


async def test_a_playbook_failing_twice_then_succeeding_shows_three_attempts(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    counter = tmp_path / "flaky.count"
    retry = RetryPolicy(max_attempts=3, on=["failed"], **QUICK)
    job = spec("flaky.yml", retry=retry, extra_vars={"counter": str(counter), "succeed_on": 3})
    async with running_executor(settings):
        await submit(js, "flaky", job)
        done = await wait_terminal(js, "flaky", limit_s=90)
    assert isinstance(done, JobSucceeded)
    assert done.attempt == 3
    events = await job_events(js, "flaky")
    check_attempts(events, 3)
    scheduled = [e for e in events if isinstance(e, JobRetryScheduled)]
    assert [(e.attempt, e.data.next_attempt, e.data.status, e.data.cause) for e in scheduled] == [
        (1, 2, "failed", "failed"),
        (2, 3, "failed", "failed"),
    ]
    assert [a.attempt for a in scheduled[-1].data.attempts] == [1, 2]
    for event in scheduled:
        assert event.data.retry_at > event.time  # the backoff: later than when it was decided
        assert event.data.max_attempts == 3
    starts = [e for e in events if isinstance(e, JobStarted)]
    for ended, began in zip(scheduled, starts[1:], strict=True):
        assert began.time >= ended.data.retry_at  # the next attempt waited for its time
    assert counter.read_text().strip() == "3"


async def test_a_playbook_failing_every_time_is_dead_after_max_attempts_with_every_reason(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    retry = RetryPolicy(max_attempts=3, on=["failed"], **QUICK)
    async with running_executor(settings):
        await submit(js, "hopeless", spec("fail.yml", retry=retry))
        done = await wait_terminal(js, "hopeless", limit_s=90)
    assert isinstance(done, JobDead)
    assert done.attempt == 3
    assert [(a.attempt, a.status, a.cause) for a in done.data.attempts] == [
        (1, "failed", "failed"),
        (2, "failed", "failed"),
        (3, "failed", "failed"),
    ]
    assert all(a.reason == "ansible-playbook exited with rc 2" for a in done.data.attempts)
    assert done.data.reason is not None
    assert done.data.reason.startswith("dead after 3 attempts: 1 failed (ansible-playbook exited with rc 2)")
    assert done.data.rc == 2
    check_attempts(await job_events(js, "hopeless"), 3)


async def test_a_playbook_failure_is_not_retried_by_default(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    async with running_executor(settings):
        await submit(js, "once", spec("fail.yml"))
        done = await wait_terminal(js, "once", limit_s=60)
    assert isinstance(done, JobFailed)
    assert done.attempt == 1
    assert not [e for e in await job_events(js, "once") if isinstance(e, JobRetryScheduled)]
