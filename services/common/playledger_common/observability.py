"""A service's logs and traces, set up in one call by each entry point."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context

from playledger_common.logs import job_context, setup_logging
from playledger_common.settings import CommonSettings
from playledger_common.tracing import extract, setup_tracing


def setup_observability(settings: CommonSettings, service: str) -> None:
    """Log lines in ``PLAYLEDGER_LOG_FORMAT`` at ``PLAYLEDGER_LOG_LEVEL``; traces when ``OTEL_*`` asks."""
    setup_logging(settings.log_level, service, settings.log_format)
    setup_tracing(service)


@contextlib.contextmanager
def about_job(job_id: str, headers: Mapping[str, str] | None, attempt: int | None = None) -> Iterator[None]:
    """Handling a message about a job: its log lines name the job, its spans continue the trace
    the message's ``traceparent`` carries (the submit's, or a NATS publisher's own)."""
    parent = extract(headers)
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with job_context(job_id, attempt) if job_id else contextlib.nullcontext():
            yield
    finally:
        if token is not None:
            otel_context.detach(token)
