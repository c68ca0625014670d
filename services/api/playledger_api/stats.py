"""Job statistics from the read models: counts by status, success rate, duration and queue wait.

``GET /api/v1/stats`` and the dashboard's overview read this. Everything is computed by
PostgreSQL over the ``jobs`` read model of jobs created in ``[since, until)``; the rules that
turn counts into rates are pure functions here, so they are tested without a database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

import msgspec

from playledger_api.store import ReadModel
from playledger_common.readmodel import PROJECTION
from playledger_schemas.status import ACTIVE_STATUSES, TERMINAL_STATUSES, ResultStatus

K = TypeVar("K")
Bucket = Literal["hour", "day"]
GroupBy = Literal["playbook", "status", "priority"]
SUCCESS: Final[ResultStatus] = "successful"
_GROUP_EXPR: Final[dict[GroupBy, str]] = {
    "playbook": "coalesce(source ->> 'path', '')",
    "status": "status",
    "priority": "priority",
}
_WINDOW: Final = "created_at >= $1 AND created_at < $2"
_PERCENTILES: Final = """
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) AS duration_p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) AS duration_p95,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))
        FILTER (WHERE started_at IS NOT NULL) AS wait_p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))
        FILTER (WHERE started_at IS NOT NULL) AS wait_p95
"""


class Percentiles(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds; ``null`` when no job in the group has the two times yet."""

    p50: float | None
    p95: float | None


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    jobs: int
    by_status: dict[str, int]
    success_rate: float | None
    """Successful jobs among the finished ones (0..1); ``null`` when none has finished."""
    duration_s: Percentiles
    """From start to the terminal event."""
    queue_wait_s: Percentiles
    """From submit to start."""


class Group(Summary, frozen=True, kw_only=True):
    key: str


class BucketCounts(msgspec.Struct, frozen=True, kw_only=True):
    start: datetime
    by_status: dict[str, int]


class Now(msgspec.Struct, frozen=True, kw_only=True):
    """Jobs waiting and running right now (whenever they were created)."""

    queued: int
    running: int
    scheduled: int = 0
    """Waiting for their ``run_at`` or their next attempt's time."""
    waiting: int = 0
    """Waiting for the jobs they depend on."""


class Projection(msgspec.Struct, frozen=True, kw_only=True):
    """How far the read models are behind the events stream."""

    projected_seq: int
    """Stream sequence up to which every event is in the read models."""
    stream_seq: int | None
    """The events stream's last sequence; ``null`` when NATS did not answer."""
    lag_events: int | None


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    bucket: Bucket
    group_by: GroupBy
    totals: Summary
    buckets: list[BucketCounts]
    groups: list[Group]
    now: Now
    projection: Projection


def success_rate(by_status: dict[str, int]) -> float | None:
    finished = sum(n for status, n in by_status.items() if status in TERMINAL_STATUSES)
    return None if finished == 0 else by_status.get(SUCCESS, 0) / finished


def _counts(rows: Iterable[tuple[K, str, int]]) -> dict[K, dict[str, int]]:
    """``(key, status, count)`` rows -> key -> status -> count."""
    by_key: dict[K, dict[str, int]] = defaultdict(dict)
    for key, status, count in rows:
        by_key[key][status] = count
    return by_key


def summary(by_status: dict[str, int], spread: dict[str, Any]) -> Summary:
    """Counts and the percentile row (``duration_p50``… as PostgreSQL named them) of one group."""
    return Summary(
        jobs=sum(by_status.values()),
        by_status=by_status,
        success_rate=success_rate(by_status),
        duration_s=Percentiles(p50=spread.get("duration_p50"), p95=spread.get("duration_p95")),
        queue_wait_s=Percentiles(p50=spread.get("wait_p50"), p95=spread.get("wait_p95")),
    )


def projection(projected_seq: int, stream_seq: int | None) -> Projection:
    lag = None if stream_seq is None else max(stream_seq - projected_seq, 0)
    return Projection(projected_seq=projected_seq, stream_seq=stream_seq, lag_events=lag)


async def job_stats(
    read_model: ReadModel,
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket,
    group_by: GroupBy,
    stream_seq: int | None,
) -> Stats:
    key = _GROUP_EXPR[group_by]
    counts = await read_model.query(
        f"SELECT {key} AS key, status, count(*)::int FROM jobs WHERE {_WINDOW} GROUP BY 1, 2",  # noqa: S608 - key is one of the constants above
        since,
        until,
    )
    spread = await read_model.query(
        f"SELECT {key} AS key, {_PERCENTILES} FROM jobs WHERE {_WINDOW} GROUP BY 1",  # noqa: S608
        since,
        until,
    )
    overall = await read_model.query(f"SELECT {_PERCENTILES} FROM jobs WHERE {_WINDOW}", since, until)  # noqa: S608
    buckets = await read_model.query(
        f"SELECT date_trunc($3, created_at) AS start, status, count(*)::int FROM jobs WHERE {_WINDOW} "  # noqa: S608
        "GROUP BY 1, 2 ORDER BY 1",
        since,
        until,
        bucket,
    )
    now = await read_model.query(
        "SELECT status, count(*)::int FROM jobs WHERE status = ANY($1::text[]) GROUP BY 1",
        list(ACTIVE_STATUSES),
    )
    projected = await read_model.query(
        "SELECT last_stream_seq FROM projection_checkpoint WHERE projection = $1", PROJECTION
    )
    by_key: dict[str, dict[str, int]] = _counts((r["key"], r["status"], r["count"]) for r in counts)
    spread_by_key = {r["key"]: dict(r) for r in spread}
    totals: dict[str, int] = defaultdict(int)
    for statuses in by_key.values():
        for status, n in statuses.items():
            totals[status] += n
    by_start: dict[datetime, dict[str, int]] = _counts((r["start"], r["status"], r["count"]) for r in buckets)
    current = {r["status"]: r["count"] for r in now}
    groups = [
        Group(key=k, **msgspec.structs.asdict(summary(v, spread_by_key.get(k, {}))))
        for k, v in sorted(by_key.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    ]
    return Stats(
        since=since,
        until=until,
        bucket=bucket,
        group_by=group_by,
        totals=summary(dict(totals), dict(overall[0]) if overall else {}),
        buckets=[BucketCounts(start=start, by_status=v) for start, v in by_start.items()],
        groups=groups,
        now=Now(**{status: current.get(status, 0) for status in ACTIVE_STATUSES}),
        projection=projection(projected[0]["last_stream_seq"] if projected else 0, stream_seq),
    )
