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
