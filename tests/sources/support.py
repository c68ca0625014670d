"""Helpers of the source tests: run a job to its end, pick what ``job.started`` recorded."""

from __future__ import annotations

from typing import Any

from nats.js import JetStreamContext

from playledger_schemas.commands import JobSpec
from playledger_schemas.events import JobStarted, RunnerEvent
from tests.executor.support import job_events, submit, wait_terminal


async def run(js: JetStreamContext, job_id: str, job_spec: JobSpec) -> tuple[Any, list[Any]]:
    """Submit, wait for the terminal event; the terminal event and every event of the job."""
    await submit(js, job_id, job_spec)
    terminal = await wait_terminal(js, job_id, limit_s=120)
    return terminal, await job_events(js, job_id)


def started(events: list[Any]) -> JobStarted:
    return next(e for e in events if isinstance(e, JobStarted))


def stdout(events: list[Any]) -> str:
    return "".join(e.data.stdout for e in events if isinstance(e, RunnerEvent))
