"""The notifier's Prometheus metrics, one registry per ``Notifier``."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

ATTEMPT_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RESULTS: Final = ("delivered", "failed", "dead")


class NotifierMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.deliveries = Counter(
            "playledger_notifier_deliveries",
            "Webhook attempts recorded, by result (delivered; failed: retried later; dead: given up "
            "or refused).",
            ["result"],
            registry=registry,
        )
        for result in RESULTS:
            self.deliveries.labels(result)
        self.attempt_duration = Histogram(
            "playledger_notifier_attempt_duration_seconds",
            "One POST to a receiver: connect, send, read its answer.",
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        )
