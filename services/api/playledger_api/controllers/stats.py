"""``GET /api/v1/stats``: job counts by status, success rate, duration and queue wait over a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from litestar import Controller, Request, get
from litestar.params import QueryParameter

from playledger_api.auth.guard import requires
from playledger_api.controllers.params import problems, reject_unknown_query
from playledger_api.errors import BadRequestError, FieldProblem
from playledger_api.services import ServicesDep
from playledger_api.stats import Bucket, GroupBy, Stats, job_stats

DEFAULT_WINDOW: Final = timedelta(hours=24)
MAX_BUCKETS: Final = 1000
"""A window holds at most this many buckets (about 41 days of hours, 2.7 years of days)."""
_BUCKET_LENGTH: Final[dict[str, timedelta]] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


class StatsController(Controller):
    path = "/api/v1/stats"
    tags = ["jobs"]  # noqa: RUF012 - Litestar's declared class attribute

    @get("/", operation_id="jobStats", responses=problems(400, 401, 403, 503), **requires("jobs:read"))
    async def stats(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        since: Annotated[
            datetime | None,
            QueryParameter(
                description="RFC 3339 with a time zone, inclusive; default: 24 hours before until."
            ),
        ] = None,
        until: Annotated[
            datetime | None, QueryParameter(description="RFC 3339 with a time zone, exclusive; default: now.")
        ] = None,
        bucket: Annotated[Bucket, QueryParameter(description="Width of the time buckets.")] = "hour",
        group_by: Annotated[
            GroupBy, QueryParameter(description="What ``groups`` are keyed by.")
        ] = "playbook",
    ) -> Stats:
        """Jobs created in ``[since, until)``: totals, per-bucket counts by status, and groups."""
        reject_unknown_query(request, frozenset({"since", "until", "bucket", "group_by"}))
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise BadRequestError.at(
                    FieldProblem(path=f"query.{name}", message="needs a time zone (e.g. Z or +00:00)")
                )
        end = until or datetime.now(UTC)
        start = since or end - DEFAULT_WINDOW
        if start >= end:
            raise BadRequestError.at(FieldProblem(path="query.since", message="must be before until"))
        if (end - start) / _BUCKET_LENGTH[bucket] > MAX_BUCKETS:
            raise BadRequestError.at(
                FieldProblem(
                    path="query.bucket", message=f"the window holds more than {MAX_BUCKETS} {bucket}s"
                )
            )
        return await job_stats(
            services.read_model,
            since=start,
            until=end,
            bucket=bucket,
            group_by=group_by,
            stream_seq=await services.bus.last_event_seq(),
        )
