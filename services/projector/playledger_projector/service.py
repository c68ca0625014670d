"""The running projector: standby until it holds the leader lock, then project until stopped.

Scale-out: run as many replicas as you like against one database. Each opens a dedicated
PostgreSQL connection and polls ``pg_try_advisory_lock`` (``locks.LEADER``); the one that
gets it is active, and writes every batch through that same connection, so it can only
write while it holds the lock. The others stay standby. When the active process dies (even
``kill -9``) PostgreSQL ends its session and releases the lock; a standby takes it within
``poll_interval`` and resumes from the checkpoint the dead one last committed. Every batch
also checks the checkpoint row under ``FOR UPDATE`` before writing, so even two writers
could never apply an event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from typing import Final

import asyncpg
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from playledger_common.bus import connect_as
from playledger_common.errors import PlayledgerError
from playledger_common.opsserver import Check, nats_check
from playledger_common.readmodel import SCHEMA
from playledger_common.settings import ProjectorSettings
from playledger_common.streams import provision_at_start
from playledger_projector import migrations
from playledger_projector.applier import Applier
from playledger_projector.consumer import StreamReader
from playledger_projector.lag import oldest_unprojected_age, stream_last_seq
from playledger_projector.locks import LEADER, LOCK_CLASS
from playledger_projector.metrics import ProjectorMetrics
from playledger_projector.store import CheckpointMovedError, Store

log: Final = logging.getLogger(__name__)

APPLICATION_NAME: Final = "playledger-projector"
RETRYABLE: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, nats.errors.Error)


def application_name() -> str:
    """``playledger-projector/<pid>/<host>``: shows which process is active (``status``)."""
    return f"{APPLICATION_NAME}/{os.getpid()}/{socket.gethostname()}"[:63]


class Projector:
    def __init__(
        self,
        settings: ProjectorSettings,
        *,
        schema: str = SCHEMA,
        poll_interval: float = 0.5,
        linger: float | None = None,
        report_every: float = 10.0,
        stall_after: float = 5.0,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.poll_interval = poll_interval
        self.linger = settings.batch_linger_s if linger is None else linger
        self.report_every = report_every
        self.stall_after = stall_after
        self.active = asyncio.Event()
        """Set while this process holds the leader lock."""
        self.applier: Applier | None = None
        self._reported: Progress | None = None
        self.metrics = ProjectorMetrics()
        self.nc: Client | None = None
        self.role = "starting"
        """``starting`` (no database session), ``standby`` (waiting for the lock) or ``active``."""

    def readiness(self) -> list[Check]:
        """``/ready``: NATS connected, and projecting (reader bound) or standing by for the lock."""
        roles = {
            "active": "active: projecting",
            "standby": "standby: another projector holds the leader lock",
            "starting": "starting: no database session or stream reader yet",
        }
        return [
            nats_check(self.nc),
            Check(name="projection", ok=self.role != "starting", detail=roles[self.role]),
        ]

    async def refresh_metrics(self) -> None:
        """Before a scrape: the lag, from the stream's last sequence and the committed checkpoint."""
        applier, nc = self.applier, self.nc
        self.metrics.active.set(1 if self.role == "active" else 0)
        if applier is None or nc is None or not nc.is_connected:
            return
        js = nc.jetstream()
        last = await stream_last_seq(js)
        lag = max(0, last - applier.checkpoint)
        self.metrics.checkpoint.set(applier.checkpoint)
        self.metrics.stream_last.set(last)
        self.metrics.lag_events.set(lag)
        self.metrics.lag_seconds.set(await oldest_unprojected_age(js, applier.checkpoint) if lag else 0.0)

    async def run(self, stop: asyncio.Event) -> None:
        self.nc = nc = await connect_as(self.settings, APPLICATION_NAME)
        try:
            js = nc.jetstream()
            await provision_at_start(js, self.settings)
            while not stop.is_set():
                try:
                    await self._session(js, stop)
                except RETRYABLE as exc:
                    log.warning("projector session ended (%s: %s); retrying", type(exc).__name__, exc)
                    await _wait(stop, self.poll_interval)
        finally:
            self.nc = None
            await nc.close()

    async def _session(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(
            self.settings.database_url, server_settings={"application_name": application_name()}
        )
        try:
            applied = await migrations.apply(conn, self.schema)
            if applied:
                log.info("applied read-model migrations %s", applied)
            if not await self._lead(conn, stop):
                return
            self.active.set()
            log.info("active: this projector holds the leader lock")
            store = Store(conn, self.schema)
            while not stop.is_set():
                try:
                    await self._project(js, store, stop)
                except CheckpointMovedError as exc:
                    log.info("%s", exc)
                except ReaderStalledError as exc:
                    log.warning("%s", exc)
        finally:
            self.active.clear()
            self.role = "starting"
            self.applier = None
            try:
                await asyncio.wait_for(conn.close(), 5)
            except RETRYABLE:
                conn.terminate()

    async def _lead(self, conn: asyncpg.Connection, stop: asyncio.Event) -> bool:
        said = False
        while not stop.is_set():
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, LEADER):
                return True
            self.role = "standby"
            if not said:
                log.info("standby: another projector is active; waiting for the leader lock")
                said = True
            await _wait(stop, self.poll_interval)
        return False

    async def _project(self, js: JetStreamContext, store: Store, stop: asyncio.Event) -> None:
        checkpoint = await store.checkpoint()
        stream_last = await stream_last_seq(js)
        if checkpoint > stream_last:
            log.error(
                "the read models are at stream sequence %d but the stream ends at %d: was the stream "
                "recreated? run `playledger projector rebuild`",
                checkpoint,
                stream_last,
            )
        self.applier = applier = Applier(store, checkpoint, on_commit=self.metrics.committed)
        reader = StreamReader(js, checkpoint, batch_size=self.settings.batch_size, linger=self.linger)
        await reader.start()
        self.role = "active"
        log.info("projecting from stream sequence %d", checkpoint + 1)
        loop = asyncio.get_running_loop()
        next_report = next_check = loop.time() + min(self.report_every, self.stall_after)
        next_ping = loop.time() + 5.0
        reported = applier.applied
        checked_at = applier.checkpoint
        try:
            while not stop.is_set():
                # With a write in flight, look back soon: its commit is counted (metrics, checkpoint)
                # by the settle that follows an empty read, not a quarter second later.
                batch = await reader.next_batch(wait=0.01 if applier.writing else 0.25)
                now = loop.time()
                if batch:
                    await applier.apply(batch)
                else:
                    await applier.settle()
                if not batch and now >= next_ping:
                    await store.conn.execute("SELECT 1")  # notice a lost session (and lock) while idle
                    next_ping = now + 5.0
                if now >= next_report:
                    await self._report(js, applier.checkpoint, applier.applied - reported, now - next_report)
                    reported = applier.applied
                    next_report = now + self.report_every
                if now >= next_check and not batch:
                    # nats-py's ordered consumer does not always recover from a server restart
                    # (nats.py #510): with events in the stream and none arriving, start over.
                    if applier.checkpoint == checked_at and await self._stream_last(js) > applier.checkpoint:
                        raise ReaderStalledError(applier.checkpoint)
                    checked_at = applier.checkpoint
                    next_check = now + self.stall_after
        finally:
            await applier.close()
            await reader.stop()

    async def _stream_last(self, js: JetStreamContext) -> int:
        """The stream's last sequence; 0 when NATS cannot tell right now."""
        try:
            return await stream_last_seq(js)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("cannot read the stream's last sequence: %s", exc)
            return 0

    async def _report(self, js: JetStreamContext, projected: int, applied: int, late: float) -> None:
        progress = Progress(projected=projected, stream_last=await self._stream_last(js))
        if not progress.worth_logging_after(self._reported):
            return
        self._reported = progress
        rate = applied / (self.report_every + late)
        log.info(
            "projected %d of %d (lag %d), %.0f events/s", projected, progress.stream_last, progress.lag, rate
        )


@dataclass(frozen=True)
class Progress:
    projected: int
    stream_last: int

    @property
    def lag(self) -> int:
        return max(0, self.stream_last - self.projected)

    def worth_logging_after(self, previous: Progress | None) -> bool:
        """An idle projector (nothing projected, nothing new in the stream) logs once, not every period."""
        return previous != self


class ReaderStalledError(PlayledgerError):
    """The stream has events beyond the checkpoint but none arrived for a whole report period."""

    def __init__(self, checkpoint: int) -> None:
        super().__init__(f"no event arrived beyond stream sequence {checkpoint}: restarting the consumer")


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
