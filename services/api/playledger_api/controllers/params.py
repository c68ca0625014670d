"""Parameter types and documented error responses shared by the controllers."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, PathParameter, QueryParameter

from playledger_api.errors import PROBLEM_JSON, BadRequestError, FieldProblem, Problem
from playledger_schemas.ids import JOB_ID_PATTERN

INT4_MAX: Final = 2**31 - 1
"""Sequence and attempt columns are PostgreSQL ``integer``; a larger query value is a 400, not a 500."""

JobIdPath = Annotated[
    str,
    PathParameter(
        pattern=JOB_ID_PATTERN,
        max_length=128,
        description="The job id: 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit.",
    ),
]

_DESCRIPTIONS: Final = {
    400: "Invalid query, path or header parameter (problem details with the parameter of each error).",
    401: "No usable API key (missing, unknown, expired or revoked); see WWW-Authenticate.",
    403: "The API key lacks the scope this operation needs (named in the detail), or may not run this playbook.",
    429: "Too many submits for this API key; retry after the Retry-After header's seconds.",
    404: "No job, key or credential with this id or name.",
    409: "The request conflicts with the job's state, or the name is taken.",
    410: "The job's log (or artifact) was stored but has expired (PLAYLEDGER_LOG_RETENTION_DAYS).",
    413: "The body (or the command made from it) is larger than the server's max_payload minus 4 KiB "
    "(and at most PLAYLEDGER_MAX_BODY_BYTES).",
    415: "The body is not application/json.",
    416: "The Range starts beyond the end of the log; Content-Range gives its size.",
    422: "The body is not a valid job (problem details with the JSON path of each invalid field).",
    503: "NATS, PostgreSQL or log storage is unavailable; retry after the Retry-After header's seconds.",
}


def problems(*codes: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON, description=_DESCRIPTIONS[code])
        for code in codes
    }


def reject_unknown_query(request: Request[Any, Any, Any], allowed: frozenset[str]) -> None:
    """Every query parameter is validated, including the ones we do not expect."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        errors = [FieldProblem(path=f"query.{name}", message="unknown query parameter") for name in unknown]
        raise BadRequestError.of(errors)


def resume_point(
    after: Annotated[
        int | None, QueryParameter(ge=0, description="Resume after this event id (a stream sequence).")
    ] = None,
    last_event_id: Annotated[
        str | None,
        HeaderParameter(
            name="Last-Event-ID", description="Set by EventSource on reconnect; wins over ``after``."
        ),
    ] = None,
) -> int:
    """Where an SSE client resumes: after its ``Last-Event-ID`` (set by EventSource), else ``after``, else 0."""
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 19:
            problem = FieldProblem(
                path="header.Last-Event-ID", message="must be an event id (a stream sequence)"
            )
            raise BadRequestError.at(problem)
        return int(text)
    return after or 0


RESUME_POINT: Final = {"start": Provide(resume_point, sync_to_thread=False)}
"""The ``start`` dependency of every SSE handler (its two parameters appear in the OpenAPI document)."""
ResumePoint = NamedDependency[int]
