"""When a schedule fires: cron in its time zone or an interval, the latest due firing only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from playledger_common.firing import due, firing_job_id, latest_firing, next_firing, schedule_problems
from playledger_schemas.templates import Schedule

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 28, 12, 0, 0, tzinfo=UTC)


def test_a_cron_expression_is_read_in_the_schedules_time_zone_across_a_dst_change() -> None:
    berlin = Schedule(template="t", cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00)
    nxt = next_firing(berlin, T0)
    assert nxt.tzinfo is not None
    assert nxt.astimezone(UTC) in (
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    )
    assert next_firing(berlin, datetime(2026, 6, 1, tzinfo=UTC)) == datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
    assert latest_firing(
        Schedule(template="t", cron="*/15 * * * *"), T0 + timedelta(minutes=20)
    ) == T0 + timedelta(minutes=15)


def test_an_interval_fires_on_multiples_of_itself_so_every_scheduler_agrees() -> None:
    every = Schedule(template="t", every_s=7)
    now = datetime(2026, 1, 1, 0, 0, 10, 500000, tzinfo=UTC)
    at = latest_firing(every, now)
    assert int(at.timestamp()) % 7 == 0
    assert at <= now < at + timedelta(seconds=7) == next_firing(every, now)
    assert firing_job_id("nightly", at) == f"nightly-{at:%Y%m%dT%H%M%SZ}"


def test_only_the_latest_due_firing_is_launched_once() -> None:
    every = Schedule(template="t", every_s=60, since=T0 - timedelta(days=1))
    late = T0 + timedelta(hours=5, seconds=3)  # five hours of firings missed
    assert due(every, late, None) == T0 + timedelta(hours=5)  # catch_up one: the latest, once
    assert due(every, late, T0 + timedelta(hours=5)) is None  # already launched
    skipped = Schedule(template="t", every_s=3600, catch_up="none", since=T0 - timedelta(days=1))
    assert due(skipped, T0 + timedelta(minutes=30), None) is None  # missed by more than the grace
    assert due(skipped, T0 + timedelta(seconds=5), None) == T0
    assert (
        due(
            Schedule(template="t", every_s=60, since=T0 + timedelta(seconds=1)),
            T0 + timedelta(seconds=2),
            None,
        )
        is None
    )
    assert due(Schedule(template="t", every_s=60, enabled=False), T0, None) is None


@pytest.mark.parametrize(
    ("schedule", "path"),
    [
        (Schedule(template="t"), "$.cron"),
        (Schedule(template="t", cron="* * * * *", every_s=5), "$.cron"),
        (Schedule(template="t", cron="61 * * * *"), "$.cron"),
        (Schedule(template="t", cron="* * * * *", timezone="Nowhere/Else"), "$.timezone"),
    ],
)
def test_a_schedule_that_cannot_fire_is_refused_naming_the_field(schedule: Schedule, path: str) -> None:
    assert [p for p, _ in schedule_problems(schedule)] == [path]
