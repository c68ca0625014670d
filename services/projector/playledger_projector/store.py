"""The asyncpg adapter: read job views, write one batch and its checkpoint in one transaction.

Writes are set-based: one ``unnest`` upsert for the jobs, one for the host summaries, one
``COPY`` for the events, whatever the batch size. The checkpoint row is locked and checked
first (optimistic concurrency): if it is not where this writer left it (a rebuild swapped
the schema in, or another writer got in), the transaction is abandoned with
``CheckpointMovedError`` and the caller resumes from the checkpoint in the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import asyncpg
import msgspec

from playledger_common.errors import PlayledgerError
from playledger_common.readmodel import PROJECTION
from playledger_projector.fold import host_totals
from playledger_projector.locks import LOCK_CLASS, SWAP, schema_name
from playledger_projector.views import EVENT_COLUMNS, BatchChanges, HostCounts, JobView

_JOB_COLUMNS: Final = (
    ("job_id", "text"),
    ("status", "text"),
    ("priority", "text"),
    ("source", "jsonb"),
    ("inventory_summary", "jsonb"),
    ("options", "jsonb"),
    ("extra_vars", "jsonb"),
    ("created_at", "timestamptz"),
    ("started_at", "timestamptz"),
    ("finished_at", "timestamptz"),
    ("attempt", "integer"),
    ("executor_id", "text"),
    ("rc", "integer"),
    ("runner_status", "text"),
    ("failure_reason", "text"),
    ("rejection_errors", "jsonb"),
    ("cancel_requested", "boolean"),
    ("current_play", "text"),
    ("current_task", "text"),
    ("hosts_total", "integer"),
    ("hosts_ok", "integer"),
    ("hosts_changed", "integer"),
    ("hosts_failed", "integer"),
    ("hosts_unreachable", "integer"),
    ("hosts_skipped", "integer"),
    ("event_count", "integer"),
    ("runner_event_count", "integer"),
    ("last_seq", "integer"),
    ("last_stream_seq", "bigint"),
    ("terminal_seq", "integer"),
    ("submitted_by", "jsonb"),
)
_JSON_COLUMNS: Final = frozenset(name for name, kind in _JOB_COLUMNS if kind == "jsonb")
_VIEW_COLUMNS: Final = tuple(name for name, _ in _JOB_COLUMNS if not name.startswith("hosts_"))
_HOST_FIELDS: Final = tuple(f.name for f in msgspec.structs.fields(HostCounts))


class CheckpointMovedError(PlayledgerError):
    """The checkpoint in the database is not where this writer expected it."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(f"checkpoint is {found}, expected {expected}: resuming from the database")
        self.expected = expected
        self.found = found


