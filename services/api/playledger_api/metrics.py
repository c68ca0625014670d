"""Prometheus metrics, one registry per app (so several apps can live in one test process).

With several uvicorn workers (``PLAYLEDGER_API_WORKERS``) ``server.serve`` switches
prometheus-client to its multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set before the
workers start): every worker writes its values to files there and any worker's ``/metrics``
sums them all, so a scrape sees the whole pod whichever worker answers. The gauges say how
(``livesum``: the processes' sum). Litestar's Prometheus plugin is prometheus-client underneath
with the same per-process registry, and would rename the ``playledger_api_*`` metrics.
"""

from __future__ import annotations

import os
import time
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's own variable: set, every process of the pod shares its metrics there."""
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "playledger_api_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "playledger_api_request_duration_seconds",
            "Time to the response's first byte (SSE and logs: until the stream starts), by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs_submitted = Counter(
            "playledger_api_jobs_submitted_total",
            "Jobs accepted by POST /api/v1/jobs (duplicates of a known job id excluded).",
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "playledger_api_sse_clients",
            "SSE clients currently connected.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.sse_events = Counter(
            "playledger_api_sse_events_total", "Job events sent to SSE clients.", registry=self.registry
        )

        self.sse_events_ignored = Counter(
            "playledger_api_sse_events_ignored_total",
            "Job events not sent to SSE clients because they break the writer rules (after the terminal "
            "event, a seq gap, not an event).",
            registry=self.registry,
        )
        self.sse_resubscribes = Counter(
            "playledger_api_sse_resubscribes_total",
            "Times an SSE consumer (a client's or a job's shared one) was replaced to resume after its "
            "last event (it overflowed or stalled).",
            registry=self.registry,
        )
        self.sse_feeds = Gauge(
            "playledger_api_sse_feeds",
            "Jobs with a shared live consumer (one per watched job and worker, whatever the clients).",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.sse_catchups = Counter(
            "playledger_api_sse_catchups_total",
            "Times an SSE client replayed on its own consumer before reading a job's shared feed "
            "(it resumed from further back, or fell behind).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """This process's metrics, or in multiprocess mode those of every worker, summed."""
        if os.environ.get(MULTIPROC_DIR):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)

    def process_ended(self) -> None:
        """Multiprocess mode: this worker's live gauges (its SSE clients) leave the sums."""
        if os.environ.get(MULTIPROC_DIR):
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Count every HTTP request and time it until the response starts."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            method = scope["method"]
            started = time.perf_counter()
            status = 500

            async def send_and_observe(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    route = scope.get("path_template") or "unmatched"
                    self.latency.labels(method, route).observe(time.perf_counter() - started)
                await send(message)

            try:
                await app(scope, receive, send_and_observe)
            finally:
                route = scope.get("path_template") or "unmatched"
                self.requests.labels(method, route, str(status)).inc()

        return measured
