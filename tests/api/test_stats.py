"""``GET /api/v1/stats`` over real read-model rows, and the pure rules behind it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from playledger_api.stats import projection, success_rate, summary
from tests.api.conftest import T0, insert_job


@pytest.mark.unit
def test_success_rate_counts_only_finished_jobs() -> None:
    assert success_rate({"queued": 3, "running": 1}) is None
    assert success_rate({"successful": 3, "failed": 1, "running": 5}) == 0.75
    assert success_rate({"canceled": 2}) == 0.0


@pytest.mark.unit
def test_summary_without_times_has_no_percentiles() -> None:
    result = summary({"queued": 2}, {})
    assert (result.jobs, result.duration_s.p50, result.queue_wait_s.p95) == (2, None, None)


@pytest.mark.unit
def test_projection_lag_is_unknown_without_the_stream() -> None:
    assert projection(90, 100).lag_events == 10
    assert projection(90, None).lag_events is None


async def _job(db: asyncpg.Connection[asyncpg.Record], job_id: str, minute: int, **fields: Any) -> None:
    created = T0 + timedelta(minutes=minute)
    await insert_job(db, job_id, created_at=created, **fields)


@pytest.mark.integration
async def test_stats_count_by_status_bucket_and_playbook(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    site, other = {"type": "local", "path": "site.yml"}, {"type": "local", "path": "other.yml"}
    for i, (status, wait, run) in enumerate(
        [("successful", 1, 10), ("successful", 3, 30), ("failed", 2, 20)]
    ):
        started = T0 + timedelta(minutes=i, seconds=wait)
        await _job(
            db,
            f"s{i}",
            i,
            status=status,
            source=site,
            started_at=started,
            finished_at=started + timedelta(seconds=run),
            terminal_seq=5,
        )
    await _job(db, "q1", 70, status="queued", source=other)
    await _job(db, "old", -600, status="successful", source=site)  # outside the window

    response = await client.get(
        "/api/v1/stats",
        params={"since": T0.isoformat(), "until": (T0 + timedelta(hours=2)).isoformat(), "bucket": "hour"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totals"]["jobs"] == 4
    assert body["totals"]["by_status"] == {"successful": 2, "failed": 1, "queued": 1}
    assert body["totals"]["success_rate"] == pytest.approx(2 / 3)
    assert body["totals"]["duration_s"]["p50"] == pytest.approx(20)
    assert body["totals"]["queue_wait_s"]["p50"] == pytest.approx(2)
    assert [b["by_status"] for b in body["buckets"]] == [{"successful": 2, "failed": 1}, {"queued": 1}]
    site_group, other_group = body["groups"]
    assert (site_group["key"], site_group["jobs"], site_group["success_rate"]) == (
        "site.yml",
        3,
        pytest.approx(2 / 3),
    )
    assert (other_group["key"], other_group["jobs"], other_group["success_rate"]) == ("other.yml", 1, None)
    assert body["now"] == {"queued": 1, "running": 0, "scheduled": 0, "waiting": 0}
    assert body["projection"]["projected_seq"] == 0  # the read model was written by hand here


@pytest.mark.integration
@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "query.since"),
        ({"since": "2026-01-01T00:00:00"}, "query.since"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "query.bucket"),
        ({"group_by": "colour"}, "query.group_by"),
    ],
)
async def test_stats_reject_bad_windows_naming_the_parameter(
    client: AsyncTestClient[Any], params: dict[str, str], path: str
) -> None:
    response = await client.get("/api/v1/stats", params=params)
    assert response.status_code == 400, response.text
    assert path in response.text
