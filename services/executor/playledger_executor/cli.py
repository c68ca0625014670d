"""``playledger executor``: run an executor until SIGTERM/SIGINT, then drain and exit 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from playledger_common.bus import connect_as
from playledger_common.logs import setup_logging
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
    setup_logging(settings.log_level, "executor")
    asyncio.run(_serve(settings))


async def _serve(settings: ExecutorSettings) -> None:
    from playledger_executor.service import Executor  # keeps --help fast

    nc = await connect_as(settings, "playledger-executor")
    service = Executor(nc, settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.request_stop)
    try:
        await service.run()
    finally:
        await nc.drain()
