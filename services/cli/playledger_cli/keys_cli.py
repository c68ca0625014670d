"""``playledger keys create|list|revoke``: API keys through ``/api/v1/keys`` (needs an admin key)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from playledger_cli.client_cli import _request, api_url_option, output_option, resolve_api_url


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
    help="jobs:submit, jobs:read, jobs:cancel, credentials:write, credentials:read, inventories:write, "
    "metrics:read or admin; repeat for several.",
)
@click.option("--owner", default=None, help="Who the key belongs to (default: the owner of your key).")
@click.option("--playbook", "playbooks", multiple=True, help="Only playbooks matching this glob; repeatable.")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, help="Default: never.")
@api_url_option
@output_option
def create(
    name: str,
    scopes: tuple[str, ...],
    owner: str | None,
    playbooks: tuple[str, ...],
    expires_in_days: int | None,
    api_url: str | None,
    output: str,
) -> None:
    """Create a key and print it: it is shown only this once."""
    body: dict[str, Any] = {"name": name, "scopes": list(scopes), "playbooks": list(playbooks)}
    if owner:
        body["owner"] = owner
    if expires_in_days is not None:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=expires_in_days)).isoformat()
    created = _request("POST", f"{resolve_api_url(api_url)}/api/v1/keys", json=body).json()
    if output == "json":
        click.echo(json.dumps(created, indent=2))
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
    items = _request("GET", f"{resolve_api_url(api_url)}/api/v1/keys").json()["items"]
    if output == "json":
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        state = "revoked" if item.get("revoked_at") else "active"
        limits = f" playbooks {','.join(item['playbooks'])}" if item.get("playbooks") else ""
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
    record = _request("DELETE", f"{resolve_api_url(api_url)}/api/v1/keys/{key_id}").json()
    if output == "json":
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"revoked key {record['id']} ({record['name']})")
