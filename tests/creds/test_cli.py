"""``playledger credentials add|list|rm|rotate-key`` against a real API server: secrets from a
file or stdin, never argv; rotation rewrites the key file and the API rewraps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from playledger_cli.cli import cli
from playledger_common.kekfile import ensure_key_file, parse_key_file
from playledger_common.settings import ApiSettings
from tests.api.conftest import admin_headers, serve
from tests.creds.conftest import keypair

pytestmark = pytest.mark.integration


@pytest.fixture(name="keyed")
def fx_keyed(settings: ApiSettings, tmp_path: Path) -> ApiSettings:
    return msgspec.structs.replace(
        settings, secrets_key=None, secrets_key_file=ensure_key_file(tmp_path / "keks")
    )


@pytest.fixture(name="url")
async def fx_url(keyed: ApiSettings) -> AsyncIterator[str]:
    async for url in serve(keyed):
        yield url


async def _cli(url: str, keyed: ApiSettings, *args: str, stdin: str | None = None) -> str:
    key = admin_headers(keyed)["Authorization"].removeprefix("Bearer ")
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke, cli, [*args, "--api-url", url], input=stdin, env={"PLAYLEDGER_API_KEY": key}
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_add_list_rm_and_rotate_key_from_the_command_line(
    url: str, keyed: ApiSettings, tmp_path: Path
) -> None:
    key, _ = keypair(tmp_path, "cli", passphrase="cli passphrase")
    key_file = tmp_path / "id"
    key_file.write_text(key, encoding="utf-8")
    passphrase = tmp_path / "pp"
    passphrase.write_text("cli passphrase\n", encoding="utf-8")
    out = await _cli(
        url,
        keyed,
        "credentials",
        "add",
        "deploy",
        "--type",
        "ssh_key",
        "--secret-file",
        str(key_file),
        "--passphrase-file",
        str(passphrase),
        "--username",
        "deploy",
    )
    assert out.startswith("stored ssh_key credential deploy  SHA256:")
    out = await _cli(
        url,
        keyed,
        "credentials",
        "add",
        "become",
        "--type",
        "password",
        "--secret-file",
        "-",
        stdin="from stdin\n",
    )
    assert out == "stored password credential become\n"
    listed = await _cli(url, keyed, "credentials", "list")
    assert "deploy  ssh_key" in listed
    assert "become  password" in listed
    assert "from stdin" not in listed
    assert "cli passphrase" not in listed

    assert keyed.secrets_key_file is not None
    before = parse_key_file(keyed.secrets_key_file.read_text(encoding="utf-8"), "keks")
    out = await _cli(
        url, keyed, "credentials", "rotate-key", "--key-file", str(keyed.secrets_key_file), "--retire"
    )
    after = parse_key_file(keyed.secrets_key_file.read_text(encoding="utf-8"), "keks")
    assert f"current key {after.current}: 2 data keys rewrapped" in out
    assert set(after.keys) == {after.current} != {before.current}
    assert "data keys rewrapped" in out

    assert await _cli(url, keyed, "credentials", "rm", "become") == "deleted credential become\n"
    assert "become" not in await _cli(url, keyed, "credentials", "list")


async def test_every_stored_type_from_the_command_line_secrets_from_files_only(
    url: str, keyed: ApiSettings, tmp_path: Path
) -> None:
    files = {
        "token": "ghp_cli-token-0123456789",
        "aws": "aws/cli+secret-0123456789",
        "session": "aws-session-token-0123",
        "env": 'APP_TOKEN="cli app token"\nexport REGION=eu\n',
        "vars": "db_password: cli db password\nlist: [1, 2]\n",
        "galaxy": "galaxy-cli-token-0123",
        "headers": "Authorization: Bearer cli-bearer-0123\n\nX-Api-Key: cli-key-4567\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    key, _ = keypair(tmp_path, "deploy")
    (tmp_path / "deploy-key").write_text(key, encoding="utf-8")
    adds = {
        "repo-token": ["--type", "git", "--secret-file", str(tmp_path / "token"), "--username", "ci"],
        "repo-key": ["--type", "git", "--ssh-key-file", str(tmp_path / "deploy-key")],
        "aws-key": [
            "--type",
            "aws",
            "--access-key-id",
            "AKIACLI0123456789",
            "--secret-file",
            str(tmp_path / "aws"),
            "--session-token-file",
            str(tmp_path / "session"),
            "--region",
            "eu-west-1",
        ],
        "app-env": ["--type", "env", "--secret-file", str(tmp_path / "env")],
        "db-vars": ["--type", "vars", "--secret-file", "-"],
        "hub": [
            "--type",
            "galaxy_token",
            "--url",
            "https://hub.example/api/galaxy/",
            "--secret-file",
            str(tmp_path / "galaxy"),
        ],
        "cmdb": ["--type", "http_headers", "--secret-file", str(tmp_path / "headers")],
    }
    for name, args in adds.items():
        stdin = files["vars"] if name == "db-vars" else None
        out = await _cli(url, keyed, "credentials", "add", name, *args, stdin=stdin)
        assert out.startswith("stored "), out
    listed = await _cli(url, keyed, "credentials", "list", "--output", "json")
    assert {(item["name"], item["type"]) for item in msgspec.json.decode(listed)} == {
        ("repo-token", "git"),
        ("repo-key", "git"),
        ("aws-key", "aws"),
        ("app-env", "env"),
        ("db-vars", "vars"),
        ("hub", "galaxy_token"),
        ("cmdb", "http_headers"),
    }
    secrets = ["cli app token", "cli db password", "cli-bearer-0123", "cli-key-4567", key.splitlines()[1]]
    for secret in [*files.values(), *secrets]:
        assert secret.strip() not in listed

    runner = CliRunner()
    refused = await asyncio.to_thread(
        runner.invoke, cli, ["credentials", "add", "x", "--type", "git", "--api-url", url]
    )
    assert refused.exit_code != 0
    assert "a git credential needs one of --secret-file (an HTTPS token) and --ssh-key-file" in refused.output
    (tmp_path / "bad-env").write_text("JUST_A_NAME\n", encoding="utf-8")
    refused = await asyncio.to_thread(
        runner.invoke,
        cli,
        [
            "credentials",
            "add",
            "x",
            "--type",
            "env",
            "--secret-file",
            str(tmp_path / "bad-env"),
            "--api-url",
            url,
        ],
    )
    assert f"the variables from {tmp_path / 'bad-env'}: JUST_A_NAME has no '=value'" in refused.output
