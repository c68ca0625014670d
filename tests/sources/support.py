"""Helpers of the source tests: run a job to its end, pick what ``job.started`` recorded, serve
URL inventories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from nats.js import JetStreamContext

from playledger_common.bus import connect
from playledger_schemas.commands import JobSpec
from playledger_schemas.events import JobStarted, RunnerEvent
from tests.executor.support import job_events, submit, wait_terminal
from tests.httpserve import serving

if TYPE_CHECKING:
    from tests.stack import Stack


async def run(js: JetStreamContext, job_id: str, job_spec: JobSpec) -> tuple[Any, list[Any]]:
    """Submit, wait for the terminal event; the terminal event and every event of the job."""
    await submit(js, job_id, job_spec)
    terminal = await wait_terminal(js, job_id, limit_s=120)
    return terminal, await job_events(js, job_id)


def started(events: list[Any]) -> JobStarted:
    return next(e for e in events if isinstance(e, JobStarted))


def stdout(events: list[Any]) -> str:
    return "".join(e.data.stdout for e in events if isinstance(e, RunnerEvent))


@contextmanager
def inventory_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A local HTTP server answering ``/inv.<ext>`` from a dict the test changes; records headers.
    ``state["require"] = (name, value)``: a request without that header gets 401."""
    state: dict[str, Any] = {"bodies": {}, "headers": [], "require": None}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["headers"].append(dict(self.headers))
            body = state["bodies"].get(self.path)
            required = state["require"]
            status = 404 if body is None else 200
            if required is not None and self.headers.get(required[0]) != required[1]:
                status = 401
            self.send_response(status)
            self.send_header("Content-Length", str(len(body) if status == 200 else 0))
            self.end_headers()
            if status == 200:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    with serving(Handler) as url:
        yield url, state


async def publish_submit(stack: Stack, job_id: str, spec: dict[str, Any]) -> None:
    """``job.submit.v1`` straight on NATS to a running stack, as a bus client would publish it."""
    nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
    try:
        command = {"type": "job.submit.v1", "job_id": job_id, "spec": spec}
        await nc.jetstream().publish(f"playledger.cmd.submit.normal.{job_id}", json.dumps(command).encode())
    finally:
        await nc.close()
