"""``playledger projector [migrate|rebuild|status]``: without a subcommand, run the projector."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import asyncpg
import click

from playledger_common.bus import connect_as
from playledger_common.observability import setup_observability
from playledger_common.opsserver import nats_check, ops_server
from playledger_common.readmodel import READ_MODEL_VERSION, SCHEMA
from playledger_common.settings import ProjectorSettings, from_env
from playledger_projector import migrations
from playledger_projector.lag import measure
from playledger_projector.locks import LEADER, LEADER_HOLDERS_SQL, LOCK_CLASS
from playledger_projector.metrics import ProjectorMetrics
from playledger_projector.rebuild import RebuildError, rebuild
from playledger_projector.service import Projector


def _settings(ctx: click.Context) -> ProjectorSettings:
    options: dict[str, Any] = ctx.obj or {}
    return from_env(ProjectorSettings, **options)


@click.group(invoke_without_command=True)
@click.option("--nats-url", default=None, help="Overrides PLAYLEDGER_NATS_URL.")
@click.option("--database-url", default=None, help="Overrides PLAYLEDGER_DATABASE_URL.")
@click.option("--batch-size", type=int, default=None, help="Overrides PLAYLEDGER_BATCH_SIZE.")
@click.pass_context
def projector(
    ctx: click.Context, nats_url: str | None, database_url: str | None, batch_size: int | None
) -> None:
    """Fold the events stream into the PostgreSQL read models (runs the projector without a subcommand).

    Run several for availability: one is active (PostgreSQL advisory lock), the others wait
    and take over when it dies.
    """
    ctx.obj = {"nats_url": nats_url, "database_url": database_url, "batch_size": batch_size}
    if ctx.invoked_subcommand is None:
        settings = _settings(ctx)
        setup_observability(settings, "projector")
        asyncio.run(_serve(settings))


async def _serve(settings: ProjectorSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    projector = Projector(settings)
    async with ops_server(settings, projector.metrics.registry) as ops:
        ops.readiness, ops.refresh = projector.readiness, projector.refresh_metrics
        await projector.run(stop)


@projector.command("migrate")
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending read-model migrations."""
    settings = _settings(ctx)

    async def run() -> list[int]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await migrations.apply(conn, SCHEMA)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    if applied:
        click.echo(f"applied migrations {', '.join(map(str, applied))}")
    click.echo(f"read models at version {READ_MODEL_VERSION}")


@projector.command("rebuild")
@click.option("--batch-size", "rebuild_batch", type=int, default=5000, show_default=True)
@click.pass_context
def rebuild_command(ctx: click.Context, rebuild_batch: int) -> None:
    """Replay the whole events stream into fresh tables and swap them in."""
    settings = _settings(ctx)
    setup_observability(settings, "projector")

    async def run() -> None:
        progress = ProjectorMetrics()
        async with ops_server(settings, progress.registry) as ops:  # progress: rebuild_seq / target
            nc = await connect_as(settings, "playledger-projector-rebuild")
            ops.readiness = lambda: [nats_check(nc)]
            conn = await asyncpg.connect(settings.database_url)
            try:
                report = await rebuild(
                    conn, nc.jetstream(), schema=SCHEMA, batch_size=rebuild_batch, progress=progress
                )
            finally:
                await conn.close()
                await nc.close()
        click.echo(
            f"rebuilt from {report.events} events up to stream sequence {report.last_stream_seq} "
            f"in {report.seconds:.2f}s ({report.events_per_second:.0f} events/s); swapped in as {SCHEMA}"
        )

    try:
        asyncio.run(run())
    except RebuildError as exc:
        click.echo(f"rebuild failed: {exc}", err=True)
        sys.exit(1)


@projector.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Print the last projected stream sequence, the stream's last sequence and the lag."""
    settings = _settings(ctx)

    async def run() -> None:
        nc = await connect_as(settings, "playledger-projector-status")
        conn = await asyncpg.connect(settings.database_url)
        try:
            lag = await measure(conn, nc.jetstream(), SCHEMA)
            version = await migrations.current_version(conn, SCHEMA)
            active = await conn.fetchval(
                LEADER_HOLDERS_SQL,
                LOCK_CLASS,
                LEADER,
            )
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
            await nc.close()
        click.echo(f"projected stream seq: {lag.projected_seq}")
        click.echo(f"stream last seq:      {lag.stream_last_seq}")
        click.echo(f"lag:                  {lag.lag}")
        click.echo(f"read-model version:   {version} (expected {READ_MODEL_VERSION})")
        click.echo(f"active projector:     {active or 'none'}")

    asyncio.run(run())
