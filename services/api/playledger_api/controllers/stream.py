"""SSE from JetStream: ``GET /api/v1/jobs/{id}/stream`` (one job's events) and ``GET /api/v1/stream``
(every job's lifecycle events, for dashboards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream

from playledger_api.auth.guard import requires
from playledger_api.controllers.params import JobIdPath, problems, reject_unknown_query
from playledger_api.errors import BadRequestError, FieldProblem, JobNotFoundError
from playledger_api.lifecycle import lifecycle_stream
from playledger_api.live import job_event_stream
from playledger_api.services import ServicesDep
from playledger_api.sse import TERMINAL_KINDS, end_message
from playledger_schemas.subjects import kind_of


class StreamController(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar's declared class attribute

    @get(
        "/{job_id:str}/stream",
        operation_id="streamJobEvents",
        media_type="text/event-stream",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        job_id: JobIdPath,
        services: ServicesDep,
        after: Annotated[
            int | None, QueryParameter(ge=0, description="Resume after this event id (a stream sequence).")
        ] = None,
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID", description="Set by EventSource on reconnect; wins over ``after``."
            ),
        ] = None,
    ) -> Stream:
        """Server-Sent Events: ``id`` = stream sequence, ``event`` = kind (``job.started``, ``runner_on_ok``, ...).

        ``data`` is the event as JSON. A finished job replays its events then sends
        ``event: end``; a running job continues live until its terminal event. Comments
        (``: keepalive``) keep idle connections open. Nothing is ever dropped for a slow client.
        """
        reject_unknown_query(request, frozenset({"after"}))
        start = _resume_point(after, last_event_id)
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
        **requires("jobs:read"),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        after: Annotated[
            int | None, QueryParameter(ge=0, description="Resume after this event id (a stream sequence).")
        ] = None,
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID", description="Set by EventSource on reconnect; wins over ``after``."
            ),
        ] = None,
    ) -> Stream:
        """Server-Sent Events of every job's lifecycle: ``job.queued``, ``job.started``, the terminal kinds.

        ``id`` = stream sequence, ``data`` = the event as JSON (it names its ``job_id``). Without a
        resume point the stream starts with what happens next. It never ends by itself; a client
        that reconnects with ``Last-Event-ID`` gets exactly what it missed.
        """
        reject_unknown_query(request, frozenset({"after"}))
        start = _resume_point(after, last_event_id)
        settings = services.settings
        return _sse(
            lifecycle_stream(
                services.bus.js,
                start,
                heartbeat_s=settings.sse_heartbeat_s,
                buffer=settings.sse_buffer_events,
            )
        )


def _resume_point(after: int | None, last_event_id: str | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 19:
            problem = FieldProblem(
                path="header.Last-Event-ID", message="must be an event id (a stream sequence)"
            )
            raise BadRequestError.at(problem)
        return int(text)
    return after or 0


async def _only(message: bytes) -> AsyncIterator[bytes]:
    yield message


def _sse(chunks: AsyncIterator[bytes]) -> Stream:
    """Pre-encoded SSE bytes: batches of events go out in one write when a client has fallen behind."""
    return Stream(
        chunks,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
