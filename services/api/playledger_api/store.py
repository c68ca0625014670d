"""Reads from the PostgreSQL read models (written only by the projector).

The pool's ``search_path`` is the read-model schema (``playledger_common.readmodel.SCHEMA``),
so queries name tables unqualified. Infrastructure errors are left to the error edge
(``errors.unavailable_dependency``), which answers 503.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from playledger_api.cursor import JobCursor, encode_cursor
from playledger_api.errors import POSTGRESQL, DependencyUnavailableError
from playledger_api.models import EventItem, EventPage, HostSummary, JobPage, JobSummary
from playledger_common.logtext import LOG_PIECE_SQL
from playledger_common.pg import json_codecs
from playledger_common.readmodel import (
    JOB_SQL,
    MIGRATIONS_TABLE,
    PROJECTION,
    SCHEMA,
    JobRow,
    columns,
    from_record,
)
from playledger_common.statusdoc import JobStatusResponse, Progress, job_status
from playledger_schemas.commands import Submitter
from playledger_schemas.status import JobStatus

log: Final = logging.getLogger(__name__)
LOG_PAGE: Final = 500
"""Rows fetched per round trip while streaming a log."""


async def create_pool(database_url: str, size: int) -> asyncpg.Pool[asyncpg.Record]:
    """A lazy pool: no connection is made until the first query, so the API starts without PostgreSQL."""
    pool = await asyncpg.create_pool(
        database_url,
        min_size=0,
        max_size=size,
        init=json_codecs,
        server_settings={"search_path": SCHEMA, "application_name": "playledger-api"},
        command_timeout=30,
        timeout=5,
    )
    assert pool is not None  # noqa: S101 - create_pool returns the pool once awaited
    return pool


_EVENT_COLUMNS: Final = ", ".join(columns(EventItem))
_HOST_COLUMNS: Final = ", ".join(columns(HostSummary))


@contextlib.asynccontextmanager
async def _postgresql() -> AsyncIterator[None]:
    """Translate "cannot reach PostgreSQL" (refused, timed out, not migrated) into a 503."""
    try:
        yield
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        log.warning("PostgreSQL unavailable: %s", type(exc).__name__)
        raise DependencyUnavailableError(POSTGRESQL) from None
    except (
        asyncpg.UndefinedTableError,
        asyncpg.InvalidSchemaNameError,
        asyncpg.CannotConnectNowError,
    ) as exc:
        log.warning("PostgreSQL read models not usable: %s", type(exc).__name__)
        raise DependencyUnavailableError(POSTGRESQL) from None


class ReadModel:
    """Every public method answers from the read models or raises ``DependencyUnavailableError``."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self.pool = pool

    async def _fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        async with _postgresql():
            return await self.pool.fetch(query, *args)

    async def _fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        async with _postgresql():
            return await self.pool.fetchrow(query, *args)

    async def _fetchval(self, query: str, *args: object) -> Any:
        async with _postgresql():
            return await self.pool.fetchval(query, *args)

    async def query(self, query: str, *args: object) -> list[asyncpg.Record]:
        """Rows of a read-only query over the read models (for reports such as ``stats``)."""
        return await self._fetch(query, *args)

    async def job(self, job_id: str) -> JobStatusResponse | None:
        record = await self._fetchrow(JOB_SQL, job_id, PROJECTION)
        if record is None:
            return None
        return job_status(from_record(JobRow, record), record["projection_seq"] or 0, record["children"])

    async def row(self, job_id: str) -> JobRow | None:
        record = await self._fetchrow(JOB_SQL, job_id, PROJECTION)
        return None if record is None else from_record(JobRow, record)

    async def status(self, job_id: str) -> JobStatus | None:
        status: JobStatus | None = await self._fetchval("SELECT status FROM jobs WHERE job_id = $1", job_id)
        return status

    async def is_complete(self, job_id: str) -> bool:
        """The job's terminal event is projected (so every event of it is queryable)."""
        done: bool | None = await self._fetchval(
            "SELECT terminal_seq IS NOT NULL FROM jobs WHERE job_id = $1", job_id
        )
        return bool(done)

    async def jobs(
        self,
        *,
        status: str | None,
        priority: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        cursor: JobCursor | None,
        limit: int,
        id_prefix: str | None = None,
        dead_letter: bool | None = None,
        template: str | None = None,
        playbook: str | None = None,
        submitter: str | None = None,
    ) -> JobPage:
        rows = await self._fetch(
            """
            SELECT job_id, status, priority, source ->> 'path' AS playbook, created_at, started_at, finished_at,
                   rc, event_count, terminal_seq, attempt, dead_letter, template, submitted_by,
                   current_play, current_task, hosts_total, hosts_ok, hosts_changed, hosts_failed,
                   hosts_unreachable, hosts_skipped
            FROM jobs
            WHERE ($1::text IS NULL OR status = $1)
              AND ($2::text IS NULL OR priority = $2)
              AND ($3::timestamptz IS NULL OR created_at > $3)
              AND ($4::timestamptz IS NULL OR created_at < $4)
              AND ($5::timestamptz IS NULL OR (created_at, job_id) < ($5, $6::text))
              AND ($8::text IS NULL OR starts_with(job_id, $8))
              AND ($9::boolean IS NULL OR dead_letter = $9)
              AND ($10::text IS NULL OR template = $10)
              AND ($11::text IS NULL OR source ->> 'path' = $11)
              AND ($12::text IS NULL OR submitted_by ->> 'key_id' = $12 OR submitted_by ->> 'name' = $12)
            ORDER BY created_at DESC, job_id DESC
            LIMIT $7
            """,
            status,
            priority,
            created_after,
            created_before,
            cursor.created_at if cursor else None,
            cursor.job_id if cursor else None,
            limit + 1,
            id_prefix,
            dead_letter,
            template,
            playbook,
            submitter,
        )
        items = [
            JobSummary(
                id=r["job_id"],
                status=r["status"],
                priority=r["priority"],
                playbook=r["playbook"],
                created_at=r["created_at"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                rc=r["rc"],
                event_count=r["event_count"],
                complete=r["terminal_seq"] is not None,
                attempt=r["attempt"],
                dead_letter=r["dead_letter"],
                template=r["template"],
                submitted_by=None
                if r["submitted_by"] is None
                else msgspec.convert(r["submitted_by"], Submitter),
                progress=from_record(Progress, r),
            )
            for r in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(JobCursor(created_at=last.created_at, job_id=last.id))
        return JobPage(items=items, next_cursor=next_cursor)

    async def events(
        self, job_id: str, *, after: int, limit: int, event: str | None, host: str | None
    ) -> EventPage:
        rows = await self._fetch(
            f"""
            SELECT {_EVENT_COLUMNS}
            FROM job_events
            WHERE job_id = $1 AND seq > $2
              AND ($3::text IS NULL OR event = $3)
              AND ($4::text IS NULL OR host = $4)
            ORDER BY seq
            LIMIT $5
            """,  # noqa: S608 - response columns, values are parameters
            job_id,
            after,
            event,
            host,
            limit + 1,
        )
        items = [from_record(EventItem, r) for r in rows[:limit]]
        next_after = items[-1].seq if len(rows) > limit else None
        return EventPage(items=items, next_after=next_after)

    async def hosts(self, job_id: str) -> list[HostSummary]:
        rows = await self._fetch(
            f"SELECT {_HOST_COLUMNS} FROM job_hosts WHERE job_id = $1 ORDER BY host",  # noqa: S608 - response columns
            job_id,
        )
        return [from_record(HostSummary, r) for r in rows]

    async def log(self, job_id: str, attempt: int | None) -> AsyncIterator[str]:
        """The job's stdout, runner event by runner event, read with a server-side cursor."""
        async with _postgresql(), self.pool.acquire() as conn, conn.transaction(readonly=True):
            query = (
                f"SELECT {LOG_PIECE_SQL} AS piece FROM job_events "  # noqa: S608 - constant SQL fragment
                "WHERE job_id = $1 AND type = 'runner.event.v1' AND ($2::integer IS NULL OR attempt = $2) "
                "ORDER BY seq"
            )
            async for row in conn.cursor(query, job_id, attempt, prefetch=LOG_PAGE):
                piece: str = row["piece"]
                if piece:
                    yield piece

    async def migration_version(self) -> int | None:
        version: int | None = await self._fetchval(
            f"SELECT max(version) FROM {SCHEMA}.{MIGRATIONS_TABLE}"  # noqa: S608 - constants, no input
        )
        return version
