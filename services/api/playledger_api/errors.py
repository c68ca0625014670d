"""The API's errors and their RFC 9457 problem-details form; the only place errors become HTTP.

Domain and infrastructure failures are raised as :class:`ApiError` subclasses (or caught
here as known infrastructure exceptions) and rendered as ``application/problem+json``.
A 5xx never carries exception text: only a fixed title and the failing dependency's name.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Final, Self

import asyncpg
import msgspec
import nats.errors
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from playledger_common.errors import PlayledgerError
from playledger_schemas.codec import field_error_at

log: Final = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
RETRY_AFTER_S: Final = 5
NATS: Final = "NATS"
POSTGRESQL: Final = "PostgreSQL"
LOG_STORAGE: Final = "log storage"


class FieldProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One invalid input: a JSON path (``$.options.forks``) or parameter (``query.limit``) and why."""

    path: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    """Always ``about:blank``: the status code and title say what happened."""
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] = msgspec.field(default_factory=list)
    """Every invalid field, with its JSON path."""
    job_id: str | None = None
    """The job a 503 on submit is about: retry with this id (the submit may have been stored)."""


class ApiError(PlayledgerError):
    status: int = 500
    title: str = "Internal Server Error"

    def __init__(
        self, detail: str, errors: list[FieldProblem] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    @classmethod
    def at(cls, problem: FieldProblem) -> Self:
        """The error for one invalid field."""
        return cls(f"{problem.path}: {problem.message}", [problem])

    @classmethod
    def of(cls, problems: list[FieldProblem]) -> Self:
        return cls("; ".join(f"{p.path}: {p.message}" for p in problems), problems)


class BadRequestError(ApiError):
    status = 400
    title = "Bad Request"


class InvalidRequestError(ApiError):
    """The body is well-formed JSON but does not describe a job we can run."""

    status = 422
    title = "Unprocessable Content"


class PayloadTooLargeError(ApiError):
    status = 413
    title = "Request Entity Too Large"


class UnsupportedMediaTypeError(ApiError):
    status = 415
    title = "Unsupported Media Type"


class MalformedBodyError(InvalidRequestError):
    """The body is not JSON at all: a 400, like any request the server cannot parse."""

    status = 400
    title = "Bad Request"


class UnauthorizedError(ApiError):
    """No usable API key: missing, malformed, unknown, expired or revoked (RFC 6750 challenge)."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str, *, invalid: bool = False) -> None:
        challenge = 'Bearer realm="playledger"'
        if invalid:
            challenge += f', error="invalid_token", error_description="{detail}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class ForbiddenError(ApiError):
    """The key is valid but lacks a scope (named in the detail) or may not run that playbook."""

    status = 403
    title = "Forbidden"


class NotFoundError(ApiError):
    status = 404
    title = "Not Found"


class TooManyRequestsError(ApiError):
    status = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class JobNotFoundError(ApiError):
    status = 404
    title = "Not Found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")


class JobConflictError(ApiError):
    status = 409
    title = "Conflict"


class GoneError(ApiError):
    status = 410
    title = "Gone"


class RangeNotSatisfiableError(ApiError):
    status = 416
    title = "Range Not Satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the range starts beyond the end ({size} bytes)", headers={"Content-Range": f"bytes */{size}"}
        )


class NameTakenError(ApiError):
    """Something of that name exists already (create it under another name, or PUT to replace it)."""

    status = 409
    title = "Conflict"


class TemplateInUseError(ApiError):
    """A template other templates link to, or schedules launch, cannot be deleted under them."""

    status = 409
    title = "Conflict"


class SecretsKeyError(ApiError):
    """The key-encryption keys are missing or unusable: an operator's problem, named without key material."""

    status = 503
    title = "Service Unavailable"


class DependencyUnavailableError(ApiError):
    """NATS or PostgreSQL cannot serve the request right now; the client should retry."""

    status = 503
    title = "Service Unavailable"

    def __init__(self, dependency: str) -> None:
        super().__init__(
            f"{dependency} is unavailable, retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
        )
        self.dependency = dependency


class SubmitUncertainError(DependencyUnavailableError):
    """A submit got no acknowledgement in time: it may be stored. The answer names the job so
    that the client retries with that id (idempotent) instead of submitting a second job."""

    def __init__(self, job_id: str) -> None:
        super().__init__(NATS)
        self.detail = (
            f"{NATS} did not confirm the submit in time; job {job_id!r} may have been stored: "
            "retry with the same id (it never runs twice)"
        )
        self.job_id = job_id
        self.headers["Location"] = f"/api/v1/jobs/{job_id}"


def unavailable_dependency(exc: BaseException) -> str | None:
    """Name the dependency behind an infrastructure exception, or ``None`` if it is not one."""
    if isinstance(exc, nats.errors.Error):
        return NATS
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.UndefinedTableError
        | asyncpg.InvalidCatalogNameError,
    ):
        return POSTGRESQL
    if isinstance(exc, OSError | TimeoutError):
        return "a backing service"
    return None


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str | None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    job_id: str | None = None,
) -> Response[bytes]:
    problem = Problem(
        type="about:blank",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors or [],
        job_id=job_id,
    )
    return Response(
        content=msgspec.json.encode(problem),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers or {},
    )


def handle_api_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    job_id = exc.job_id if isinstance(exc, SubmitUncertainError) else None
    return problem_response(request, exc.status, exc.title, exc.detail, exc.errors, exc.headers, job_id)


def _source(item: dict[str, Any]) -> str | None:
    source = item.get("source")
    return None if source is None else str(getattr(source, "value", source))


def _litestar_path(source: str | None, key: str | None) -> str:
    """Litestar names body fields ``options.forks`` (``data`` for the root); make them JSON paths."""
    if source == "body":
        return "$" if key in (None, "", "data") else f"$.{key}"
    return f"{source or 'request'}.{key}" if key else (source or "request")


def _problem(item: dict[str, Any]) -> FieldProblem:
    """One of Litestar's validation errors; in the body, read like the contract reads a command's."""
    source = _source(item)
    path, message = _litestar_path(source, item.get("key")), str(item.get("message"))
    if source == "body":
        error = field_error_at(path, message)
        path, message = error.path, error.message
    return FieldProblem(path=path, message=message)


def handle_validation_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, ValidationException)  # noqa: S101 - registered for ValidationException only
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [_problem(item) for item in extra if isinstance(item, dict)]
    in_body = any(isinstance(item, dict) and _source(item) == "body" for item in extra)
    if in_body:
        detail = "; ".join(f"{e.path}: {e.message}" for e in errors)
        return problem_response(request, 422, InvalidRequestError.title, detail, errors)
    if errors:
        detail = "; ".join(f"{e.path}: {e.message}" for e in errors)
        return problem_response(request, 400, BadRequestError.title, detail, errors)
    return problem_response(request, 400, BadRequestError.title, exc.detail)


def handle_http_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code >= 500:
        return handle_internal_error(request, exc)
    headers = dict(exc.headers or {})
    return problem_response(request, exc.status_code, _title(exc.status_code), exc.detail, headers=headers)


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        log.warning(
            "%s %s: %s unavailable (%s)", request.method, request.url.path, dependency, type(exc).__name__
        )
        unavailable = DependencyUnavailableError(dependency)
        return handle_api_error(request, unavailable)
    log.exception("%s %s failed", request.method, request.url.path)
    return problem_response(request, 500, "Internal Server Error", "an unexpected error occurred")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: Final = {
    ApiError: handle_api_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_internal_error,
}