class Store:
    """Read-model tables of one PostgreSQL schema, written through one connection."""

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        self.conn = conn
        self.schema = s = schema_name(schema)
        columns = ", ".join(name for name, _ in _JOB_COLUMNS)
        arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_JOB_COLUMNS, 1))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in _JOB_COLUMNS[1:])
        self._upsert_jobs = (
            f"INSERT INTO {s}.jobs ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608 - schema names are checked by locks.schema_name
            f"ON CONFLICT (job_id) DO UPDATE SET {updates}"
        )
        host_cols = ", ".join(_HOST_FIELDS)
        host_arrays = ", ".join(f"${i}::integer[]" for i in range(3, 3 + len(_HOST_FIELDS)))
        host_updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in _HOST_FIELDS)
        self._upsert_hosts = (
            f"INSERT INTO {s}.job_hosts (job_id, host, {host_cols}) "  # noqa: S608 - schema names are checked by locks.schema_name
            f"SELECT * FROM unnest($1::text[], $2::text[], {host_arrays}) "
            f"ON CONFLICT (job_id, host) DO UPDATE SET {host_updates}"
        )
        self._delete_hosts = (
            f"DELETE FROM {s}.job_hosts h USING unnest($1::text[], $2::text[]) AS d(job_id, host) "  # noqa: S608 - schema names are checked by locks.schema_name
            "WHERE h.job_id = d.job_id AND h.host = d.host"
        )
        self._insert_skipped = (
            f"INSERT INTO {s}.skipped_events (stream_seq, subject, reason, payload) "  # noqa: S608 - schema names are checked by locks.schema_name
            "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[]) "
            "ON CONFLICT (stream_seq) DO NOTHING"
        )
        self._select_jobs = f"SELECT {', '.join(_VIEW_COLUMNS)} FROM {s}.jobs WHERE job_id = ANY($1::text[])"  # noqa: S608 - schema names are checked by locks.schema_name
        self._select_hosts = (
            f"SELECT job_id, host, {host_cols} FROM {s}.job_hosts WHERE job_id = ANY($1::text[]) "  # noqa: S608 - schema names are checked by locks.schema_name
            "ORDER BY job_id, host"
        )

    async def checkpoint(self) -> int:
        """The last stream sequence applied (creating the row at 0 on first use)."""
        s = self.schema
        await self.conn.execute(
            f"INSERT INTO {s}.projection_checkpoint (projection, last_stream_seq) VALUES ($1, 0) "  # noqa: S608 - schema names are checked by locks.schema_name
            "ON CONFLICT (projection) DO NOTHING",
            PROJECTION,
        )
        value = await self.conn.fetchval(
            f"SELECT last_stream_seq FROM {s}.projection_checkpoint WHERE projection = $1",  # noqa: S608 - schema names are checked by locks.schema_name
            PROJECTION,
        )
        return int(value)

    async def load_views(self, job_ids: Sequence[str]) -> dict[str, JobView]:
        if not job_ids:
            return {}
        rows = await self.conn.fetch(self._select_jobs, list(job_ids))
        hosts: dict[str, dict[str, HostCounts]] = {}
        for h in await self.conn.fetch(self._select_hosts, list(job_ids)):
            hosts.setdefault(h["job_id"], {})[h["host"]] = HostCounts(**{f: h[f] for f in _HOST_FIELDS})
        views = {}
        for row in rows:
            fields: dict[str, Any] = {
                name: (
                    msgspec.json.decode(row[name])
                    if name in _JSON_COLUMNS and row[name] is not None
                    else row[name]
                )
                for name in _VIEW_COLUMNS
            }
            views[row["job_id"]] = JobView(**fields, hosts=hosts.get(row["job_id"], {}))
        return views

    async def existing_seqs(self, pairs: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which ``(job_id, seq)`` pairs already have a ``job_events`` row."""
        pairs = list(pairs)
        if not pairs:
            return set()
        rows = await self.conn.fetch(
            f"SELECT e.job_id, e.seq FROM {self.schema}.job_events e "  # noqa: S608 - schema names are checked by locks.schema_name
            "JOIN unnest($1::text[], $2::integer[]) AS p(job_id, seq) ON e.job_id = p.job_id AND e.seq = p.seq",
            [j for j, _ in pairs],
            [q for _, q in pairs],
        )
        return {(r["job_id"], r["seq"]) for r in rows}

    async def write(self, changes: BatchChanges, expected_checkpoint: int) -> None:
        """Write a batch and move the checkpoint from ``expected_checkpoint`` to its last seq, atomically."""
        conn = self.conn
        s = self.schema
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", LOCK_CLASS, SWAP)
            found = await conn.fetchval(
                f"SELECT last_stream_seq FROM {s}.projection_checkpoint WHERE projection = $1 FOR UPDATE",  # noqa: S608 - schema names are checked by locks.schema_name
                PROJECTION,
            )
            if found != expected_checkpoint:
                raise CheckpointMovedError(expected_checkpoint, -1 if found is None else int(found))
            if changes.host_deletes:
                await conn.execute(
                    self._delete_hosts,
                    [j for j, _ in changes.host_deletes],
                    [h for _, h in changes.host_deletes],
                )
            if changes.jobs:
                await conn.execute(self._upsert_jobs, *_job_arrays(changes.jobs))
            if changes.host_upserts:
                rows = changes.host_upserts
                await conn.execute(
                    self._upsert_hosts,
                    [r.job_id for r in rows],
                    [r.host for r in rows],
                    *([getattr(r.counts, f) for r in rows] for f in _HOST_FIELDS),
                )
            if changes.events:
                await conn.copy_records_to_table(
                    "job_events", records=changes.events, columns=list(EVENT_COLUMNS), schema_name=s
                )
            if changes.skipped:
                rows_s = changes.skipped
                await conn.execute(
                    self._insert_skipped,
                    [r.stream_seq for r in rows_s],
                    [r.subject for r in rows_s],
                    [r.reason for r in rows_s],
                    [r.payload for r in rows_s],
                )
            await conn.execute(
                f"UPDATE {s}.projection_checkpoint SET last_stream_seq = $2, updated_at = now() WHERE projection = $1",  # noqa: S608 - schema names are checked by locks.schema_name
                PROJECTION,
                changes.last_stream_seq,
            )


def _json(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode("utf-8")


def _job_arrays(jobs: Sequence[JobView]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in _JOB_COLUMNS]
    for job in jobs:
        totals = host_totals(job.hosts)
        values = (
            job.job_id,
            job.status,
            job.priority,
            _json(job.source),
            _json(job.inventory_summary),
            _json(job.options),
            _json(job.extra_vars),
            job.created_at,
            job.started_at,
            job.finished_at,
            job.attempt,
            job.executor_id,
            job.rc,
            job.runner_status,
            job.failure_reason,
            _json(job.rejection_errors),
            job.cancel_requested,
            job.current_play,
            job.current_task,
            totals.total,
            totals.ok,
            totals.changed,
            totals.failed,
            totals.unreachable,
            totals.skipped,
            job.event_count,
            job.runner_event_count,
            job.last_seq,
            job.last_stream_seq,
            job.terminal_seq,
            _json(job.submitted_by),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns
