"""The ``playledger`` command line: one entry point, one subcommand per service and tool.

The client's own commands are imported here. Each service contributes its subcommand
(``playledger api`` …) through the ``playledger.commands`` entry-point group declared in
``pyproject.toml``, loaded only when invoked: the CLI never imports a service (import-linter
checks it), and ``playledger streams init`` never loads Litestar or ansible-runner.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from importlib.metadata import EntryPoint, entry_points
from typing import Final

import click

from playledger_cli.client_cli import cancel, jobs, logs, show, submit
from playledger_cli.credentials_cli import credentials
from playledger_cli.dev import dev
from playledger_cli.errors import CliError
from playledger_cli.exitcodes import ExitCode
from playledger_cli.inventories_cli import inventories
from playledger_cli.keys_cli import keys
from playledger_cli.nats_config_cli import nats_config
from playledger_cli.nats_creds_cli import nats_creds
from playledger_cli.replay import replay
from playledger_cli.stats_cli import stats
from playledger_cli.templates_cli import schedules, templates
from playledger_common.errors import ConfigError

COMMANDS_GROUP: Final = "playledger.commands"
STREAMS_CONNECT_S: Final = 10.0


def service_commands() -> dict[str, EntryPoint]:
    """The subcommands installed services declare, by name."""
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


class ServiceGroup(click.Group):
    """A group that also offers every service's entry-point command, loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *service_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry_point = service_commands().get(cmd_name)
        if entry_point is None:
            return super().get_command(ctx, cmd_name)
        command = entry_point.load()
        if not isinstance(command, click.Command):
            msg = f"entry point {entry_point.value} is not a click command"
            raise TypeError(msg)
        return command


@click.group(cls=ServiceGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """playledger: run Ansible playbooks as jobs, event-sourced on NATS JetStream."""


for _command in (
    dev,
    submit,
    jobs,
    show,
    logs,
    cancel,
    replay,
    keys,
    credentials,
    nats_creds,
    nats_config,
    stats,
    templates,
    schedules,
    inventories,
):
    cli.add_command(_command)


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
        try:
            async with asyncio.timeout(STREAMS_CONNECT_S):
                nc = await connect_as(settings, "playledger-streams-init")
        except TimeoutError:
            msg = (
                f"cannot connect to NATS at {settings.nats_url} within {STREAMS_CONNECT_S:g} s "
                "(not running, or it refused these credentials: streams init needs the admin user)"
            )
            raise CliError(msg) from None
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
    """Bring an events stream made by an earlier version to today's config (see schemas/README.md)."""
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
def storage() -> None:
    """Log storage (complete logs and artifacts): S3 or the local directory."""


@storage.command("init")
def storage_init() -> None:
    """Create the bucket (or directory) if missing and apply PLAYLEDGER_LOG_RETENTION_DAYS."""
    from playledger_common.logstore import TRANSIENT, open_store
    from playledger_common.settings import CommonSettings, from_env

    settings = from_env(CommonSettings)
    store = open_store(settings)

    async def run() -> None:
        try:
            await store.ensure()
            if settings.log_retention_days:
                await store.expire(settings.log_retention_days)
        except TRANSIENT as exc:
            raise CliError(str(exc)) from None
        finally:
            await store.close()

    asyncio.run(run())
    where = settings.storage_url or settings.logs_dir.resolve()
    kept = f"{settings.log_retention_days} days" if settings.log_retention_days else "forever"
    click.echo(f"log storage {where}: ready, logs kept {kept}")


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
    """Run the CLI with ansible-playbook's exit codes (see ``exitcodes``)."""
    try:
        cli.main(prog_name="playledger", standalone_mode=False)
    except click.UsageError as exc:
        exc.show()
        sys.exit(ExitCode.INVALID_OPTIONS)
    except CliError as exc:
        exc.show()
        sys.exit(exc.code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"playledger: {exc}", err=True)
        sys.exit(ExitCode.INVALID_OPTIONS)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception:  # noqa: BLE001 - a bug: show it, and exit as ansible-playbook does for one
        traceback.print_exc()
        sys.exit(ExitCode.UNEXPECTED)
