"""When a schedule fires (pure, no IO): cron (croniter, in the schedule's time zone) or an interval.

A firing is a point in time; the job it launches is named after it
(``<schedule>-<UTC %Y%m%dT%H%M%SZ>``), so every scheduler that sees the same firing launches the
same job id, and the job runs once. A scheduler launches only the *latest* firing that is due:
firings missed while nothing ran collapse into one (``catch_up: one``) or none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from playledger_common.jobchecks import Problem
from playledger_schemas.templates import Schedule

GRACE_S: Final = 60.0
"""``catch_up: none``: a firing older than this when first seen was missed, and is skipped."""


def schedule_problems(schedule: Schedule) -> list[Problem]:
    """What the schema alone cannot say about a schedule (paths as in its body)."""
    problems: list[Problem] = []
    if (schedule.cron is None) == (schedule.every_s is None):
        problems.append(("$.cron", "give exactly one of cron and every_s"))
    if schedule.cron is not None and not croniter.is_valid(schedule.cron):
        problems.append(("$.cron", f"{schedule.cron!r} is not a valid 5-field cron expression"))
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(("$.timezone", f"{schedule.timezone!r} is not a known IANA time zone"))
    return problems


def latest_firing(schedule: Schedule, now: datetime) -> datetime:
    """The last firing at or before ``now`` (UTC)."""
    if schedule.every_s is not None:
        epoch = int(now.timestamp()) // schedule.every_s * schedule.every_s
        return datetime.fromtimestamp(epoch, UTC)
    assert schedule.cron is not None  # noqa: S101 - schedule_problems: exactly one of them
    local = now.astimezone(ZoneInfo(schedule.timezone))
    previous: datetime = croniter(schedule.cron, local).get_prev(datetime)
    return previous.astimezone(UTC)


def next_firing(schedule: Schedule, now: datetime) -> datetime:
    """The first firing after ``now`` (UTC)."""
    if schedule.every_s is not None:
        return latest_firing(schedule, now) + timedelta(seconds=schedule.every_s)
    assert schedule.cron is not None  # noqa: S101 - schedule_problems: exactly one of them
    local = now.astimezone(ZoneInfo(schedule.timezone))
    following: datetime = croniter(schedule.cron, local).get_next(datetime)
    return following.astimezone(UTC)


def due(schedule: Schedule, now: datetime, last: datetime | None) -> datetime | None:
    """The firing to launch now, if any; ``last``: the latest firing this scheduler launched."""
    if not schedule.enabled:
        return None
    at = latest_firing(schedule, now)
    if last is not None and at <= last:
        return None
    if schedule.since is not None and at < schedule.since:
        return None  # before the schedule existed (or was enabled again)
    if schedule.catch_up == "none" and (now - at).total_seconds() > GRACE_S:
        return None
    return at


def firing_job_id(name: str, at: datetime) -> str:
    """The job a firing launches: the same for every scheduler, restart and replay."""
    return f"{name}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
