"""The credentials store over real HTTP routes and real PostgreSQL: validation at the door,
metadata only on the way out, ciphertext at rest, KEK rotation while serving, and a delete
that leaves nothing readable."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from playledger_api.app import create_app
from playledger_api.creds.envelope import Envelope, decrypt
from playledger_api.creds.keyring import KeySource
from playledger_api.creds.service import Credentials
from playledger_api.creds.store import TABLE, CredentialStore
from playledger_common.kekfile import (
    KeyringError,
    add_current_key,
    ensure_key_file,
    parse_key_file,
    retire_old_keys,
)
from playledger_common.settings import ApiSettings
from tests.api.conftest import admin_headers
from tests.creds.conftest import keypair

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(name="keyed")
def fx_keyed(settings: ApiSettings, tmp_path: Path) -> ApiSettings:
    """The API with a key file (rotation rewrites it), not a single key from the environment."""
    return msgspec.structs.replace(
        settings, secrets_key=None, secrets_key_file=ensure_key_file(tmp_path / "keks")
    )


@pytest.fixture(name="api")
async def fx_api(keyed: ApiSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(keyed)) as client:
        client.headers.update(admin_headers(keyed))
        yield client


async def _raw_rows(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE):
            return []
        return [dict(row) for row in await conn.fetch(f"SELECT * FROM {TABLE} ORDER BY name")]  # noqa: S608
    finally:
        await conn.close()


def _envelope(row: dict[str, Any]) -> Envelope:
    return Envelope(
        kek_id=row["kek_id"], wrapped_key=row["wrapped_key"], nonce=row["nonce"], ciphertext=row["ciphertext"]
    )


async def test_create_list_show_replace_delete_show_metadata_only(
    api: AsyncTestClient[Any], tmp_path: Path
) -> None:
    key, public = keypair(tmp_path, "meta", passphrase="meta passphrase")
    (tmp_path / "meta.pub").write_text(public, encoding="utf-8")
    expected = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "meta.pub")], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    made = await api.post(
        "/api/v1/credentials",
        json={
            "name": "prod-ssh",
            "type": "ssh_key",
            "private_key": key,
            "passphrase": "meta passphrase",
            "username": "deploy",
            "description": "prod hosts",
        },
    )
    assert made.status_code == 201, made.text
    info = made.json()
    assert info["fingerprint"] == expected
    assert (info["type"], info["username"], info["description"]) == ("ssh_key", "deploy", "prod hosts")
    await api.post("/api/v1/credentials", json={"name": "become", "type": "password", "password": PASSWORD})

    listed = await api.get("/api/v1/credentials")
    assert [item["name"] for item in listed.json()["items"]] == ["become", "prod-ssh"]
    for text in (listed.text, (await api.get("/api/v1/credentials/prod-ssh")).text, made.text):
        assert "meta passphrase" not in text
        assert key.splitlines()[1] not in text
        assert PASSWORD not in text

    again = await api.post(
        "/api/v1/credentials", json={"name": "become", "type": "password", "password": "x"}
    )
    assert again.status_code == 409
    assert "PUT /api/v1/credentials/become" in again.json()["detail"]
    other, _ = keypair(tmp_path, "other")
    replaced = await api.put("/api/v1/credentials/prod-ssh", json={"type": "ssh_key", "private_key": other})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["fingerprint"] != expected
    assert replaced.json()["updated_at"] > info["updated_at"]

    assert (await api.delete("/api/v1/credentials/prod-ssh")).status_code == 204
    gone = await api.get("/api/v1/credentials/prod-ssh")
    assert gone.status_code == 404
    assert gone.json()["detail"] == "no credential named 'prod-ssh'"
    assert (await api.delete("/api/v1/credentials/prod-ssh")).status_code == 404


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"type": "password", "password": "x"}, "$.name", "required"),
        ({"name": "bad name", "type": "password", "password": "x"}, "$.name", "must match"),
        ({"name": "n", "type": "token", "password": "x"}, "$.type", "Invalid value 'token'"),
        ({"name": "n", "type": "password"}, "$", "missing required field `password`"),
        ({"name": "n", "type": "password", "password": ""}, "$.password", "length >= 1"),
        ({"name": "n", "type": "password", "password": "x", "secret": 1}, "$.secret", "not supported"),
        (
            {"name": "n", "type": "ssh_key", "private_key": "not a key"},
            "$.private_key",
            "not an OpenSSH or PEM",
        ),
        ({"name": "n", "type": "vault_password", "password": "x", "vault_id": "a b"}, "$.vault_id", "regex"),
    ],
)
async def test_bad_credentials_are_refused_at_the_door_naming_the_field(
    api: AsyncTestClient[Any], body: dict[str, Any], path: str, message: str
) -> None:
    response = await api.post("/api/v1/credentials", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["path"] == path
    assert message in error["message"]


async def test_a_wrong_or_missing_passphrase_is_refused_before_anything_is_stored(
    api: AsyncTestClient[Any], tmp_path: Path, database_url: str
) -> None:
    locked, _ = keypair(tmp_path, "locked", passphrase="right one")
    plain, _ = keypair(tmp_path, "plain")
    cases = [
        (locked, "wrong one", "does not decrypt the private key"),
        (locked, None, "required: the private key is passphrase-protected"),
        (plain, "spare", "given, but the private key is not passphrase-protected"),
    ]
    for key, passphrase, message in cases:
        body = {
            "name": "k",
            "type": "ssh_key",
            "private_key": key,
            **({"passphrase": passphrase} if passphrase else {}),
        }
        response = await api.post("/api/v1/credentials", json=body)
        assert response.status_code == 422
        assert response.json()["errors"] == [{"path": "$.passphrase", "message": message}]
    assert await _raw_rows(database_url) == []


async def test_secrets_are_ciphertext_at_rest_and_a_deleted_one_is_unrecoverable(
    api: AsyncTestClient[Any], keyed: ApiSettings, database_url: str
) -> None:
    for name in ("keep", "doomed"):
        made = await api.post(
            "/api/v1/credentials", json={"name": name, "type": "password", "password": PASSWORD}
        )
        assert made.status_code == 201
    rows = await _raw_rows(database_url)
    assert len(rows) == 2
    for row in rows:
        stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
        assert PASSWORD.encode() not in stored
    assert rows[0]["nonce"] != rows[1]["nonce"]
    assert rows[0]["wrapped_key"] != rows[1]["wrapped_key"]  # a data key per secret
    doomed = _envelope(next(row for row in rows if row["name"] == "doomed"))
    assert keyed.secrets_key_file is not None
    ring = parse_key_file(keyed.secrets_key_file.read_text(encoding="utf-8"), "keks")
    assert PASSWORD.encode() in decrypt(ring, "doomed", doomed)
    with pytest.raises(KeyringError):  # bound to its name: a row copied under another name does not open
        decrypt(ring, "keep", doomed)

    assert (await api.delete("/api/v1/credentials/doomed")).status_code == 204
    assert [row["name"] for row in await _raw_rows(database_url)] == ["keep"]
    # a copy of the deleted row (a dead tuple, a backup) is unreadable once its KEK is retired
    add_current_key(keyed.secrets_key_file)
    rotated = await api.post("/api/v1/credentials/rotate-key")
    assert rotated.json()["rewrapped"] == 1
    retire_old_keys(keyed.secrets_key_file)
    ring = parse_key_file(keyed.secrets_key_file.read_text(encoding="utf-8"), "keks")
    with pytest.raises(KeyringError, match="not configured"):
        decrypt(ring, "doomed", doomed)
    keep = _envelope((await _raw_rows(database_url))[0])
    assert PASSWORD.encode() in decrypt(ring, "keep", keep)


async def test_rotating_the_kek_rewraps_every_data_key_while_other_processes_keep_reading(
    api: AsyncTestClient[Any], keyed: ApiSettings, database_url: str
) -> None:
    for n in range(5):
        await api.post(
            "/api/v1/credentials", json={"name": f"p{n}", "type": "password", "password": f"{PASSWORD}-{n}"}
        )
    assert keyed.secrets_key_file is not None
    old = {row["kek_id"] for row in await _raw_rows(database_url)}
    # another API process, which read the key file before the rotation
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        other = Credentials(CredentialStore(pool), KeySource(keyed))
        assert not isinstance(await other.job_secrets({"become_password": ("p0", "password")}), str)

        new_id = add_current_key(keyed.secrets_key_file)
        rotated = await api.post("/api/v1/credentials/rotate-key")
        assert rotated.status_code == 200
        assert rotated.json() == {"kek_id": new_id, "rewrapped": 5}
        assert {row["kek_id"] for row in await _raw_rows(database_url)} == {new_id} != old
        assert (await api.post("/api/v1/credentials/rotate-key")).json()["rewrapped"] == 0

        retire_old_keys(keyed.secrets_key_file)
        got = await other.job_secrets(
            {"become_password": ("p3", "password")}
        )  # it reads the new key on its own
        assert not isinstance(got, str)
        assert got.become_password is not None
        assert got.become_password.password == f"{PASSWORD}-3"
        made = await api.post(
            "/api/v1/credentials", json={"name": "later", "type": "password", "password": "x"}
        )
        assert made.json()["kek_id"] == new_id
    finally:
        await pool.close()


async def test_without_a_key_encryption_key_credentials_answer_503_naming_the_setting(
    settings: ApiSettings,
) -> None:
    bare = msgspec.structs.replace(settings, secrets_key=None, secrets_key_file=None)
    async with AsyncTestClient(app=create_app(bare)) as client:
        client.headers.update(admin_headers(bare))
        response = await client.post(
            "/api/v1/credentials", json={"name": "n", "type": "password", "password": "x"}
        )
        assert response.status_code == 503
        assert "PLAYLEDGER_SECRETS_KEY" in response.json()["detail"]


async def test_a_body_nested_too_deep_is_refused_before_it_is_decoded(api: AsyncTestClient[Any]) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    body = {"name": "deep", "type": "vars", "vars": {"x": deep}}
    response = await api.post("/api/v1/credentials", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$"
    assert "deep" in response.json()["errors"][0]["message"]
