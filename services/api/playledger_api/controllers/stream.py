"""SSE from JetStream: ``GET /api/v1/jobs/{id}/stream`` (one job's events) and ``GET /api/v1/stream``
(every job's lifecycle events, for dashboards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Stream

from playledger_api.auth.guard import requires
from playledger_api.controllers.params import (
    RESUME_POINT,
    JobIdPath,
    ResumePoint,
    problems,
    reject_unknown_query,
)
from playledger_api.errors import JobNotFoundError
from playledger_api.lifecycle import lifecycle_stream
from playledger_api.live import job_event_stream
from playledger_api.services import ServicesDep
from playledger_api.sse import end_message
from playledger_schemas.events import TERMINAL_KINDS
from playledger_schemas.subjects import kind_of


class StreamController(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar's declared class attribute

    @get(
        "/{job_id:str}/stream",
        operation_id="streamJobEvents",
        media_type="text/event-stream",
        responses=problems(400, 401, 403, 404, 503),
        dependencies=RESUME_POINT,
        **requires("jobs:read"),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        job_id: JobIdPath,
        services: ServicesDep,
        start: ResumePoint,
    ) -> Stream:
        """Server-Sent Events: ``id`` = stream sequence, ``event`` = kind (``job.started``, ``runner_on_ok``, ...).

        ``data`` is the event as JSON. A finished job replays its events then sends
        ``event: end``; a running job continues live until its terminal event. Comments
        (``: keepalive``) keep idle connections open. Nothing is ever dropped for a slow client.
        """
        reject_unknown_query(request, frozenset({"after"}))
        last = await services.bus.last_event(job_id)
        if last is None and not await services.bus.was_submitted(job_id):
            raise JobNotFoundError(job_id)
        finished = False
        if last is not None and last.seq is not None and last.subject is not None:
            kind = kind_of(last.subject, job_id)
            finished = kind in TERMINAL_KINDS
            if finished and last.seq <= start:
                return _sse(_only(end_message(job_id, kind, last.seq)))
        settings = services.settings
        events = job_event_stream(
            services.bus.js,
            None if finished else services.hub,  # a finished job's replay has nothing to share
            job_id,
            start,
            last_seq=(last.seq or 0) if last is not None else 0,
            heartbeat_s=settings.sse_heartbeat_s,
            buffer=settings.sse_buffer_events,
            metrics=services.metrics,
        )
        return _sse(events)


class LifecycleStreamController(Controller):
    path = "/api/v1/stream"
    tags = ["jobs"]  # noqa: RUF012 - Litestar's declared class attribute

    @get(
        "/",
        operation_id="streamLifecycleEvents",
        media_type="text/event-stream",
        responses=problems(400, 401, 403, 503),
        dependencies=RESUME_POINT,
        **requires("jobs:read"),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        start: ResumePoint,
    ) -> Stream:
        """Server-Sent Events of every job's lifecycle: ``job.queued``, ``job.started``, the terminal kinds.

        ``id`` = stream sequence, ``data`` = the event as JSON (it names its ``job_id``). Without a
        resume point the stream starts with what happens next. It never ends by itself; a client
        that reconnects with ``Last-Event-ID`` gets exactly what it missed.
        """
        reject_unknown_query(request, frozenset({"after"}))
        settings = services.settings
        return _sse(
            lifecycle_stream(
                services.bus.js,
                start,
                heartbeat_s=settings.sse_heartbeat_s,
                buffer=settings.sse_buffer_events,
            )
        )


async def _only(message: bytes) -> AsyncIterator[bytes]:
    yield message


def _sse(chunks: AsyncIterator[bytes]) -> Stream:
    """Pre-encoded SSE bytes: batches of events go out in one write when a client has fallen behind."""
    return Stream(
        chunks,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
