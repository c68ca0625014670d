"""Rebuild the read models from the events stream alone, then swap them in.

1. Take the ``REBUILD`` lock (one rebuild at a time).
2. Replay the whole stream, with the same fold as the live projector, into a fresh schema
   ``<schema>_rebuild`` up to the stream's last sequence at the start (asynchronous commit:
   a crash only means running the rebuild again).
3. In one transaction holding the ``SWAP`` lock exclusively (so it waits for the live
   projector's batch in flight, and the next batch waits for it): rename the live schema
   away, rename the rebuilt one to ``<schema>``, drop the old one.

The live projector's next batch then finds a checkpoint it did not write and resumes from
it, projecting whatever arrived after the rebuild's last sequence.
"""

from __future__ import annotations

import time
from typing import Final

import asyncpg
import msgspec
from nats.js import JetStreamContext

from playledger_common.errors import PlayledgerError
from playledger_common.readmodel import SCHEMA
from playledger_projector import migrations
from playledger_projector.applier import Applier
from playledger_projector.consumer import StreamReader
from playledger_projector.lag import stream_last_seq
from playledger_projector.locks import LOCK_CLASS, REBUILD, SWAP, schema_name
from playledger_projector.metrics import ProjectorMetrics
from playledger_projector.store import Store

_STALL_S: Final = 30.0


class RebuildError(PlayledgerError):
    """The rebuild could not run or did not finish; the live read models are untouched."""


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    """Messages replayed (including skipped ones)."""
    last_stream_seq: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def rebuild(
    conn: asyncpg.Connection,
    js: JetStreamContext,
    *,
    schema: str = SCHEMA,
    batch_size: int = 5000,
    swap: bool = True,
    progress: ProjectorMetrics | None = None,
) -> RebuildReport:
    """Replay the stream into ``<schema>_rebuild`` and (unless ``swap`` is false) swap it in."""
    target = schema_name(schema)
    work = schema_name(f"{target}_rebuild")
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, REBUILD):
        msg = "another rebuild is running"
        raise RebuildError(msg)
    try:
        report = await replay_into(conn, js, work, batch_size=batch_size, progress=progress)
        if swap:
            await swap_in(conn, work, target)
        return report
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, REBUILD)


async def replay_into(
    conn: asyncpg.Connection,
    js: JetStreamContext,
    schema: str,
    *,
    batch_size: int = 5000,
    progress: ProjectorMetrics | None = None,
) -> RebuildReport:
    """Project the whole stream, up to its last sequence now, into a fresh ``schema`` (dropped first)."""
    schema = schema_name(schema)
    started = time.perf_counter()
    await conn.execute("SET synchronous_commit = off")
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await migrations.apply(conn, schema)
        store = Store(conn, schema)
        applier = Applier(store, await store.checkpoint(), None if progress is None else progress.rebuilt)
        last = await stream_last_seq(js)
        if progress is not None:
            progress.rebuild_target.set(last)
        if last > 0:
            await _replay(js, applier, last, batch_size)
    finally:
        await conn.execute("SET synchronous_commit = on")
    return RebuildReport(
        events=applier.applied, last_stream_seq=applier.checkpoint, seconds=time.perf_counter() - started
    )


async def _replay(js: JetStreamContext, applier: Applier, last: int, batch_size: int) -> None:
    reader = StreamReader(js, 0, batch_size=batch_size)
    await reader.start()
    try:
        while applier.accepted < last:
            batch = await reader.next_batch(wait=_STALL_S)
            if not batch:
                msg = f"no message from the stream for {_STALL_S:.0f}s at sequence {applier.checkpoint} of {last}"
                raise RebuildError(msg)
            await applier.apply(batch)
        await applier.settle()
    finally:
        await applier.close()
        await reader.stop()


async def swap_in(conn: asyncpg.Connection, work: str, target: str) -> None:
    """Make ``work`` the schema named ``target``, atomically, dropping the old one."""
    work, target = schema_name(work), schema_name(target)
    old = schema_name(f"{target}_old")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, SWAP)
        exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", target)
        await conn.execute(f"DROP SCHEMA IF EXISTS {old} CASCADE")
        if exists:
            await conn.execute(f"ALTER SCHEMA {target} RENAME TO {old}")
        await conn.execute(f"ALTER SCHEMA {work} RENAME TO {target}")
        if exists:
            await conn.execute(f"DROP SCHEMA {old} CASCADE")
