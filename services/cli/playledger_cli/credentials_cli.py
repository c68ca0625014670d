"""``playledger credentials add|list|rm|rotate-key``: the credentials store through
``/api/v1/credentials``. A secret is read from a file or from stdin (``-``), never from argv,
where ``ps`` and shell history would show it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import click

from playledger_cli.api_client import Api
from playledger_cli.client_cli import api_url_option
from playledger_cli.dev import SECRETS_KEY_FILE
from playledger_cli.endpoints import api_endpoint
from playledger_cli.errors import CliError
from playledger_cli.exitcodes import ExitCode
from playledger_cli.output import emit_json, output_option
from playledger_common.kekfile import KeyringError, add_current_key, retire_old_keys

STDIN: Final = "-"
_SECRET_FIELDS = {"ssh_key": "private_key", "password": "password", "vault_password": "password"}


def _read_secret(source: str, what: str) -> str:
    """The secret in file ``source``, or stdin for ``-``; one trailing newline dropped (not a key's)."""
    if source == STDIN:
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read {what} from {source}: {exc.strerror}"
            raise CliError(msg, ExitCode.INVALID_OPTIONS) from None
    if what != "the private key":
        text = text.removesuffix("\n")
    if not text:
        msg = f"{what} from {source} is empty"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    return text


@click.group()
def credentials() -> None:
    """Store, list and delete credentials (needs credentials:write / credentials:read)."""


@credentials.command("add")
@click.argument("name")
@click.option("--type", "type_", type=click.Choice(sorted(_SECRET_FIELDS)), required=True)
@click.option(
    "--secret-file",
    required=True,
    help="The private key (ssh_key) or the password, from this file; '-' reads stdin.",
)
@click.option(
    "--passphrase-file", default=None, help="ssh_key: the key's passphrase, from this file ('-': stdin)."
)
@click.option("--username", default=None, help="ssh_key: the remote user; password: the become user.")
@click.option("--vault-id", default=None, help="vault_password: the vault id it opens.")
@click.option("--description", default=None)
@click.option("--replace", is_flag=True, help="Replace the secret of an existing credential (rotation).")
@api_url_option
@output_option
def add(
    name: str,
    type_: str,
    secret_file: str,
    passphrase_file: str | None,
    username: str | None,
    vault_id: str | None,
    description: str | None,
    replace: bool,
    api_url: str | None,
    output: str,
) -> None:
    """Store credential NAME (encrypted by the API; only its metadata is ever shown again)."""
    if secret_file == STDIN and passphrase_file == STDIN:
        msg = "only one of --secret-file and --passphrase-file can read stdin"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    field = _SECRET_FIELDS[type_]
    body: dict[str, Any] = {
        "type": type_,
        field: _read_secret(secret_file, "the private key" if field == "private_key" else "the password"),
    }
    extras = {
        "passphrase": _read_secret(passphrase_file, "the passphrase") if passphrase_file else None,
        "username": username,
        "vault_id": vault_id,
        "description": description,
    }
    body.update({k: v for k, v in extras.items() if v is not None})
    api = Api(api_endpoint(api_url))
    if replace:
        info = api.request("PUT", f"/api/v1/credentials/{name}", json=body).json()
    else:
        info = api.request("POST", "/api/v1/credentials", json={"name": name, **body}).json()
    if output == "json":
        emit_json(info)
        return
    fingerprint = f"  {info['fingerprint']}" if info.get("fingerprint") else ""
    click.echo(f"{'replaced' if replace else 'stored'} {info['type']} credential {info['name']}{fingerprint}")


@credentials.command("list")
@api_url_option
@output_option
def list_credentials(api_url: str | None, output: str) -> None:
    """Every credential: name, type, fingerprint, user, dates (never a secret)."""
    items = Api(api_endpoint(api_url)).request("GET", "/api/v1/credentials").json()["items"]
    if output == "json":
        emit_json(items)
        return
    for item in items:
        extra = "  ".join(
            f"{k} {item[k]}" for k in ("username", "vault_id", "fingerprint", "description") if item.get(k)
        )
        click.echo(f"{item['name']}  {item['type']}  updated {item['updated_at']}  {extra}".rstrip())


@credentials.command("rm")
@click.argument("name")
@api_url_option
def remove(name: str, api_url: str | None) -> None:
    """Delete credential NAME: jobs that name it from now on end as error."""
    Api(api_endpoint(api_url)).request("DELETE", f"/api/v1/credentials/{name}")
    click.echo(f"deleted credential {name}")


@credentials.command("rotate-key")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The API's PLAYLEDGER_SECRETS_KEY_FILE: a new key is put first in it before the API "
    "rewraps (default: the key file of the running playledger dev; without one, only the rewrap).",
)
@click.option("--retire", is_flag=True, help="After the rewrap, remove every older key from the key file.")
@api_url_option
@output_option
def rotate_key(key_file: Path | None, retire: bool, api_url: str | None, output: str) -> None:
    """Rotate the key-encryption key without downtime: new key first, every data key rewrapped by
    the API (each row in its own transaction; reads go on), then optionally retire the old keys."""
    endpoint = api_endpoint(api_url)
    if key_file is None and endpoint.dev is not None:
        key_file = endpoint.dev.data_dir / SECRETS_KEY_FILE
    try:
        new_id = add_current_key(key_file) if key_file is not None else None
    except (OSError, KeyringError) as exc:
        msg = f"cannot add a key to {key_file}: {exc}"
        raise CliError(msg, ExitCode.INVALID_OPTIONS) from None
    rotated = Api(endpoint).request("POST", "/api/v1/credentials/rotate-key").json()
    if new_id is not None and rotated["kek_id"] != new_id:
        msg = f"the API rewrapped with key {rotated['kek_id']!r}, not {new_id!r}: is {key_file} its key file?"
        raise CliError(msg)
    retired = retire_old_keys(key_file) if retire and key_file is not None else []
    if output == "json":
        emit_json({**rotated, "retired": retired})
        return
    click.echo(f"current key {rotated['kek_id']}: {rotated['rewrapped']} data keys rewrapped")
    if retired:
        click.echo(f"retired {', '.join(retired)} from {key_file}")
