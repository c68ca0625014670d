"""A command whose handler raises every time ends recorded after ``max_deliver`` deliveries; the
consumer goes on with the next one. The failure is injected by wrapping the real handlers."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from playledger_common.consumers import INTAKE, MAX_DELIVER, run_consumer
from playledger_common.outcome import Ack, Poison, Retry, backoff_s, settled
from playledger_common.settings import ExecutorSettings
from playledger_executor import dispatch, intake
from playledger_executor.decide import NEW, ErrorPoison, Ignore, JobState, RejectPoison, decide_poison
from playledger_schemas.events import JobError, JobQueued, JobRejected, JobSucceeded
from playledger_schemas.subjects import COMMANDS_STREAM
from tests.executor.support import job_events, running_executor, spec, submit, wait_terminal

pytestmark = pytest.mark.integration

BROKEN = "always-breaks"


@pytest.mark.unit
def test_a_retry_on_the_last_allowed_delivery_is_poison() -> None:
    assert settled(Retry(why="x"), 1, 5) == Retry(why="x")
    assert settled(Retry(why="boom"), 5, 5) == Poison("gave up after 5 deliveries: boom")
    assert settled(Ack(), 9, 5) == Ack()
    assert settled(Poison("bad"), 1, 5) == Poison("bad")
    assert [backoff_s(n) for n in (1, 2, 3, 4, 9)] == [0.5, 1.0, 2.0, 4.0, 30.0]


@pytest.mark.unit
def test_poison_rejects_a_new_job_ends_a_queued_or_running_one_and_leaves_an_ended_one() -> None:
    assert decide_poison(NEW) == RejectPoison()
    queued = JobState(phase="queued", seq=1, stream_seq=7)
    assert decide_poison(queued) == ErrorPoison(attempt=0, seq=2, runner_events=0)
    running = JobState(phase="running", attempt=1, seq=9, runner_events=7)
    assert decide_poison(running) == ErrorPoison(attempt=1, seq=10, runner_events=7)
    assert isinstance(decide_poison(JobState(phase="done")), Ignore)


def breaking(real: Any, calls: Counter[str]) -> Any:
    """``real`` (a handler step), raising every time for the job ``BROKEN``."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        subject = next(a for a in (*args, *kwargs.values()) if isinstance(a, str | Msg))
        subject = subject.subject if isinstance(subject, Msg) else subject
        if subject.endswith(f".{BROKEN}"):
            calls[subject] += 1
            msg = "a bug that trips on every delivery"
            raise RuntimeError(msg)
        return await real(*args, **kwargs)

    return wrapper


async def settled_consumer(js: JetStreamContext, name: str, limit_s: float = 10) -> ConsumerInfo:
    """The consumer once nothing is pending: a command is acked just after its job's terminal event."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        info = await js.consumer_info(COMMANDS_STREAM, name)
        if info.num_ack_pending == 0 or asyncio.get_running_loop().time() > deadline:
            return info
        await asyncio.sleep(0.1)


async def test_a_submit_whose_handlers_always_raise_is_rejected_after_max_deliver(
    js: JetStreamContext, settings: ExecutorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    monkeypatch.setattr(intake, "accept", breaking(intake.accept, calls))
    monkeypatch.setattr(dispatch, "accept", breaking(dispatch.accept, calls))
    async with running_executor(settings):
        await submit(js, BROKEN, spec("ok.yml"))
        rejected = await wait_terminal(js, BROKEN, limit_s=60)
        assert isinstance(rejected, JobRejected)
        assert (
            rejected.data.reason == f"gave up after {MAX_DELIVER} deliveries: the handler raised RuntimeError"
        )
        assert "a bug that trips" not in rejected.data.reason  # exception text stays in the log
        await submit(js, "good-after", spec("ok.yml"))
        assert isinstance(await wait_terminal(js, "good-after"), JobSucceeded)
        for name in (INTAKE, run_consumer("normal")):
            info = await settled_consumer(js, name)
            assert info.num_ack_pending == 0
            assert info.num_redelivered == 0
    assert [type(e) for e in await job_events(js, BROKEN)] == [JobRejected]
    assert 0 < calls[f"playledger.cmd.submit.normal.{BROKEN}"] <= 2 * MAX_DELIVER


async def test_a_queued_job_whose_run_handler_always_raises_ends_as_error(
    js: JetStreamContext, settings: ExecutorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    monkeypatch.setattr(dispatch.Dispatcher, "_run_submit", breaking(dispatch.Dispatcher._run_submit, calls))
    async with running_executor(settings):
        await submit(js, BROKEN, spec("ok.yml"))
        ended = await wait_terminal(js, BROKEN, limit_s=60)
        assert isinstance(ended, JobError)
        assert ended.data.reason == f"gave up after {MAX_DELIVER} deliveries: the handler raised RuntimeError"
        await submit(js, "good-after", spec("ok.yml"))
        assert isinstance(await wait_terminal(js, "good-after"), JobSucceeded)
    assert [type(e) for e in await job_events(js, BROKEN)] == [JobQueued, JobError]
    assert calls[f"playledger.cmd.submit.normal.{BROKEN}"] == MAX_DELIVER
