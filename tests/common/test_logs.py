"""JSON log lines name the job, its attempt and its trace; the tracing switch reads OTEL_*."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from playledger_common.errors import ConfigError
from playledger_common.logs import JsonFormatter, TextFormatter, job_context
from playledger_common.observability import about_job
from playledger_common.tracing import current_trace_id, inject, wanted

pytestmark = pytest.mark.unit

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("playledger_executor.job", logging.INFO, __file__, 1, message, (), None)


def test_a_json_line_about_a_job_carries_job_id_attempt_and_trace_id() -> None:
    parent = SpanContext(int(TRACE, 16), 0xB7AD6B7169203331, is_remote=True, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(parent)), job_context("job-1", 2):
        line = json.loads(JsonFormatter("executor").format(_record("job job-1 ended")))
        text = TextFormatter("executor").format(_record("job job-1 ended"))
    assert line["job_id"] == "job-1"
    assert line["attempt"] == 2
    assert line["trace_id"] == TRACE
    assert (line["service"], line["level"], line["message"]) == ("executor", "INFO", "job job-1 ended")
    assert text.endswith(f"job job-1 ended [job_id=job-1 attempt=2 trace_id={TRACE}]")
    outside = json.loads(JsonFormatter("executor").format(_record("ready")))
    assert "job_id" not in outside
    assert "trace_id" not in outside


def test_a_message_traceparent_is_continued_even_with_tracing_off() -> None:
    headers = {"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}
    with about_job("job-2", headers):
        assert current_trace_id() == TRACE
        assert inject({})["traceparent"].startswith(f"00-{TRACE}-")
    assert current_trace_id() is None
    assert "traceparent" not in inject({})


def test_tracing_is_on_only_when_the_otel_variables_ask_for_it() -> None:
    assert not wanted({})
    assert wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not wanted({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER=zipkin is not supported"):
        wanted({"OTEL_TRACES_EXPORTER": "zipkin"})
