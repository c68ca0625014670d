"""``playledger credentials add|list|rm|rotate-key``: the credentials store through
``/api/v1/credentials``. A secret is read from a file or from stdin (``-``), never from argv,
where ``ps`` and shell history would show it."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Final

import click
import yaml
from dotenv import dotenv_values

from playledger_cli.api_client import Api
from playledger_cli.client_cli import api_url_option
from playledger_cli.dev import SECRETS_KEY_FILE
from playledger_cli.endpoints import api_endpoint
from playledger_cli.errors import CliError
from playledger_cli.exitcodes import ExitCode
from playledger_cli.output import emit_json, output_option
from playledger_common.kekfile import KeyringError, add_current_key, retire_old_keys

STDIN: Final = "-"
SECRET_FILE_MEANS: Final = {
    "ssh_key": "the private key",
    "password": "the password",
    "vault_password": "the password",
    "git": "the HTTPS token",
    "aws": "the secret access key",
    "env": "the variables (NAME=value lines, as in a .env file)",
    "vars": "the variables (a YAML or JSON mapping)",
    "galaxy_token": "the Galaxy API token",
    "http_headers": "the headers ('Name: value' lines, as in an HTTP request)",
}
"""What ``--secret-file`` holds, by credential type."""
_KEEP_NEWLINE: Final = {"the private key", "the SSH deploy key"}


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
    if what not in _KEEP_NEWLINE:
        text = text.removesuffix("\n")
    if not text:
        msg = f"{what} from {source} is empty"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    return text


def _env_vars(text: str, source: str) -> dict[str, str]:
    """``NAME=value`` lines read by python-dotenv (quotes, ``export``, comments as in a .env file)."""
    values = dotenv_values(stream=io.StringIO(text))
    missing = sorted(name for name, value in values.items() if value is None)
    if missing:
        msg = f"the variables from {source}: {', '.join(missing)} has no '=value'"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    return {name: value for name, value in values.items() if value is not None}


def _headers(text: str, source: str) -> dict[str, str]:
    """``Name: value`` lines (blank lines skipped); the API checks the names."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or not value.strip():
            msg = f"the headers from {source}: line {number} is not 'Name: value'"
            raise CliError(msg, ExitCode.INVALID_OPTIONS)
        headers[name.strip()] = value.strip()
    return headers


def _vars(text: str, source: str) -> Any:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"the variables from {source} are not YAML or JSON: {exc.__class__.__name__}"
        raise CliError(msg, ExitCode.INVALID_OPTIONS) from None
    if not isinstance(loaded, dict):
        msg = f"the variables from {source} must be a mapping of names to values"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    return loaded


def secret_fields(type_: str, files: dict[str, str | None]) -> dict[str, Any]:
    """The secret fields of a credential of ``type_`` from the files the options name.

    ``files`` maps an option's purpose (``secret``, ``ssh_key``, ``passphrase``, ``known_hosts``,
    ``session_token``) to a path or ``-``. The API checks the shape; this only reads and says
    which file is missing or unreadable.
    """
    named = {purpose: source for purpose, source in files.items() if source is not None}
    if sum(source == STDIN for source in named.values()) > 1:
        msg = "only one of the secret options can read stdin ('-')"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    secret = named.get("secret")
    if type_ == "git":
        if (secret is None) == ("ssh_key" not in named):
            msg = "a git credential needs one of --secret-file (an HTTPS token) and --ssh-key-file"
            raise CliError(msg, ExitCode.INVALID_OPTIONS)
    elif secret is None:
        msg = f"a {type_} credential needs --secret-file ({SECRET_FILE_MEANS[type_]})"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
    fields: dict[str, Any] = {}
    if secret is not None:
        text = _read_secret(secret, SECRET_FILE_MEANS[type_])
        if type_ == "env":
            fields["env"] = _env_vars(text, secret)
        elif type_ == "vars":
            fields["vars"] = _vars(text, secret)
        elif type_ == "http_headers":
            fields["headers"] = _headers(text, secret)
        else:
            fields[_SECRET_FIELD[type_]] = text
    for purpose, (field, what) in _MORE_FILES.items():
        if purpose in named:
            fields[field] = _read_secret(named[purpose], what)
    return fields


_SECRET_FIELD: Final = {
    "ssh_key": "private_key",
    "password": "password",
    "vault_password": "password",
    "git": "token",
    "aws": "secret_access_key",
    "galaxy_token": "token",
}
_MORE_FILES: Final = {
    "ssh_key": ("private_key", "the SSH deploy key"),
    "passphrase": ("passphrase", "the passphrase"),
    "known_hosts": ("known_hosts", "the known_hosts lines"),
    "session_token": ("session_token", "the session token"),
}


@click.group()
def credentials() -> None:
    """Store, list and delete credentials (needs credentials:write / credentials:read)."""


@credentials.command("add")
@click.argument("name")
@click.option("--type", "type_", type=click.Choice(sorted(SECRET_FILE_MEANS)), required=True)
@click.option(
    "--secret-file",
    default=None,
    help="From this file ('-' reads stdin): "
    + "; ".join(f"{type_}: {what}" for type_, what in SECRET_FILE_MEANS.items())
    + ".",
)
@click.option("--ssh-key-file", default=None, help="git: an SSH deploy key instead of a token ('-': stdin).")
@click.option(
    "--passphrase-file", default=None, help="ssh_key, git: the key's passphrase, from this file ('-': stdin)."
)
@click.option("--known-hosts-file", default=None, help="git: the server's known_hosts lines.")
@click.option("--session-token-file", default=None, help="aws: a session token, from this file.")
@click.option("--access-key-id", default=None, help="aws: the access key id (not a secret).")
@click.option("--region", default=None, help="aws: the default region.")
@click.option("--url", default=None, help="galaxy_token: the Galaxy server's API URL.")
@click.option("--auth-url", default=None, help="galaxy_token: the server's SSO token URL, if it has one.")
@click.option(
    "--username",
    default=None,
    help="ssh_key: the remote user; password: the become user; git: the HTTPS user.",
)
@click.option("--vault-id", default=None, help="vault_password: the vault id it opens.")
@click.option("--description", default=None)
@click.option("--replace", is_flag=True, help="Replace the secret of an existing credential (rotation).")
@api_url_option
@output_option
def add(
    name: str,
    type_: str,
    secret_file: str | None,
    ssh_key_file: str | None,
    passphrase_file: str | None,
    known_hosts_file: str | None,
    session_token_file: str | None,
    access_key_id: str | None,
    region: str | None,
    url: str | None,
    auth_url: str | None,
    username: str | None,
    vault_id: str | None,
    description: str | None,
    replace: bool,
    api_url: str | None,
    output: str,
) -> None:
    """Store credential NAME (encrypted by the API; only its metadata is ever shown again)."""
    files = {
        "secret": secret_file,
        "ssh_key": ssh_key_file,
        "passphrase": passphrase_file,
        "known_hosts": known_hosts_file,
        "session_token": session_token_file,
    }
    body: dict[str, Any] = {"type": type_, **secret_fields(type_, files)}
    extras = {
        "access_key_id": access_key_id,
        "region": region,
        "url": url,
        "auth_url": auth_url,
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
