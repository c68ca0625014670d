"""The shell of the playbook timeline: ``timeline.SpanPlan`` s become spans under the job's span."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode

from playledger_common.tracing import TRACER
from playledger_executor.timeline import SpanPlan


def emit_timeline(plans: list[SpanPlan], job_span: Span) -> None:
    """One span per plan, with the events' own times; parents are listed before their children."""
    made: dict[str, Span] = {}
    for plan in plans:
        parent = made.get(plan.parent, job_span) if plan.parent is not None else job_span
        span = TRACER.start_span(
            plan.name,
            context=trace.set_span_in_context(parent),
            start_time=plan.start_ns,
            attributes=plan.attributes,
        )
        if plan.failed:
            span.set_status(StatusCode.ERROR)
        span.end(end_time=plan.end_ns)
        made[plan.key] = span
