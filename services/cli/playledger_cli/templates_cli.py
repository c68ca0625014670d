"""``playledger templates …`` and ``playledger schedules …``: the API's templates and schedules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from playledger_cli.api_client import Api
from playledger_cli.client_cli import api_url_option
from playledger_cli.endpoints import api_endpoint
from playledger_cli.output import emit_json, output_option


def api_for(api_url: str | None) -> Api:
    return Api(api_endpoint(api_url))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def print_table(items: list[dict[str, Any]], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, box=None)
    for item in items:
        table.add_row(*("-" if item.get(c) is None else str(item[c]) for c in columns))
    Console().print(table)


@click.group()
def templates() -> None:
    """Stored job templates: list, show, put, delete, launch."""


@templates.command("list")
@api_url_option
@output_option
def list_templates(api_url: str | None, output: str) -> None:
    """Every template at its current version."""
    items = api_for(api_url).request("GET", "/api/v1/templates").json()["items"]
    if output == "json":
        emit_json(items)
        return
    print_table(items, ["name", "version", "description"])


@templates.command("show")
@click.argument("name")
@api_url_option
def show_template(name: str, api_url: str | None) -> None:
    """One template (JSON)."""
    emit_json(api_for(api_url).request("GET", f"/api/v1/templates/{name}").json())


@templates.command("put")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@api_url_option
def put_template(name: str, file: Path, api_url: str | None) -> None:
    """Create or replace a template from a JSON file ({"spec": …, "allow_override": […]})."""
    item = api_for(api_url).request("PUT", f"/api/v1/templates/{name}", json=read_json(file)).json()
    click.echo(f"template {item['name']} version {item['version']}")


@templates.command("delete")
@click.argument("name")
@api_url_option
def delete_template(name: str, api_url: str | None) -> None:
    """Delete a template (its jobs keep its name and version)."""
    api_for(api_url).request("DELETE", f"/api/v1/templates/{name}")
    click.echo(f"template {name} deleted")


@templates.command("launch")
@click.argument("name")
@click.option("--id", "job_id", default=None, help="The job's id (default: a new one).")
@click.option("--limit", default=None, help="Override the template's limit (if it allows it).")
@click.option(
    "--var", "variables", multiple=True, help="NAME=VALUE (a JSON value, else a string); repeatable."
)
@api_url_option
def launch(
    name: str, job_id: str | None, limit: str | None, variables: tuple[str, ...], api_url: str | None
) -> None:
    """Run a job from the template's current version."""
    extra: dict[str, Any] = {}
    for assignment in variables:
        key, sep, raw = assignment.partition("=")
        if not sep:
            msg = f"--var {assignment!r}: expected NAME=VALUE"
            raise click.BadParameter(msg)
        try:
            extra[key] = json.loads(raw)
        except ValueError:
            extra[key] = raw
    overrides: dict[str, Any] = {
        **({"limit": limit} if limit else {}),
        **({"extra_vars": extra} if extra else {}),
    }
    body = {**({"id": job_id} if job_id else {}), "overrides": overrides}
    accepted = api_for(api_url).request("POST", f"/api/v1/templates/{name}/launch", json=body).json()
    click.echo(f"job {accepted['id']} {accepted['status']}")


@click.group()
def schedules() -> None:
    """Recurring launches of templates: list, show, put, pause, resume, delete."""


@schedules.command("list")
@api_url_option
@output_option
def list_schedules(api_url: str | None, output: str) -> None:
    """Every schedule and when it fires next."""
    items = api_for(api_url).request("GET", "/api/v1/schedules").json()["items"]
    if output == "json":
        emit_json(items)
        return
    print_table(items, ["name", "template", "cron", "every_s", "timezone", "enabled", "next_run"])


@schedules.command("show")
@click.argument("name")
@api_url_option
def show_schedule(name: str, api_url: str | None) -> None:
    """One schedule (JSON)."""
    emit_json(api_for(api_url).request("GET", f"/api/v1/schedules/{name}").json())


@schedules.command("put")
@click.argument("name")
@click.option("--template", required=True)
@click.option("--cron", default=None, help="5 fields, e.g. '30 2 * * *'.")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--every", "every_s", type=int, default=None, help="An interval in seconds instead of --cron.")
@click.option("--catch-up", type=click.Choice(["one", "none"]), default="one", show_default=True)
@api_url_option
def put_schedule(
    name: str,
    template: str,
    cron: str | None,
    timezone: str,
    every_s: int | None,
    catch_up: str,
    api_url: str | None,
) -> None:
    """Create or replace a schedule."""
    body: dict[str, Any] = {"template": template, "timezone": timezone, "catch_up": catch_up}
    body |= {"cron": cron} if cron else {}
    body |= {"every_s": every_s} if every_s else {}
    item = api_for(api_url).request("PUT", f"/api/v1/schedules/{name}", json=body).json()
    click.echo(f"schedule {item['name']} next run {item['next_run']}")


def _set_enabled(name: str, enabled: bool, api_url: str | None) -> None:
    api = api_for(api_url)
    current = api.request("GET", f"/api/v1/schedules/{name}").json()
    keys = ("template", "cron", "timezone", "every_s", "catch_up", "overrides")
    body = {k: current[k] for k in keys if current.get(k) is not None} | {"enabled": enabled}
    api.request("PUT", f"/api/v1/schedules/{name}", json=body)
    click.echo(f"schedule {name} {'resumed' if enabled else 'paused'}")


@schedules.command("pause")
@click.argument("name")
@api_url_option
def pause(name: str, api_url: str | None) -> None:
    """Stop launching firings (firings while paused never run)."""
    _set_enabled(name, False, api_url)


@schedules.command("resume")
@click.argument("name")
@api_url_option
def resume(name: str, api_url: str | None) -> None:
    """Launch firings again, from now on."""
    _set_enabled(name, True, api_url)


@schedules.command("delete")
@click.argument("name")
@api_url_option
def delete_schedule(name: str, api_url: str | None) -> None:
    """Delete a schedule."""
    api_for(api_url).request("DELETE", f"/api/v1/schedules/{name}")
    click.echo(f"schedule {name} deleted")
