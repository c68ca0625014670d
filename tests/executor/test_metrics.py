"""Executor and projector processes scraped over HTTP after real jobs (one stack for the module's test)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from playledger_cli.embedded import free_port
from playledger_common.settings import ExecutorSettings
from playledger_schemas.events import JobFailed, JobSucceeded, RunnerEvent
from playledger_schemas.subjects import EVENTS_STREAM
from tests.executor.support import (
    executor_env,
    job_events,
    spec,
    submit,
    wait_runner_event,
    wait_terminal,
)
from tests.processes import service

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/metrics")
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def ready(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"{url}/ready")


async def until(check: Any, what: str, processes: list[subprocess.Popen[bytes]], limit_s: float = 60) -> Any:
    """Poll ``check()`` until it returns something true (a process dying fails at once)."""
    deadline = time.monotonic() + limit_s
    while True:
        assert all(p.poll() is None for p in processes), f"a service exited while waiting for {what}"
        try:
            result = await check()
        except httpx.TransportError:
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


@contextmanager
def services(settings: ExecutorSettings, database_url: str, work: Path) -> Iterator[tuple[str, str, Any]]:
    executor_port, projector_port = free_port(), free_port()
    base = {
        "PLAYLEDGER_NATS_URL": settings.nats_url,
        "PLAYLEDGER_METRICS_HOST": "127.0.0.1",
    }
    executor_settings = {
        **base,
        "PLAYLEDGER_PROJECTS_DIR": str(settings.projects_dir),
        "PLAYLEDGER_LOGS_DIR": str(settings.logs_dir),
        "PLAYLEDGER_WORK_DIR": str(settings.work_dir),
        "PLAYLEDGER_CONCURRENCY": "2",
        "PLAYLEDGER_SHUTDOWN_GRACE_S": "2",
        "PLAYLEDGER_CANCEL_GRACE_S": "0.5",
        "PLAYLEDGER_METRICS_PORT": str(executor_port),
    }
    projector_settings = {
        **base,
        "PLAYLEDGER_DATABASE_URL": database_url,
        "PLAYLEDGER_METRICS_PORT": str(projector_port),
    }
    with ExitStack() as stack:
        projector = stack.enter_context(
            service("projector", executor_env(projector_settings), work / "projector.log")
        )
        executor = stack.enter_context(
            service("executor", executor_env(executor_settings), work / "executor.log")
        )
        yield f"http://127.0.0.1:{executor_port}", f"http://127.0.0.1:{projector_port}", (executor, projector)


async def test_metrics_after_a_successful_and_a_failed_job(
    js: JetStreamContext, settings: ExecutorSettings, database_url: str, tmp_path: Path
) -> None:
    with services(settings, database_url, tmp_path) as (executor_url, projector_url, procs):
        executor, projector = procs
        alive = [executor, projector]
        for url in (executor_url, projector_url):
            await until(lambda url=url: _is_ready(url), f"{url}/ready 200", alive)

        await submit(js, "good", spec("ok.yml"))
        await submit(js, "bad", spec("fail.yml"))
        assert isinstance(await wait_terminal(js, "good"), JobSucceeded)
        assert isinstance(await wait_terminal(js, "bad"), JobFailed)

        seen = await scrape(executor_url)
        assert value(seen, "playledger_executor_jobs_started_total", playbook="ok.yml") == 1
        assert value(seen, "playledger_executor_jobs_started_total", playbook="fail.yml") == 1
        finished = "playledger_executor_jobs_finished_total"
        assert value(seen, finished, outcome="successful", playbook="ok.yml") == 1
        assert value(seen, finished, outcome="failed", playbook="fail.yml") == 1
        assert total(seen, finished) == 2
        assert total(seen, "playledger_executor_job_duration_seconds_count") == 2
        assert value(seen, "playledger_executor_job_duration_seconds_count", outcome="failed") == 1
        assert value(seen, "playledger_executor_queue_wait_seconds_count", priority="normal") == 2
        events = [*await job_events(js, "good"), *await job_events(js, "bad")]
        runner_events = sum(isinstance(e, RunnerEvent) for e in events)
        assert runner_events > 0
        assert value(seen, "playledger_executor_runner_events_total") == runner_events
        assert value(seen, "playledger_executor_publish_duration_seconds_count") >= 4  # started + end, twice
        assert value(seen, "playledger_executor_jobs_running") == 0
        assert value(seen, "playledger_executor_slots_free") == 2
        assert value(seen, "playledger_executor_queue_depth", priority="normal") == 0

        stream_last = (await js.stream_info(EVENTS_STREAM)).state.last_seq

        async def caught_up() -> Samples | None:
            samples = await scrape(projector_url)
            done = value(samples, "playledger_projector_checkpoint_seq") == stream_last
            return samples if done else None

        projected = await until(caught_up, "the projector at the stream's end", alive)
        assert value(projected, "playledger_projector_lag_events") == 0
        assert value(projected, "playledger_projector_lag_seconds") == 0
        assert value(projected, "playledger_projector_active") == 1
        assert value(projected, "playledger_projector_events_applied_total") == stream_last
        assert value(projected, "playledger_projector_batch_size_sum") == stream_last
        assert value(projected, "playledger_projector_apply_duration_seconds_count") >= 1
        assert value(projected, "playledger_projector_events_skipped_total", reason="unknown_type") == 0

        # Two jobs hold both slots and another waits: no free slot, queue depth 1, not ready.
        for sleeper in ("sleeper-1", "sleeper-2"):
            await submit(js, sleeper, spec("sleep.yml", extra_vars={"sleep_s": 30}))
        for sleeper in ("sleeper-1", "sleeper-2"):
            await wait_runner_event(js, sleeper, "runner_on_start")
        await submit(js, "waiting", spec("ok.yml"))
        busy = await scrape(executor_url)
        assert value(busy, "playledger_executor_jobs_running") == 2
        assert value(busy, "playledger_executor_slots_free") == 0
        assert value(busy, "playledger_executor_queue_depth", priority="normal") == 1
        full = await ready(executor_url)
        assert full.status_code == 503
        assert {"name": "work", "ok": False, "detail": "0 of 2 slots free"} in full.json()["checks"]

        executor.send_signal(signal.SIGTERM)  # drains: the sleepers are stopped after the grace
        draining = await until(lambda: _draining(executor_url), "/ready 503 while draining", [projector])
        assert draining.status_code == 503
        assert draining.headers["retry-after"] == "5"
        assert executor.wait(timeout=30) == 0


async def _is_ready(url: str) -> bool:
    return (await ready(url)).status_code == 200


async def _draining(url: str) -> httpx.Response | None:
    response = await ready(url)
    checks = response.json()["checks"]
    return response if {"name": "work", "ok": False, "detail": "draining: shutting down"} in checks else None
