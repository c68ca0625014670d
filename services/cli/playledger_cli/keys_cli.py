"""``playledger keys create|list|revoke``: API keys through ``/api/v1/keys`` (needs an admin key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from playledger_cli.api_client import Api
from playledger_cli.client_cli import api_url_option
from playledger_cli.endpoints import api_endpoint
from playledger_cli.output import emit_json, output_option


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (the key in use needs the admin scope)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. ci-deploy.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="jobs:submit, jobs:read, jobs:cancel, templates:write, credentials:write, credentials:read, inventories:write, "
    "metrics:read or admin; repeat for several.",
)
@click.option("--owner", default=None, help="Who the key belongs to (default: the owner of your key).")
@click.option("--playbook", "playbooks", multiple=True, help="Only playbooks matching this glob; repeatable.")
@click.option(
    "--repo",
    "repos",
    multiple=True,
    help="Only git repositories (source, inventory) whose URL matches this glob; repeatable.",
)
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, help="Default: never.")
@api_url_option
@output_option
def create(
    name: str,
    scopes: tuple[str, ...],
    owner: str | None,
    playbooks: tuple[str, ...],
    repos: tuple[str, ...],
    expires_in_days: int | None,
    api_url: str | None,
    output: str,
) -> None:
    """Create a key and print it: it is shown only this once."""
    body: dict[str, Any] = {
        "name": name,
        "scopes": list(scopes),
        "playbooks": list(playbooks),
        "repos": list(repos),
    }
    if owner:
        body["owner"] = owner
    if expires_in_days is not None:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=expires_in_days)).isoformat()
    created = Api(api_endpoint(api_url)).request("POST", "/api/v1/keys", json=body).json()
    if output == "json":
        emit_json(created)
        return
    record = created["record"]
    click.echo(f"created key {record['id']} ({record['name']}, scopes {', '.join(record['scopes'])})")
    click.echo("store it now, it is not shown again:")
    click.echo(created["key"])


@keys.command("list")
@api_url_option
@output_option
def list_keys(api_url: str | None, output: str) -> None:
    """Every key: id, name, owner, scopes, expiry, last use, revocation."""
    items = Api(api_endpoint(api_url)).request("GET", "/api/v1/keys").json()["items"]
    if output == "json":
        emit_json(items)
        return
    for item in items:
        state = "revoked" if item.get("revoked_at") else "active"
        limits = f" playbooks {','.join(item['playbooks'])}" if item.get("playbooks") else ""
        limits += f" repos {','.join(item['repos'])}" if item.get("repos") else ""
        click.echo(
            f"{item['id']}  {state:7}  {item['name']}  owner {item['owner']}  "
            f"scopes {','.join(item['scopes'])}{limits}  expires {item.get('expires_at') or 'never'}  "
            f"last used {item.get('last_used_at') or 'never'}"
        )


@keys.command("revoke")
@click.argument("key_id")
@api_url_option
@output_option
def revoke(key_id: str, api_url: str | None, output: str) -> None:
    """Revoke a key by its id: from now on it is refused."""
    record = Api(api_endpoint(api_url)).request("DELETE", f"/api/v1/keys/{key_id}").json()
    if output == "json":
        emit_json(record)
        return
    click.echo(f"revoked key {record['id']} ({record['name']})")
