"""Jobs that log into a real sshd with stored credentials: a key, a passphrase-protected key,
``become`` with a stored password, an Ansible Vault file opened by a stored vault password; and
the same with wrong secrets, which fail with ansible's own message and without the secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.creds.conftest import SshTarget, keypair
from tests.creds.support import add, credentials_stack, job, run, stdout_of, vault_file
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with credentials_stack(nats_url, database_url, tmp_path) as stack:
        yield stack


def test_jobs_log_in_with_stored_keys_become_with_a_stored_password_and_open_a_vault(
    stack: Stack, ssh_target: SshTarget, tmp_path: Path
) -> None:
    key, public = keypair(tmp_path, "plain")
    locked_key, locked_public = keypair(tmp_path, "locked", passphrase="the passphrase 1")
    ssh_target.authorize(public)
    ssh_target.authorize(locked_public)
    vault_file(stack.projects_dir, "vault password 1", tmp_path)
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        made = add(client, "login-key", "ssh_key", private_key=key, username="pl-login")
        assert made["fingerprint"].startswith("SHA256:")
        add(
            client,
            "locked-key",
            "ssh_key",
            private_key=locked_key,
            passphrase="the passphrase 1",
            username="pl-login",
        )
        add(client, "become", "password", password=ssh_target.become_password)
        add(client, "vault", "vault_password", password="vault password 1")

        plain = run(client, job(ssh_target, "whoami.yml", {"ssh": "login-key"}))
        assert plain["status"] == "successful", stdout_of(client, plain["id"])
        locked = run(client, job(ssh_target, "whoami.yml", {"ssh": "locked-key"}))
        assert locked["status"] == "successful", stdout_of(client, locked["id"])
        become = run(client, job(ssh_target, "become.yml", {"ssh": "login-key", "become_password": "become"}))
        assert become["status"] == "successful", stdout_of(client, become["id"])
        vault = run(client, job(ssh_target, "vault.yml", {"ssh": "login-key", "vault_password": "vault"}))
        assert vault["status"] == "successful", stdout_of(client, vault["id"])


def test_wrong_secrets_fail_with_ansibles_message_and_without_the_secret(
    stack: Stack, ssh_target: SshTarget, tmp_path: Path
) -> None:
    key, public = keypair(tmp_path, "good")
    stranger, _ = keypair(tmp_path, "stranger")
    ssh_target.authorize(public)
    vault_file(stack.projects_dir, "the right vault password", tmp_path)
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        add(client, "good-key", "ssh_key", private_key=key, username="pl-login")
        add(client, "stranger-key", "ssh_key", private_key=stranger, username="pl-login")
        add(client, "wrong-become", "password", password="not-the-become-password-42")
        add(client, "wrong-vault", "vault_password", password="not-the-vault-password-42")

        unreachable = run(client, job(ssh_target, "whoami.yml", {"ssh": "stranger-key"}))
        assert unreachable["status"] == "failed"
        text = stdout_of(client, unreachable["id"])
        assert "UNREACHABLE" in text, text
        assert "Permission denied" in text, text
        assert stranger.splitlines()[1] not in text

        become = run(
            client, job(ssh_target, "become.yml", {"ssh": "good-key", "become_password": "wrong-become"})
        )
        assert become["status"] == "failed"
        text = stdout_of(client, become["id"])
        assert "Incorrect su password" in text or "Authentication failure" in text, text
        assert "not-the-become-password-42" not in text

        vault = run(
            client, job(ssh_target, "vault.yml", {"ssh": "good-key", "vault_password": "wrong-vault"})
        )
        assert vault["status"] in ("failed", "error")
        text = stdout_of(client, vault["id"])
        assert "Decryption failed" in text or "no vault secrets would decrypt" in text.lower(), text
        assert "not-the-vault-password-42" not in text
