"""The projector's Prometheus metrics, one registry per ``Projector``.

Lag is read when Prometheus scrapes (the stream's last sequence against the committed
checkpoint), so it is exact at that moment and costs nothing between scrapes.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from playledger_projector.views import BatchChanges

BATCH_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)
APPLY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SKIP_REASONS: Final = ("unknown_type", "duplicate", "invalid")


def skip_reason(reason: str) -> str:
    """The ``reason`` label of a ``skipped_events`` row (its text names the event; the label must not)."""
    if reason.startswith("unknown event type"):
        return "unknown_type"
    if reason.startswith("duplicate"):
        return "duplicate"
    return "invalid"


class ProjectorMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.active = Gauge(
            "playledger_projector_active",
            "1 while this process holds the leader lock and projects; 0 on standby.",
            registry=registry,
        )
        self.checkpoint = Gauge(
            "playledger_projector_checkpoint_seq",
            "The last events-stream sequence committed to the read models by this process.",
            registry=registry,
        )
        self.stream_last = Gauge(
            "playledger_projector_stream_last_seq",
            "The events stream's last sequence at the last scrape (checkpoint / this: catch-up progress).",
            registry=registry,
        )
        self.lag_events = Gauge(
            "playledger_projector_lag_events",
            "Events in the stream not yet in the read models (stream last sequence - checkpoint).",
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "playledger_projector_lag_seconds",
            "Age of the oldest event not yet projected (0 when caught up).",
            registry=registry,
        )
        self.batch_size = Histogram(
            "playledger_projector_batch_size",
            "Stream messages committed in one transaction.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.apply_duration = Histogram(
            "playledger_projector_apply_duration_seconds",
            "Writing one batch to PostgreSQL, until its transaction committed.",
            buckets=APPLY_BUCKETS,
            registry=registry,
        )
        self.applied = Counter(
            "playledger_projector_events_applied",
            "Job events folded into the read models.",
            registry=registry,
        )
        self.skipped = Counter(
            "playledger_projector_events_skipped",
            "Messages recorded in skipped_events instead of applied, by reason (unknown_type: written "
            "by a newer version; duplicate: already projected; invalid: undecodable or unstorable).",
            ["reason"],
            registry=registry,
        )
        for reason in SKIP_REASONS:
            self.skipped.labels(reason)
        self.rebuild_target = Gauge(
            "playledger_projector_rebuild_target_seq",
            "`playledger projector rebuild`: the stream sequence it replays up to (0: none running).",
            registry=registry,
        )
        self.rebuild_seq = Gauge(
            "playledger_projector_rebuild_seq",
            "`playledger projector rebuild`: the last stream sequence committed to the new schema.",
            registry=registry,
        )

    def rebuilt(self, changes: BatchChanges, _seconds: float) -> None:
        """One batch of a rebuild committed (its progress: ``rebuild_seq / rebuild_target_seq``)."""
        self.rebuild_seq.set(changes.last_stream_seq)

    def committed(self, changes: BatchChanges, seconds: float) -> None:
        """One committed batch (``Applier``'s ``on_commit``)."""
        self.batch_size.observe(len(changes.events) + len(changes.skipped))
        self.apply_duration.observe(seconds)
        self.applied.inc(len(changes.events))
        self.checkpoint.set(changes.last_stream_seq)
        for row in changes.skipped:
            self.skipped.labels(skip_reason(row.reason)).inc()
