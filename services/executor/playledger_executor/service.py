"""The executor process: intake, run consumers, cancel watcher, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Final

from nats.aio.client import Client

from playledger_common.settings import ExecutorSettings
from playledger_common.streams import provision_at_start
from playledger_executor.cancel import watch_cancels
from playledger_executor.consumers import ensure_consumers
from playledger_executor.dispatch import Dispatcher
from playledger_executor.intake import Intake
from playledger_executor.job import JobRunner

log: Final = logging.getLogger(__name__)

SHUTDOWN_REASON: Final = "executor shutdown"


def default_executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Executor:
    """One executor process. ``run()`` until ``request_stop()``; then drain and return."""

    def __init__(self, nc: Client, settings: ExecutorSettings) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.executor_id = settings.executor_id or default_executor_id()
        self.runner = JobRunner(self.js, settings, self.executor_id)
        self.dispatcher = Dispatcher(nc, self.js, self.runner, settings)
        self.intake = Intake(nc, settings)
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()

    def request_stop(self) -> None:
        self.stopping.set()

    def _on_cancel(self, job_id: str, reason: str) -> None:
        job = self.runner.running.get(job_id)
        if job is not None:
            log.info("cancel requested for running job %s", job_id)
            job.cancel(reason)

    async def run(self) -> None:
        await provision_at_start(self.js, self.settings)
        await ensure_consumers(self.js, self.settings)
        cancels = await watch_cancels(self.js, self._on_cancel)
        loops = [
            asyncio.create_task(self.intake.run(self.stopping), name="intake"),
            asyncio.create_task(self.dispatcher.run(self.stopping), name="dispatch"),
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
            await cancels.unsubscribe()

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period, then cancel (and record) the rest."""
        jobs = set(self.dispatcher.tasks)
        if not jobs:
            return
        log.info("waiting up to %.0fs for %d running jobs", self.settings.shutdown_grace_s, len(jobs))
        _, pending = await asyncio.wait(jobs, timeout=self.settings.shutdown_grace_s)
        if pending:
            for job in list(self.runner.running.values()):
                job.cancel(SHUTDOWN_REASON)
            await asyncio.gather(*pending, return_exceptions=True)
