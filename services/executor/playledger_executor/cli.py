"""``playledger executor``: run an executor until SIGTERM/SIGINT, then drain and exit 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from playledger_common.bus import close_quietly, connect_as
from playledger_common.observability import setup_observability
from playledger_common.opsserver import ops_server
from playledger_common.settings import ExecutorSettings, from_env


@click.command("executor")
@click.option("--concurrency", type=int, default=None, help="Jobs run at once (PLAYLEDGER_CONCURRENCY).")
@click.option(
    "--projects-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Playbooks are read only from here (PLAYLEDGER_PROJECTS_DIR).",
)
def executor(concurrency: int | None, projects_dir: Path | None) -> None:
    """Take job commands from JetStream and run them with ansible-runner."""
    settings = from_env(ExecutorSettings, concurrency=concurrency, projects_dir=projects_dir)
    setup_observability(settings, "executor")
    asyncio.run(_serve(settings))


async def _serve(settings: ExecutorSettings) -> None:
    from playledger_executor.metrics import ExecutorMetrics  # keeps --help fast
    from playledger_executor.service import Executor

    metrics = ExecutorMetrics()
    async with ops_server(settings, metrics.registry) as ops:  # /ready: 503 until consumers are bound
        nc = await connect_as(settings, "playledger-executor")
        service = Executor(nc, settings, metrics)
        ops.readiness, ops.refresh = service.readiness, service.refresh_metrics
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.request_stop)
        try:
            await service.run()
        finally:
            await close_quietly(nc)
