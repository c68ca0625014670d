"""The executor's Prometheus metrics, one registry per ``Executor`` (several can share a test process).

Labels stay low-cardinality: ``outcome`` (the terminal statuses), ``playbook`` (the source's
path, bounded by the repositories), ``priority``. Nothing on the runner-event hot path touches a
metric: the runner counts events in a plain int and the count is moved into the counter when
Prometheus scrapes (``refresh``); publishes are observed once per append (a batch of events).

The seeds' names map as: ``jobs_processed_total`` = ``sum(playledger_executor_jobs_finished_total)``,
``jobs_failed_total`` = ``playledger_executor_jobs_finished_total{outcome!="successful"}``,
``job_duration_seconds`` = ``playledger_executor_job_duration_seconds``, ``queue_depth`` =
``playledger_executor_queue_depth``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from playledger_executor.gitcache import CacheStats
from playledger_schemas.commands import JobSpec

JOB_BUCKETS: Final = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
WAIT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
PUBLISH_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


def playbook_label(spec: JobSpec) -> str:
    """The ``playbook`` label: the source's path (a playbook, or a role's directory), never a URL."""
    return spec.source.path


class ExecutorMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.jobs_started = Counter(
            "playledger_executor_jobs_started",
            "Job attempts started (job.started stored) by this executor.",
            ["playbook"],
            registry=registry,
        )
        self.jobs_finished = Counter(
            "playledger_executor_jobs_finished",
            "Job attempts this executor ended (terminal event or retry scheduled), by outcome.",
            ["outcome", "playbook"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "playledger_executor_job_duration_seconds",
            "From job.started to the attempt's end, by outcome (attempts that ran).",
            ["outcome"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "playledger_executor_queue_wait_seconds",
            "From the submit stored in the commands stream to its first attempt taken, by priority.",
            ["priority"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.jobs_running = Gauge(
            "playledger_executor_jobs_running", "Job attempts running in this executor.", registry=registry
        )
        self.slots_free = Gauge(
            "playledger_executor_slots_free",
            "Submits this executor could take now (PLAYLEDGER_CONCURRENCY less those in hand).",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "playledger_executor_queue_depth",
            "Submits waiting in the commands stream, per priority (num_pending of its run consumer, "
            "read at scrape time; shared by all executors).",
            ["priority"],
            registry=registry,
        )
        self.runner_events = Counter(
            "playledger_executor_runner_events",
            "ansible-runner events read from workers (rate: events/s).",
            registry=registry,
        )
        self.publish_latency = Histogram(
            "playledger_executor_publish_duration_seconds",
            "One append of a job's events to JetStream (a single event or an atomic batch), until stored.",
            buckets=PUBLISH_BUCKETS,
            registry=registry,
        )
        self.source_hits = Counter(
            "playledger_executor_source_cache_hits",
            "Git checkouts served without receiving a pack (the mirror had the commit).",
            registry=registry,
        )
        self.source_misses = Counter(
            "playledger_executor_source_cache_misses",
            "Git fetches that had to receive a pack from the remote.",
            registry=registry,
        )
        self._events_seen = 0
        self._hits_seen = 0
        self._misses_seen = 0

    def catch_up(self, runner_events: int, cache: CacheStats) -> None:
        """Move the plain-int counts kept on the hot path into the counters (before a scrape)."""
        self.runner_events.inc(runner_events - self._events_seen)
        self._events_seen = runner_events
        hits, misses = cache.checkouts - cache.packs, cache.packs
        self.source_hits.inc(max(0, hits - self._hits_seen))
        self.source_misses.inc(misses - self._misses_seen)
        self._hits_seen, self._misses_seen = max(hits, self._hits_seen), misses
