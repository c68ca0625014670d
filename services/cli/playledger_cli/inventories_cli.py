"""``playledger inventories …``: the API's stored inventories (jobs name them as ``stored``)."""

from __future__ import annotations

from pathlib import Path

import click

from playledger_cli.client_cli import api_url_option
from playledger_cli.output import emit_json, output_option
from playledger_cli.templates_cli import api_for, print_table, read_json

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def inventories() -> None:
    """Stored inventories: create, put, list, show, history, delete."""


@inventories.command("create")
@click.argument("name")
@click.argument("file", type=_FILE)
@api_url_option
def create_inventory(name: str, file: Path, api_url: str | None) -> None:
    """Store a new inventory from a JSON file ({"description": …, "inventory": {"type": …}})."""
    _write("POST", name, file, api_url)


@inventories.command("put")
@click.argument("name")
@click.argument("file", type=_FILE)
@api_url_option
def put_inventory(name: str, file: Path, api_url: str | None) -> None:
    """Create or replace an inventory from a JSON file: a new version (queued jobs keep theirs)."""
    _write("PUT", name, file, api_url)


def _write(method: str, name: str, file: Path, api_url: str | None) -> None:
    item = api_for(api_url).request(method, f"/api/v1/inventories/{name}", json=read_json(file)).json()
    click.echo(f"inventory {item['name']} version {item['version']}")


@inventories.command("list")
@api_url_option
@output_option
def list_inventories(api_url: str | None, output: str) -> None:
    """Every stored inventory at its current version."""
    items = api_for(api_url).request("GET", "/api/v1/inventories").json()["items"]
    if output == "json":
        emit_json(items)
        return
    print_table(
        [{**i, "type": i["inventory"]["type"]} for i in items], ["name", "version", "type", "description"]
    )


@inventories.command("show")
@click.argument("name")
@click.option("--history", is_flag=True, help="Every version it ever had, and its deletes.")
@api_url_option
def show_inventory(name: str, history: bool, api_url: str | None) -> None:
    """One stored inventory (JSON)."""
    path = f"/api/v1/inventories/{name}" + ("/history" if history else "")
    emit_json(api_for(api_url).request("GET", path).json())


@inventories.command("delete")
@click.argument("name")
@api_url_option
def delete_inventory(name: str, api_url: str | None) -> None:
    """Delete a stored inventory (its history and the jobs' records of it stay)."""
    api_for(api_url).request("DELETE", f"/api/v1/inventories/{name}")
    click.echo(f"inventory {name} deleted")
