"""The submit door: what is checked on the raw request before the framework decodes the body.

Same limits as the NATS door (``playledger_schemas.limits``): the body may be as large as a
command may be (the server's ``max_payload`` minus headroom, at most ``PLAYLEDGER_MAX_BODY_BYTES``)
and nested less deeply than a command may be. Only ``application/json`` is read, so a web page
cannot launch a job with a "simple" cross-origin POST (``text/plain`` needs no preflight).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import msgspec
from litestar import Request

from playledger_api.errors import (
    FieldProblem,
    InvalidRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from playledger_api.models import SubmitJobBody
from playledger_api.services import Services, provide_services
from playledger_api.submission import decode_body, decode_strict
from playledger_schemas.limits import MAX_COMMAND_DEPTH, command_limit, too_big, too_deep

JSON: Final = "application/json"
SUBMIT_BODY: Final = "playledger_submit_body"
STRICT_BODY: Final = "playledger_strict_body"
B = TypeVar("B")


def body_limit(services: Services) -> int:
    """The largest submit body (and command) this process accepts, from the live connection."""
    return min(services.settings.max_body_bytes, command_limit(services.bus.nc.max_payload))


def refuse_too_big(services: Services, size: int, what: str) -> None:
    limit = body_limit(services)
    if size > limit:
        if limit < command_limit(services.bus.nc.max_payload):
            detail = f"{what} is {size} bytes, more than the limit of {limit} (PLAYLEDGER_MAX_BODY_BYTES)"
        else:
            detail = f"{what} is {too_big(size, limit)}"
        raise PayloadTooLargeError(detail)


async def check_submit(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook of ``POST /api/v1/jobs``: media type, size, depth."""
    services = provide_services(request.app.state)
    media_type, _ = request.content_type
    if media_type != JSON:
        detail = f"the body must be {JSON}, not {media_type or 'unspecified'!r}"
        raise UnsupportedMediaTypeError(detail)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        refuse_too_big(services, int(length), "the body")
    body = await request.body()
    refuse_too_big(services, len(body), "the body")
    if why := too_deep(body, MAX_COMMAND_DEPTH):
        raise InvalidRequestError.at(FieldProblem(path="$", message=why))
    # Strict, with every invalid field, before the framework's own (lax, first-error-only) decode.
    request.state[SUBMIT_BODY] = decode_body(body)


async def json_body(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[B]) -> B:
    """A body other than a submit's, with the same door: media type, size, depth, strict decode."""
    services = provide_services(request.app.state)
    media_type, _ = request.content_type
    if media_type != JSON:
        detail = f"the body must be {JSON}, not {media_type or 'unspecified'!r}"
        raise UnsupportedMediaTypeError(detail)
    body = await request.body()
    refuse_too_big(services, len(body), "the body")
    if why := too_deep(body, MAX_COMMAND_DEPTH):
        raise InvalidRequestError.at(FieldProblem(path="$", message=why))
    return decode_strict(body, decoder)


def strict_body(decoder: msgspec.json.Decoder[Any]) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A ``before_request`` hook: ``json_body`` before the framework's own (lax) decode, kept for
    ``decoded`` (the handler still declares its body, for the OpenAPI document)."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        request.state[STRICT_BODY] = await json_body(request, decoder)

    return hook


def decoded(request: Request[Any, Any, Any], tp: type[B]) -> B:
    """The body ``strict_body`` decoded."""
    body = request.state[STRICT_BODY]
    assert isinstance(body, tp)  # noqa: S101 - the route's own hook decoded it into ``tp``
    return body


def submit_body(request: Request[Any, Any, Any]) -> SubmitJobBody:
    """The body ``check_submit`` decoded."""
    body: SubmitJobBody = request.state[SUBMIT_BODY]
    return body
