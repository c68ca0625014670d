"""``/api/v1/jobs``: submit, list, show, events, hosts, logs, cancel. Reads come from the read models only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.response import Stream

from playledger_api.accepting import accept_submit
from playledger_api.auth.guard import current_key, requires
from playledger_api.auth.keys import KEY_NAME_PATTERN, Repository, refusal
from playledger_api.controllers.params import INT4_MAX, JobIdPath, problems, reject_unknown_query
from playledger_api.cursor import decode_cursor
from playledger_api.door import check_submit, submit_body
from playledger_api.errors import (
    BadRequestError,
    FieldProblem,
    ForbiddenError,
    GoneError,
    JobConflictError,
    JobNotFoundError,
    NotFoundError,
)
from playledger_api.logserve import LogFormat, serve, stored_pieces, stored_size, strip_ansi
from playledger_api.models import (
    CancelAccepted,
    EventPage,
    HostList,
    JobPage,
    RedeliveryAccepted,
    RetryAccepted,
    SubmitAccepted,
    SubmitJobBody,
    WebhookList,
)
from playledger_api.services import Services, ServicesDep
from playledger_api.submission import build_command, choose_job_id, split_credentials
from playledger_common.logstore import artifact_key
from playledger_common.statusdoc import JobStatusResponse, links
from playledger_schemas.commands import TEMPLATE_NAME_PATTERN, CancelJob, RetryJob
from playledger_schemas.ids import Priority
from playledger_schemas.status import TERMINAL_STATUSES, JobStatus
from playledger_schemas.webhooks import RedeliverWebhook, WebhookFailed

WAIT_POLL_S: Final = 0.02
"""How often ``?wait`` looks at the read model once the job's terminal event is stored."""
WAIT_IDLE_POLL_S: Final = 1.0
"""… and while it runs (in case the notice of its end was missed)."""
HOST_PATTERN: Final = r"^[A-Za-z0-9_.:\[\]-]{1,253}$"
EventName = Annotated[
    str, QueryParameter(pattern=r"^[A-Za-z0-9_.]{1,64}$", description="e.g. runner_on_ok, job.started")
]


