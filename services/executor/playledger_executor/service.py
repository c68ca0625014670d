"""The executor process: intake, run consumers, scheduler, chains, cancel watcher, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Final

from nats.aio.client import Client

from playledger_common.logstore import TRANSIENT, open_store
from playledger_common.opsserver import Check, nats_check
from playledger_common.settings import ExecutorSettings
from playledger_common.streams import allows_atomic_batches, ensure_buckets, provision_at_start
from playledger_executor import schedule
from playledger_executor.cancel import watch_cancels
from playledger_executor.chains import Chains
from playledger_executor.consumers import ensure_consumers, queue_depths
from playledger_executor.cron import Scheduler
from playledger_executor.dispatch import Dispatcher
from playledger_executor.intake import Intake
from playledger_executor.job import JobRunner
from playledger_executor.lease import Lease
from playledger_executor.metrics import ExecutorMetrics
from playledger_executor.privatedir import work_root
from playledger_executor.workspace import Workspace, sweep

log: Final = logging.getLogger(__name__)

SHUTDOWN_REASON: Final = "executor shutdown"
RETENTION_EVERY_S: Final = 3600.0
"""How often the executor applies ``log_retention_days`` (the local sweep; S3's rule is idempotent)."""
FINAL_APPEND_S: Final = 10.0
"""After the shutdown grace: how long stopped jobs may try to store their terminal event."""


def default_executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Executor:
    """One executor process. ``run()`` until ``request_stop()``; then drain and return."""

    def __init__(
        self, nc: Client, settings: ExecutorSettings, metrics: ExecutorMetrics | None = None
    ) -> None:
        self.nc = nc
        self.metrics = metrics or ExecutorMetrics()
        self.js = nc.jetstream()
        self.settings = settings
        self.executor_id = settings.executor_id or default_executor_id()
        self.store = open_store(settings)
        self.runner = JobRunner(nc, settings, self.executor_id, self.store, self.metrics)
        self.lease = Lease(self.js, self.executor_id, settings.ack_wait_s)
        self.dispatcher = Dispatcher(nc, self.js, self.runner, settings, self.lease)
        self.intake = Intake(nc, settings)
        self.scheduler = Scheduler(self.js)
        self.chains = Chains(self.js)
        self.stopping = asyncio.Event()
        self.finished = asyncio.Event()
        """Set after the drain: the lease is renewed until the last job has ended."""
        self.ready = asyncio.Event()
        self.metrics.jobs_running.set_function(lambda: len(self.runner.running))
        self.metrics.slots_free.set_function(self.free_slots)

    def free_slots(self) -> int:
        """Submits this executor could take now (its concurrency less the ones it handles)."""
        return max(0, self.settings.concurrency - len(self.dispatcher.tasks))

    def readiness(self) -> list[Check]:
        """``/ready``: connected, consumers bound, and able to take work (not draining, a slot free)."""
        free = self.free_slots()
        if self.stopping.is_set():
            work = Check(name="work", ok=False, detail="draining: shutting down")
        else:
            work = Check(name="work", ok=free > 0, detail=f"{free} of {self.settings.concurrency} slots free")
        return [
            nats_check(self.nc),
            Check(
                name="consumers",
                ok=self.ready.is_set(),
                detail="bound" if self.ready.is_set() else "not bound yet",
            ),
            work,
        ]

    async def refresh_metrics(self) -> None:
        """Before a scrape: counts kept as plain ints, and the queue depth from the run consumers."""
        self.metrics.catch_up(self.runner.runner_events, self.runner.sources.stats)
        if self.ready.is_set() and self.nc.is_connected:
            for priority, pending in (await queue_depths(self.js)).items():
                self.metrics.queue_depth.labels(priority).set(pending)

    def request_stop(self) -> None:
        self.stopping.set()

    async def _keep_retention(self) -> None:
        """Remove logs older than ``log_retention_days`` now and every hour (never: 0)."""
        days = self.settings.log_retention_days
        while days and not self.stopping.is_set():
            try:
                removed = await self.store.expire(days)
            except TRANSIENT as exc:
                log.warning("log retention not applied (%s); trying again in an hour", exc)
            else:
                log.info("log retention %d days applied (%d old objects removed)", days, removed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), RETENTION_EVERY_S)

    def _on_cancel(self, job_id: str, reason: str) -> None:
        job = self.runner.running.get(job_id)
        if job is not None:
            log.info("cancel requested for running job %s", job_id)
            job.cancel(reason)

    async def run(self) -> None:
        root = work_root(self.settings)
        await asyncio.to_thread(sweep, root)  # what a previous incarnation on this host left
        workspace = Workspace(root).claim()
        self.runner.work_dir = workspace.dir
        try:
            await self._prepare_storage()
            await self._serve()
        finally:
            workspace.close()
            await self.store.close()

    async def _prepare_storage(self) -> None:
        """Create the bucket or directory; storage that is down now only delays the uploads."""
        try:
            await self.store.ensure()
        except TRANSIENT as exc:
            log.warning("log storage not ready (%s); jobs run anyway, their uploads are retried", exc)

    async def _serve(self) -> None:
        await provision_at_start(self.js, self.settings)
        self.runner.atomic_batches = await allows_atomic_batches(self.js)
        if not self.runner.atomic_batches:
            log.warning(
                "events stream without allow_atomic: one round trip per event (playledger streams migrate)"
            )
        await schedule.provision(self.js, self.settings)  # before the consumers: ``due`` reads it
        await ensure_buckets(self.js, self.settings)  # templates (launches) and schedules (cron)
        await ensure_consumers(self.js, self.settings)
        await self.lease.provision(self.settings)
        await self.lease.renew()
        cancels = await watch_cancels(self.js, self._on_cancel)
        lease = asyncio.create_task(self.lease.keep(self.finished), name="lease")
        retention = asyncio.create_task(self._keep_retention(), name="retention")
        loops = [
            asyncio.create_task(self.intake.run(self.stopping), name="intake"),
            asyncio.create_task(self.dispatcher.run(self.stopping), name="dispatch"),
            asyncio.create_task(self.scheduler.run(self.stopping), name="cron"),
            asyncio.create_task(self.chains.run(self.stopping), name="chains"),
        ]
        log.info("executor %s ready (concurrency %d)", self.executor_id, self.settings.concurrency)
        self.ready.set()
        try:
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait([stop, *loops], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception() is not None:
                    log.error("%s loop failed; shutting down", task.get_name(), exc_info=task.exception())
            self.stopping.set()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._drain()
        finally:
            retention.cancel()
            self.finished.set()
            await lease
            with contextlib.suppress(Exception):  # NATS may be away at shutdown
                await cancels.unsubscribe()

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period, then stop (and record) the rest.

        A job still running when ``shutdown_grace_s`` ends is stopped like a cancel (worker
        tree killed after ``cancel_grace_s``) and recorded ``canceled`` with the reason
        "executor shutdown". If even that terminal event cannot be stored (NATS away) within
        ``FINAL_APPEND_S``, the run is abandoned unacknowledged: its submit is redelivered and
        another executor records ``job.error`` "executor lost" once this lease has expired.
        """
        jobs = set(self.dispatcher.tasks)
        if not jobs:
            return
        log.info("waiting up to %.0fs for %d running jobs", self.settings.shutdown_grace_s, len(jobs))
        _, pending = await asyncio.wait(jobs, timeout=self.settings.shutdown_grace_s)
        if not pending:
            return
        for job in list(self.runner.running.values()):
            job.cancel(SHUTDOWN_REASON)
        _, stuck = await asyncio.wait(pending, timeout=self.settings.cancel_grace_s + FINAL_APPEND_S)
        for task in stuck:
            task.cancel()
        if stuck:
            log.warning("%d jobs could not record their end; their submits will be redelivered", len(stuck))
        await asyncio.gather(*pending, return_exceptions=True)
