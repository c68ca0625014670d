"""Cost of the playbook timeline on the executor's event path (issue 19), tracing off vs on.

Real event lines: one ``ansible-runner worker`` run of 1 host x 200 debug tasks (local, the
lines of ``bench_redact``). Per event, the executor decodes the line and builds the event
(``to_event_data``): that is the *off* path, unchanged by tracing but for one ``None`` check.
*On* adds what tracing does: ``Timeline.add`` per event, then at the job's end the spans
(``emit_timeline`` through the real SDK) and their OTLP protobuf encoding (the exporter's own
encoder, in the batches a BatchSpanProcessor sends; the HTTP POST itself is left out). CPU time of this process, all threads
(``time.process_time``), modes interleaved, median of 7 rounds.

    python tests/bench/bench_tracing.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / p) for p in ("schemas", "services/common", "services/executor")]

from bench_redact import real_lines  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

from playledger_common.tracing import TRACER  # noqa: E402
from playledger_executor.jobtrace import emit_timeline  # noqa: E402
from playledger_executor.timeline import Timeline  # noqa: E402
from playledger_executor.truncate import to_event_data  # noqa: E402

ROUNDS = 7
LIMIT = 64 * 1024


class Encoding(SpanExporter):
    """Encodes each span as the OTLP/HTTP exporter would send it; counts the bytes."""

    def __init__(self) -> None:
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.bytes += len(encode_spans(spans).SerializeToString())
        return SpanExportResult.SUCCESS


def off(lines: list[bytes]) -> None:
    timeline = None
    for line in lines:
        data = to_event_data(json.loads(line), LIMIT)
        if timeline is not None:
            timeline.add(data)


def fold(lines: list[bytes]) -> None:
    """``on`` without the spans: what the timeline costs on the event path itself."""
    timeline = Timeline()
    for line in lines:
        data = to_event_data(json.loads(line), LIMIT)
        if timeline is not None:
            timeline.add(data)
    timeline.spans()


def on(lines: list[bytes]) -> None:
    timeline = Timeline()
    with TRACER.start_as_current_span("job.run") as job:
        for line in lines:
            data = to_event_data(json.loads(line), LIMIT)
            if timeline is not None:
                timeline.add(data)
        emit_timeline(timeline.spans(), job)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]  # the SDK's provider


def cpu_us(run: object, lines: list[bytes]) -> float:
    started = time.process_time()
    run(lines)  # type: ignore[operator]
    return (time.process_time() - started) / len(lines) * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        lines, elapsed = real_lines(Path(work))
    exporter = Encoding()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    results: dict[str, list[float]] = {"off": [], "fold": [], "on": []}
    modes = [("off", off), ("fold", fold), ("on", on)]
    for round_ in range(ROUNDS):
        for name, run in modes if round_ % 2 == 0 else modes[::-1]:
            results[name].append(cpu_us(run, lines))
    median_off, median_fold, median_on = (statistics.median(results[m]) for m in ("off", "fold", "on"))
    per_event_ansible = elapsed / len(lines) * 1e6
    print(f"{len(lines)} real event lines, ansible run {elapsed:.2f} s ({per_event_ansible:.0f} µs/event)")
    print(f"tracing off: {median_off:.1f} µs/event (CPU)")
    print(f"timeline fold only: {median_fold:.1f} µs/event (CPU), ratio {median_fold / median_off:.2f}")
    print(
        f"tracing on:  {median_on:.1f} µs/event (CPU), OTLP {exporter.bytes / ROUNDS / len(lines):.0f} B/event"
    )
    print(f"ratio on/off: {median_on / median_off:.2f}")
    print(
        f"added: {median_on - median_off:.1f} µs/event = {(median_on - median_off) / per_event_ansible:.3%} of ansible's time"
    )


if __name__ == "__main__":
    main()
