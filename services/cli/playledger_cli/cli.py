"""The ``playledger`` command line: one entry point, one subcommand per service and tool.

Service subcommands are loaded lazily by name, so ``playledger streams init`` never
imports Litestar or ansible-runner, and the services stay independent of each other.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import sys
from typing import Final

import click

from playledger_common.errors import ConfigError

LAZY_COMMANDS: Final = {
    "api": "playledger_api.cli:api",
    "executor": "playledger_executor.cli:executor",
    "projector": "playledger_projector.cli:projector",
    "dev": "playledger_cli.dev:dev",
    "submit": "playledger_cli.client_cli:submit",
    "jobs": "playledger_cli.client_cli:jobs",
    "show": "playledger_cli.client_cli:show",
    "logs": "playledger_cli.client_cli:logs",
    "cancel": "playledger_cli.client_cli:cancel",
    "replay": "playledger_cli.replay:replay",
    "keys": "playledger_cli.keys_cli:keys",
    "nats-creds": "playledger_cli.nats_creds_cli:nats_creds",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [name for name, target in LAZY_COMMANDS.items() if _module_exists(target)]
        return sorted({*super().list_commands(ctx), *available})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None or not _module_exists(target):
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)  # noqa: S101 - registry entries are click commands
        return command


def _module_exists(target: str) -> bool:
    try:
        return importlib.util.find_spec(target.split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """playledger: run Ansible playbooks as jobs, event-sourced on NATS JetStream."""


@cli.group()
def streams() -> None:
    """Provision and inspect the JetStream streams."""


@streams.command("init")
@click.option("--nats-url", envvar="PLAYLEDGER_NATS_URL", default=None, help="Overrides PLAYLEDGER_NATS_URL.")
def streams_init(nats_url: str | None) -> None:
    """Create the streams and durable consumers if missing; report drift (exit 1), never overwrite."""
    from playledger_common.bus import connect_as
    from playledger_common.consumers import ensure_consumers
    from playledger_common.settings import CommonSettings, from_env
    from playledger_common.streams import ensure_streams

    settings = from_env(CommonSettings, nats_url=nats_url)

    async def run() -> int:
        nc = await connect_as(settings, "playledger-streams-init")
        try:
            reports = await ensure_streams(nc.jetstream(), settings)
            reports += await ensure_consumers(nc.jetstream())
        finally:
            await nc.close()
        drifted = False
        for report in reports:
            state = "created" if report.created else ("drifted" if report.drift else "ok")
            click.echo(f"{report.stream}: {state}")
            for drift in report.drift:
                drifted = True
                click.echo(f"  drift: {drift}", err=True)
        return 1 if drifted else 0

    sys.exit(asyncio.run(run()))


@streams.command("migrate")
@click.option("--nats-url", envvar="PLAYLEDGER_NATS_URL", default=None, help="Overrides PLAYLEDGER_NATS_URL.")
def streams_migrate(nats_url: str | None) -> None:
    """Move a legacy events stream to append subjects with republish (see schemas/README.md)."""
    from playledger_common.bus import connect
    from playledger_common.settings import CommonSettings, from_env
    from playledger_common.streams import migrate_events_stream

    settings = from_env(CommonSettings, nats_url=nats_url)

    async def run() -> bool:
        nc = await connect(settings.nats_url, "playledger-streams-migrate")
        try:
            return await migrate_events_stream(nc.jetstream(), settings)
        finally:
            await nc.close()

    click.echo("PLAYLEDGER_EVENTS: " + ("migrated" if asyncio.run(run()) else "already migrated"))


@cli.group()
def schemas() -> None:
    """The wire contract as JSON Schema."""


@schemas.command("export")
def schemas_export() -> None:
    """Regenerate schemas/jsonschema/*.json from the msgspec Structs."""
    from playledger_schemas.export import export

    for path in export():
        click.echo(str(path))


@schemas.command("show")
@click.argument("which", type=click.Choice(["commands", "events"]))
def schemas_show(which: str) -> None:
    """Print the JSON Schema of commands or events."""
    from playledger_schemas.export import documents

    click.echo(json.dumps(documents()[f"{which}.json"], indent=2))


def main() -> None:
    try:
        cli(prog_name="playledger")
    except ConfigError as exc:
        click.echo(f"playledger: {exc}", err=True)
        sys.exit(2)