class JobController(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar's declared class attribute

    @post(
        "/",
        status_code=202,
        operation_id="submitJob",
        before_request=check_submit,
        response_headers=[
            ResponseHeader(name="Location", description="The job's URL.", documentation_only=True),
        ],
        responses={
            200: ResponseSpec(
                data_container=JobStatusResponse,
                description="With ?wait: the job finished (its terminal event is projected) in time.",
            ),
            **problems(400, 401, 403, 413, 415, 422, 429, 503),
        },
        **requires("jobs:submit"),
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SubmitJobBody],
        services: ServicesDep,
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                description="The same key always names the same job: a retried submit never runs it twice.",
            ),
        ] = None,
        wait: Annotated[
            int | None,
            QueryParameter(
                ge=0,
                le=3600,
                description="Seconds to wait for the job to finish, 0-3600 and at most the server's "
                "PLAYLEDGER_MAX_WAIT_S (300 by default; more is a 400): 200 with the job when it is done, "
                "else 202.",
            ),
        ] = None,
    ) -> Response[SubmitAccepted | JobStatusResponse]:
        """Submit a job: answered 202 once the command is stored in JetStream.

        The job id is the body's ``id``, else derived from ``Idempotency-Key``, else new.
        Submitting a known id again returns that job (``duplicate: true``) and never runs it twice.
        The id is chosen before publishing: if NATS does not confirm the command in time, the 503
        names the job (``job_id``, ``Location``) because it may be stored; retry with that id.
        """
        reject_unknown_query(request, frozenset({"wait"}))
        settings = services.settings
        if wait is not None and wait > settings.max_wait_s:
            problem = FieldProblem(path="query.wait", message=f"must be <= {settings.max_wait_s}")
            raise BadRequestError.at(problem)
        body = submit_body(request)  # strict, decoded by check_submit: the framework's decoding is lax
        job_id = choose_job_id(body.id, idempotency_key)
        key = current_key(request)
        command = build_command(
            body,
            job_id,
            datetime.now(UTC),
            None if key is None else key.submitter,
            allow_file=settings.source_allow_file,
            allow_http=settings.source_allow_http,
            run_at_horizon_s=settings.commands_max_age_s,
            allow_http_callback=settings.webhook_allow_http,
        )
        _, inline = split_credentials(body, job_id)
        location = {"Location": f"/api/v1/jobs/{job_id}"}
        if not wait:
            accepted = await accept_submit(services, key, command, root="$.", inline=inline)
            return Response(accepted, status_code=202, headers=location)
        async with services.bus.end_of(job_id) as ended:  # watching before it can end
            accepted = await accept_submit(services, key, command, root="$.", inline=inline)
            job = await _wait_until_complete(services, job_id, wait, ended)
        if job is not None:
            return Response(job, status_code=200, headers=location)
        return Response(accepted, status_code=202, headers=location)

    @get("/", operation_id="listJobs", responses=problems(400, 401, 403, 503), **requires("jobs:read"))
    async def list_jobs(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        status: FromQuery[JobStatus | None] = None,
        priority: FromQuery[Priority | None] = None,
        created_after: Annotated[
            datetime | None, QueryParameter(description="RFC 3339 with a time zone; exclusive.")
        ] = None,
        created_before: Annotated[
            datetime | None, QueryParameter(description="RFC 3339 with a time zone; exclusive.")
        ] = None,
        cursor: Annotated[
            str | None, QueryParameter(max_length=512, description="``next_cursor`` of the previous page.")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        id_prefix: Annotated[
            str | None,
            QueryParameter(
                pattern=r"^[A-Za-z0-9_-]{1,128}$",
                description="Only jobs whose id starts with this (how the CLI resolves a short id).",
            ),
        ] = None,
        dead_letter: Annotated[
            bool | None,
            QueryParameter(
                description="true: the dead-letter view — dead jobs (every allowed attempt failed) and "
                "jobs the poison path ended (a command no executor could handle); false: the others."
            ),
        ] = None,
        template: Annotated[
            str | None,
            QueryParameter(
                pattern=TEMPLATE_NAME_PATTERN,
                description="Only jobs launched from this template (by a launch or a schedule).",
            ),
        ] = None,
        playbook: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=1024,
                pattern=r"^[^\x00]+$",  # as a source's path: PostgreSQL text holds no NUL
                description="Only jobs of this playbook: the source's ``path``, exactly as the list shows it.",
            ),
        ] = None,
        submitter: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=128,
                pattern=KEY_NAME_PATTERN,
                description="Only jobs submitted with this API key: its id or its name.",
            ),
        ] = None,
    ) -> JobPage:
        """List jobs, newest first, one page at a time (``status=dead`` or ``dead_letter=true``:
        the dead letter)."""
        reject_unknown_query(
            request,
            frozenset(
                {
                    "status",
                    "priority",
                    "created_after",
                    "created_before",
                    "cursor",
                    "limit",
                    "id_prefix",
                    "dead_letter",
                    "template",
                    "playbook",
                    "submitter",
                }
            ),
        )
        for name, value in (("created_after", created_after), ("created_before", created_before)):
            if value is not None and value.tzinfo is None:
                problem = FieldProblem(path=f"query.{name}", message="needs a time zone (e.g. Z or +00:00)")
                raise BadRequestError.at(problem)
        return await services.read_model.jobs(
            status=status,
            priority=priority,
            created_after=created_after,
            created_before=created_before,
            cursor=decode_cursor(cursor) if cursor else None,
            limit=limit,
            id_prefix=id_prefix,
            dead_letter=dead_letter,
            template=template,
            playbook=playbook,
            submitter=submitter,
        )

    @get(
        "/{job_id:str}",
        operation_id="getJob",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def get_job(
        self, request: Request[Any, Any, Any], job_id: JobIdPath, services: ServicesDep
    ) -> JobStatusResponse:
        """The job's status, progress and result; ``complete`` once every event is projected."""
        reject_unknown_query(request, frozenset())
        job = await services.read_model.job(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    @get(
        "/{job_id:str}/events",
        operation_id="listJobEvents",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        job_id: JobIdPath,
        services: ServicesDep,
        after: Annotated[
            int, QueryParameter(ge=0, le=INT4_MAX, description="Only events with a larger per-job seq.")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        event: Annotated[
            str | None,
            QueryParameter(pattern=r"^[A-Za-z0-9_.]{1,64}$", description="e.g. runner_on_ok, job.started"),
        ] = None,
        host: Annotated[
            str | None, QueryParameter(pattern=HOST_PATTERN, description="Only events of this host.")
        ] = None,
    ) -> EventPage:
        """The job's projected events in order (per-job ``seq``), paginated with ``after``."""
        reject_unknown_query(request, frozenset({"after", "limit", "event", "host"}))
        page = await services.read_model.events(job_id, after=after, limit=limit, event=event, host=host)
        if not page.items:
            await _require_known(services, job_id)
        return page

    @get(
        "/{job_id:str}/hosts",
        operation_id="listJobHosts",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def hosts(
        self, request: Request[Any, Any, Any], job_id: JobIdPath, services: ServicesDep
    ) -> HostList:
        """Per-host result counts."""
        reject_unknown_query(request, frozenset())
        items = await services.read_model.hosts(job_id)
        if not items:
            await _require_known(services, job_id)
        return HostList(items=items)

    @get(
        "/{job_id:str}/webhooks",
        operation_id="listJobWebhooks",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def webhooks(
        self, request: Request[Any, Any, Any], job_id: JobIdPath, services: ServicesDep
    ) -> WebhookList:
        """Every delivery attempt of the job's webhooks (``options.callback_url``) and its outcome."""
        reject_unknown_query(request, frozenset())
        items = await services.bus.webhook_history(job_id)
        if not items:
            await _require_known(services, job_id)
        return WebhookList(items=items)

    @post(
        "/{job_id:str}/webhooks/{delivery_id:str}/redeliver",
        status_code=202,
        operation_id="redeliverJobWebhook",
        responses=problems(400, 401, 403, 404, 409, 503),
        **requires("jobs:submit"),
    )
    async def redeliver(
        self,
        request: Request[Any, Any, Any],
        job_id: JobIdPath,
        delivery_id: Annotated[
            str,
            PathParameter(
                pattern=r"^[0-9]+-[A-Za-z0-9_]+$",
                description="The delivery's id, as the job's webhook history lists it.",
            ),
        ],
        services: ServicesDep,
    ) -> RedeliveryAccepted:
        """Deliver a delivered or dead webhook once more, with the job's status now (one attempt)."""
        reject_unknown_query(request, frozenset())
        last = await services.bus.last_delivery(job_id, delivery_id)
        if last is None:
            detail = f"job {job_id!r} has no webhook delivery {delivery_id!r}"
            raise NotFoundError(detail)
        if isinstance(last, WebhookFailed):
            detail = (
                f"webhook delivery {delivery_id!r} of job {job_id!r} is still being retried"
                f" (next attempt at {last.retry_at.isoformat()})"
            )
            raise JobConflictError(detail)
        key = current_key(request)
        ask = RedeliverWebhook(
            job_id=job_id,
            delivery_id=delivery_id,
            after_attempt=last.attempt,
            requested_by=None if key is None else key.id,
            issued_at=datetime.now(UTC),
        )
        await services.bus.redeliver(ask)
        return RedeliveryAccepted(job_id=job_id, delivery_id=delivery_id, attempt=last.attempt + 1)

    @get(
        "/{job_id:str}/logs",
        operation_id="getJobLogs",
        media_type="text/plain",
        responses={
            206: ResponseSpec(
                data_container=str, media_type="text/plain", description="The requested byte range."
            ),
            307: ResponseSpec(
                data_container=None,
                description="The finished log in S3: Location is a presigned URL, valid for "
                "PLAYLEDGER_STORAGE_PRESIGN_S seconds (Range is honoured there).",
            ),
            **problems(400, 401, 403, 404, 410, 416, 503),
        },
        **requires("jobs:read"),
    )
    async def logs(
        self,
        request: Request[Any, Any, Any],
        job_id: JobIdPath,
        services: ServicesDep,
        attempt: Annotated[
            int | None,
            QueryParameter(ge=1, le=INT4_MAX, description="This attempt's output (default: the latest)."),
        ] = None,
        log_format: Annotated[
            LogFormat,
            QueryParameter(
                name="format",
                description="`ansi`: the bytes as ansible-runner wrote them; `text`: without terminal "
                "escape sequences (served by the API, no Range).",
            ),
        ] = "ansi",
    ) -> Response[bytes] | Stream:
        """The job's complete stdout, byte for byte what ansible-runner wrote.

        A finished job's log comes from log storage (a 307 to a presigned URL on S3); a running
        job's is what it has written so far. Single byte ranges (`Range: bytes=…`) are served.
        Jobs that ran before log storage: rebuilt from their projected events.
        """
        reject_unknown_query(request, frozenset({"attempt", "format"}))
        row = await services.read_model.row(job_id)
        if row is None:
            raise JobNotFoundError(job_id)
        which = attempt or row.attempt
        if which >= 1:
            pieces, finished = await stored_pieces(services.logs, job_id, which)
            if pieces:
                return await serve(
                    services.logs,
                    pieces,
                    finished=finished,
                    presign_s=services.settings.storage_presign_s,
                    range_header=request.headers.get("range"),
                    log_format=log_format,
                )
            if row.log_object is not None and which == row.attempt:
                detail = f"the log of job {job_id!r} has expired (log storage keeps logs a limited time)"
                raise GoneError(detail)

        async def chunks() -> AsyncIterator[bytes]:
            async for piece in services.read_model.log(job_id, attempt):
                yield piece.encode()

        body = strip_ansi(chunks()) if log_format == "text" else chunks()
        return Stream(body, media_type="text/plain")

    @get(
        "/{job_id:str}/artifacts/{name:path}",
        operation_id="getJobArtifact",
        media_type="application/octet-stream",
        responses={
            206: ResponseSpec(data_container=bytes, description="The requested byte range."),
            307: ResponseSpec(data_container=None, description="In S3: Location is a presigned URL."),
            **problems(400, 401, 403, 404, 410, 416, 503),
        },
        **requires("jobs:read"),
    )
    async def artifact(
        self,
        request: Request[Any, Any, Any],
        job_id: JobIdPath,
        name: Annotated[
            str,
            PathParameter(
                max_length=513, description="The artifact's name, as the job's `artifacts` list it."
            ),
        ],
        services: ServicesDep,
    ) -> Response[bytes] | Stream:
        """One artifact of the job's last attempt, as listed in the job's `artifacts`."""
        reject_unknown_query(request, frozenset())
        row = await services.read_model.row(job_id)
        if row is None:
            raise JobNotFoundError(job_id)
        wanted = name.lstrip("/")
        stored = next((a for a in row.artifacts or [] if a.get("name") == wanted), None)
        if stored is None:
            detail = f"job {job_id!r} has no artifact {wanted!r}"
            raise NotFoundError(detail)
        key = artifact_key(job_id, row.attempt, wanted)
        if await stored_size(services.logs, key) is None:
            detail = (
                f"artifact {wanted!r} of job {job_id!r} has expired (log storage keeps it a limited time)"
            )
            raise GoneError(detail)
        return await serve(
            services.logs,
            [(key, int(stored["size"]))],
            finished=True,
            presign_s=services.settings.storage_presign_s,
            range_header=request.headers.get("range"),
            media_type="application/octet-stream",
        )

    @delete(
        "/{job_id:str}",
        status_code=202,
        operation_id="cancelJob",
        responses=problems(400, 401, 403, 404, 409, 503),
        **requires("jobs:cancel"),
    )
    async def cancel(
        self, request: Request[Any, Any, Any], job_id: JobIdPath, services: ServicesDep
    ) -> CancelAccepted:
        """Cancel a queued or running job (202); a finished job is a 409."""
        reject_unknown_query(request, frozenset())
        status = await services.read_model.status(job_id)
        if status is None:
            if not await services.bus.was_submitted(job_id):
                raise JobNotFoundError(job_id)
            status = "queued"
        if status in TERMINAL_STATUSES:
            detail = f"job {job_id!r} already finished ({status}); it cannot be canceled"
            raise JobConflictError(detail)
        await services.bus.cancel(CancelJob(job_id=job_id, issued_at=datetime.now(UTC)))
        return CancelAccepted(id=job_id, status=status)

    @post(
        "/{job_id:str}/retry",
        status_code=202,
        operation_id="retryJob",
        responses=problems(400, 401, 403, 404, 409, 503),
        **requires("jobs:submit"),
    )
    async def retry(
        self, request: Request[Any, Any, Any], job_id: JobIdPath, services: ServicesDep
    ) -> RetryAccepted:
        """Start a dead job again as a new attempt (202); any other job is a 409.

        Publishes ``job.retry.v1``; the job is ``queued`` once the executor records
        ``job.retry_requested``, then runs its next attempt. Repeating the request before
        that attempt ends changes nothing (one retry per attempt)."""
        reject_unknown_query(request, frozenset())
        job = await services.read_model.job(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        if job.status != "dead":
            detail = f"job {job_id!r} is {job.status}; only a dead job can be retried"
            raise JobConflictError(detail)
        key = current_key(request)
        if key is not None and (why := refusal(key, *_limited_parts(job))):
            raise ForbiddenError(why)
        command = RetryJob(
            job_id=job_id,
            issued_at=datetime.now(UTC),
            priority=job.priority,
            requested_by=None if key is None else key.submitter,
        )
        await services.bus.retry(command, job.attempt)
        return RetryAccepted(id=job_id, status=job.status, attempt=job.attempt + 1, links=links(job_id))


def _limited_parts(job: JobStatusResponse) -> tuple[str, list[Repository]]:
    """What a key's limits apply to in a projected job: its playbook path and git repositories."""
    source, inventory = job.source or {}, job.inventory or {}
    repos = [
        (what, str(part["repo"]))
        for what, part in (("source", source), ("inventory", inventory))
        if "repo" in part
    ]
    return str(source.get("path", "")), repos


async def _require_known(services: Services, job_id: str) -> None:
    """404 unless the read model knows the job (checked only when a query came back empty)."""
    if await services.read_model.status(job_id) is None:
        raise JobNotFoundError(job_id)


async def _wait_until_complete(
    services: Services, job_id: str, wait_s: int, ended: asyncio.Event
) -> JobStatusResponse | None:
    """The job once complete in the read model, or ``None`` after ``wait_s``.

    The read model is asked every ``WAIT_POLL_S`` once the job's terminal event was seen (``ended``:
    its projection follows within a batch), and only every ``WAIT_IDLE_POLL_S`` before: a running
    job costs the database nothing per waiter, and a missed notice only makes the answer later.
    """
    deadline = time.monotonic() + wait_s
    while True:
        if await services.read_model.is_complete(job_id):
            return await services.read_model.job(job_id)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        if ended.is_set():
            await asyncio.sleep(min(WAIT_POLL_S, remaining))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), min(WAIT_IDLE_POLL_S, remaining))
