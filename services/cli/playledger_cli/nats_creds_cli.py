"""``playledger nats-creds <role>``: how a client connects to ``playledger dev``'s NATS as a role."""

from __future__ import annotations

import json
from pathlib import Path

import click

from playledger_cli.client_auth import DEV_DATA_DIR
from playledger_common.nats_users import ROLES, inbox_prefix, permissions, stored_user


@click.command("nats-creds")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEV_DATA_DIR, show_default=True)
@click.option("--output", "-o", type=click.Choice(["env", "json"]), default="env", show_default=True)
def nats_creds(role: str, data_dir: Path, output: str) -> None:
    """Print the URL, user, password and inbox prefix of ROLE (env lines, or JSON)."""
    user = stored_user(data_dir, role)  # type: ignore[arg-type]
    url_file = data_dir / "nats-url"
    if user is None or not url_file.exists():
        msg = f"no running `playledger dev` with NATS users in {data_dir}"
        raise click.ClickException(msg)
    perms = permissions(user.role)
    details = {
        "url": url_file.read_text(encoding="utf-8").strip(),
        "user": user.user,
        "password": user.password,
        "inbox_prefix": inbox_prefix(user.role),
        "publish": list(perms.publish),
        "subscribe": list(perms.subscribe),
    }
    if output == "json":
        click.echo(json.dumps(details, indent=2))
        return
    click.echo(f"PLAYLEDGER_NATS_URL={details['url']}")
    click.echo(f"PLAYLEDGER_NATS_USER={user.user}")
    click.echo(f"PLAYLEDGER_NATS_PASSWORD={user.password}")
    click.echo(
        f"# other clients: connect with inbox prefix {details['inbox_prefix']} (replies to _INBOX.> are refused)"
    )
