"""An HTTP client's own trace: a request's ``traceparent`` becomes the parent of the spans it causes.

So a CI pipeline that traces itself sees the job (``job.submit`` and everything after it) inside
its own trace. Requests without the header start a new trace at ``job.submit``.
"""

from __future__ import annotations

from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import context as otel_context

from playledger_common.tracing import extract

CARRIED: Final = (b"traceparent", b"tracestate")


def continue_client_trace(app: ASGIApp) -> ASGIApp:
    async def continued(scope: Scope, receive: Receive, send: Send) -> None:
        carried = (
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in CARRIED}
            if scope["type"] == ScopeType.HTTP
            else None
        )
        parent = extract(carried)
        if parent is None:
            await app(scope, receive, send)
            return
        token = otel_context.attach(parent)
        try:
            await app(scope, receive, send)
        finally:
            otel_context.detach(token)

    return continued
