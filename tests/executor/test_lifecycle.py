"""Real runs end to end: succeeded, failed, options, truncation and log, no leaked environment."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import InlineInventory
from playledger_schemas.events import (
    JobFailed,
    JobQueued,
    JobStarted,
    JobSucceeded,
    RunnerEvent,
)
from tests.executor.support import (
    LOCAL,
    all_event_payloads,
    job_events,
    running_executor,
    spec,
    submit,
    wait_terminal,
)

pytestmark = pytest.mark.integration


def check_envelope(events: list, job_id: str) -> None:
    """seq 1..n without gaps, runner counters 1..k without gaps, attempt 1 after queued."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    runner = [e for e in events if isinstance(e, RunnerEvent)]
    assert [e.data.counter for e in runner] == list(range(1, len(runner) + 1))
    assert all(e.job_id == job_id for e in events)
    assert [e.attempt for e in events] == [0] + [1] * (len(events) - 1)


async def test_success_and_failure(js: JetStreamContext, settings: ExecutorSettings) -> None:
    async with running_executor(settings):
        await submit(js, "good", spec("ok.yml", extra_vars={"greeting": "bonjour"}))
        await submit(js, "bad", spec("fail.yml"))
        good = await wait_terminal(js, "good")
        bad = await wait_terminal(js, "bad")

    assert isinstance(good, JobSucceeded)
    assert (good.data.runner_status, good.data.rc, good.data.reason) == ("successful", 0, None)
    assert good.data.stats["ok"] == {"localhost": 1}
    events = await job_events(js, "good")
    check_envelope(events, "good")
    assert isinstance(events[0], JobQueued)
    assert isinstance(events[1], JobStarted)
    assert events[1].data.executor_id == "test-executor"
    assert events[1].data.spec.options.timeout == settings.default_timeout_s  # resolved default
    runner = [e for e in events if isinstance(e, RunnerEvent)]
    assert good.data.runner_events == len(runner)
    assert good.data.last_seq == events[-2].seq == good.seq - 1
    ok = next(e for e in runner if e.data.event == "runner_on_ok")
    assert ok.data.event_data["res"]["msg"] == "hello localhost bonjour"
    log = Path(urlparse(good.data.log_uri or "").path)
    assert log == settings.logs_dir.resolve() / "jobs" / "good" / "1" / "stdout"  # the local store
    assert "hello localhost bonjour" in log.read_text()
    assert good.data.log is not None
    assert good.data.log.sha256 == hashlib.sha256(log.read_bytes()).hexdigest()

    assert isinstance(bad, JobFailed)
    assert (bad.data.runner_status, bad.data.rc) == ("failed", 2)
    assert bad.data.stats["failures"] == {"localhost": 1}
    check_envelope(await job_events(js, "bad"), "bad")
    assert settings.work_dir is not None
    assert list(settings.work_dir.iterdir()) == []  # private data dirs removed


async def test_options_reach_ansible(js: JetStreamContext, settings: ExecutorSettings) -> None:
    inventory = InlineInventory(hosts=["localhost", "other"], vars=LOCAL.vars)
    async with running_executor(settings):
        await submit(
            js, "opts", spec("ok.yml", inventory=inventory, limit="other", check_mode=True, verbosity=1)
        )
        await submit(js, "tagged", spec("ok.yml", skip_tags=["never-here"], tags=["nomatch"], forks=1))
        done = await wait_terminal(js, "opts")
        tagged = await wait_terminal(js, "tagged")
    assert isinstance(done, JobSucceeded)
    hosts = {
        e.data.event_data.get("host") for e in await job_events(js, "opts") if isinstance(e, RunnerEvent)
    }
    assert hosts - {None} == {"other"}  # --limit applied
    assert isinstance(tagged, JobSucceeded)
    names = [e.data.event for e in await job_events(js, "tagged") if isinstance(e, RunnerEvent)]
    assert "runner_on_ok" not in names  # --tags nomatch skipped the only task


async def test_oversized_output_is_truncated_in_the_event_and_whole_in_the_log(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    async with running_executor(settings):
        await submit(js, "big", spec("big.yml"))
        done = await wait_terminal(js, "big")
    assert isinstance(done, JobSucceeded)
    ok = next(
        e
        for e in await job_events(js, "big")
        if isinstance(e, RunnerEvent) and e.data.event == "runner_on_ok"
    )
    fields = {t.field: t for t in ok.data.truncated}
    res = fields["event_data.res"]
    assert res.original_size > 400_000 > settings.max_event_text >= res.kept_size - 200
    assert ok.data.event_data["res"]["changed"] is True
    log = Path(urlparse(done.data.log_uri or "").path).read_text()
    assert "changed: [localhost]" in log


async def test_executor_environment_never_reaches_the_stream(
    js: JetStreamContext, settings: ExecutorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-Pa55w0rd-4711"
    monkeypatch.setenv("PLAYLEDGER_DATABASE_URL", f"postgresql://app:{secret}@db.internal/playledger")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret + "-aws")
    async with running_executor(settings):
        await submit(js, "env", spec("env.yml"))
        done = await wait_terminal(js, "env")
    assert isinstance(done, JobSucceeded)
    events = await job_events(js, "env")
    task_env = next(
        e
        for e in events
        if isinstance(e, RunnerEvent)
        and e.data.event_data.get("task") == "task environment"
        and e.data.event == "runner_on_ok"
    )
    seen = task_env.data.event_data["res"]["stdout"]
    assert "PATH=" in seen  # the run really printed its environment
    assert "PLAYLEDGER" not in seen
    controller = next(
        e
        for e in events
        if isinstance(e, RunnerEvent)
        and e.data.event == "runner_on_ok"
        and e.data.event_data.get("task") == "controller environment"
    )
    assert controller.data.event_data["res"]["msg"] == "unset"
    for payload in await all_event_payloads(js):
        assert secret.encode() not in payload
    log = Path(urlparse(done.data.log_uri or "").path).read_text()
    assert secret not in log
