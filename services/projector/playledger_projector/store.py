"""The asyncpg adapter: read job views, write one batch and its checkpoint in one transaction.

Writes are set-based: one ``unnest`` upsert for the jobs, one for the host summaries, one
``COPY`` for the events, whatever the batch size; their columns and array types derive from
the row Structs in ``playledger_common.readmodel``. The checkpoint row is locked and checked
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
from playledger_common.readmodel import (
    PROJECTION,
    EventRow,
    HostCounts,
    HostRow,
    JobRow,
    SkippedRow,
    columns,
    json_columns,
    record,
    sql_types,
)
from playledger_projector.locks import LOCK_CLASS, SWAP, schema_name
from playledger_projector.views import BatchChanges, JobView

_JOB_JSON: Final = json_columns(JobRow)
_HOST_COUNTS: Final = columns(HostCounts)


def _unnest_insert(
    schema: str, table: str, row: type[msgspec.Struct], key: tuple[str, ...], *, update: bool
) -> str:
    """``INSERT … SELECT * FROM unnest($1::type[], …)`` of every column of ``row``, one array per column."""
    names = columns(row)
    types = sql_types(row)
    arrays = ", ".join(f"${i}::{types[name]}[]" for i, name in enumerate(names, 1))
    on_conflict = (
        "DO UPDATE SET " + ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name not in key)
        if update
        else "DO NOTHING"
    )
    return (
        f"INSERT INTO {schema}.{table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "  # noqa: S608 - schema names are checked by locks.schema_name, the rest are row columns
        f"ON CONFLICT ({', '.join(key)}) {on_conflict}"
    )


def _arrays(rows: Sequence[msgspec.Struct], row: type[msgspec.Struct]) -> list[list[Any]]:
    """One array per column of ``row`` (jsonb values as JSON text), for ``_unnest_insert``."""
    json = json_columns(row)
    return [
        [_json(getattr(r, name)) for r in rows] if name in json else [getattr(r, name) for r in rows]
        for name in columns(row)
    ]


def _json(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode("utf-8")


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
        self._upsert_jobs = _unnest_insert(s, "jobs", JobRow, ("job_id",), update=True)
        self._upsert_hosts = _unnest_insert(s, "job_hosts", HostRow, ("job_id", "host"), update=True)
        self._insert_skipped = _unnest_insert(s, "skipped_events", SkippedRow, ("stream_seq",), update=False)
        self._delete_hosts = (
            f"DELETE FROM {s}.job_hosts h USING unnest($1::text[], $2::text[]) AS d(job_id, host) "  # noqa: S608 - schema names are checked by locks.schema_name
            "WHERE h.job_id = d.job_id AND h.host = d.host"
        )
        self._select_jobs = (
            f"SELECT {', '.join(columns(JobRow))} FROM {s}.jobs WHERE job_id = ANY($1::text[])"  # noqa: S608 - schema names are checked by locks.schema_name
        )
        self._select_hosts = (
            f"SELECT {', '.join(columns(HostRow))} FROM {s}.job_hosts WHERE job_id = ANY($1::text[]) "  # noqa: S608 - schema names are checked by locks.schema_name
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
            hosts.setdefault(h["job_id"], {})[h["host"]] = HostCounts(**{f: h[f] for f in _HOST_COUNTS})
        views = {}
        for row in rows:
            fields = dict(row)
            for name in _JOB_JSON:
                if fields[name] is not None:
                    fields[name] = msgspec.json.decode(fields[name])
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
                await conn.execute(self._upsert_jobs, *_arrays(changes.jobs, JobRow))
            if changes.host_upserts:
                await conn.execute(self._upsert_hosts, *_arrays(changes.host_upserts, HostRow))
            if changes.events:
                await conn.copy_records_to_table(
                    "job_events",
                    records=map(record, changes.events),
                    columns=list(columns(EventRow)),
                    schema_name=s,
                )
            if changes.skipped:
                await conn.execute(self._insert_skipped, *_arrays(changes.skipped, SkippedRow))
            await conn.execute(
                f"UPDATE {s}.projection_checkpoint SET last_stream_seq = $2, updated_at = now() WHERE projection = $1",  # noqa: S608 - schema names are checked by locks.schema_name
                PROJECTION,
                changes.last_stream_seq,
            )
