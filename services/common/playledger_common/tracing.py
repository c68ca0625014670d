"""OpenTelemetry for every service: set up from the standard ``OTEL_*`` variables, off when unset.

The code uses only ``opentelemetry-api``; ``setup_tracing`` installs the SDK with an OTLP/HTTP
exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER=otlp``) asks for it. Otherwise the API's no-op tracer stays: spans cost a
function call, nothing is recorded or sent, and ``enabled()`` is ``False`` so per-event work
(the playbook timeline) is skipped altogether.

Trace context crosses NATS in the W3C ``traceparent`` header: ``inject`` adds the current one to
a message's headers, ``extract`` reads it back. Both work with tracing off too (a non-recording
span carries its parent's ids), so log lines keep the trace id a publisher sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from playledger_common.errors import ConfigError

TRACER: Final = trace.get_tracer("playledger")
"""Every service's tracer (a proxy: it records once ``setup_tracing`` installed the SDK)."""
TRACEPARENT: Final = "traceparent"
_state = {"enabled": False}


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        if exporter == "none":
            return False
        if exporter != "otlp":
            msg = f"OTEL_TRACES_EXPORTER={exporter} is not supported (otlp or none)"
            raise ConfigError(msg)
        return True
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def setup_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the SDK and its OTLP/HTTP exporter if the environment asks for it; ``True`` if so.

    The exporter reads its endpoint, headers, timeout, compression and TLS settings from the
    ``OTEL_EXPORTER_OTLP_*`` variables itself; ``OTEL_SERVICE_NAME`` (default ``playledger-<service>``)
    and ``OTEL_RESOURCE_ATTRIBUTES`` name the process. Spans are flushed at exit.
    """
    env = os.environ if environ is None else environ
    if not wanted(env):
        return False
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != "http/protobuf":
        msg = f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported (http/protobuf)"
        raise ConfigError(msg)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"playledger-{service}"}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _state["enabled"] = True
    return True


def enabled() -> bool:
    """Spans are recorded and exported (checked before any per-event work)."""
    return _state["enabled"]


def inject(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the current trace context added (``traceparent``), when there is one."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context | None:
    """The trace context a message carries, or ``None`` (then spans start a new trace)."""
    if not headers or TRACEPARENT not in headers:
        return None
    return propagate.extract(headers)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits (for log lines), or ``None`` outside a trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
