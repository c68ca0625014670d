"""Helpers of the credential tests: a stack with a key-encryption key file, and job bodies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from playledger_common.kekfile import ensure_key_file
from tests.creds.conftest import SshTarget
from tests.stack import Stack, complete_job, running_stack

WHOAMI = """
- name: log in
  hosts: target
  gather_facts: false
  tasks:
    - name: who am i
      ansible.builtin.command: whoami
      register: who
      changed_when: false
    - name: the key's user
      ansible.builtin.assert:
        that: who.stdout == "pl-login"
"""
BECOME = """
- name: become with a stored password
  hosts: target
  gather_facts: false
  become: true
  become_method: ansible.builtin.su
  become_user: pl-become
  vars:
    # no ACL tools on the test target: let the unprivileged become user read ansible's temp files
    ansible_shell_allow_world_readable_temp: true
  tasks:
    - name: who am i now
      ansible.builtin.command: whoami
      register: who
      changed_when: false
    - name: the become user
      ansible.builtin.assert:
        that: who.stdout == "pl-become"
"""
VAULT = """
- name: decrypt a vault file
  hosts: target
  gather_facts: false
  vars_files:
    - vaulted.yml
  tasks:
    - name: the vaulted value
      ansible.builtin.assert:
        that: vaulted_value == "opened by the stored password"
"""
PLAYBOOKS = {"whoami.yml": WHOAMI, "become.yml": BECOME, "vault.yml": VAULT}


def vault_file(
    projects: Path,
    password: str,
    scratch: Path,
    *,
    name: str = "vaulted.yml",
    text: str = 'vaulted_value: "opened by the stored password"\n',
) -> None:
    """``name`` with ``text`` encrypted by ``ansible-vault`` with ``password`` (the password file is the test's)."""
    secret = scratch / "vault-pass"
    secret.write_text(password + "\n", encoding="utf-8")
    target = projects / name
    target.write_text(text, encoding="utf-8")
    vault = Path(sys.executable).parent / "ansible-vault"
    subprocess.run(
        [str(vault), "encrypt", "--vault-password-file", str(secret), str(target)],
        check=True,
        capture_output=True,
    )
    secret.unlink()


@contextmanager
def credentials_stack(
    nats_url: str, database_url: str, work: Path, settings: dict[str, str] | None = None, **playbooks: str
) -> Iterator[Stack]:
    keys = ensure_key_file(work / "secrets-keys")
    settings = {
        "PLAYLEDGER_SECRETS_KEY_FILE": str(keys),
        "PLAYLEDGER_WORK_DIR": str(work / "executor-work"),
        **(settings or {}),
    }
    with running_stack(nats_url, database_url, work, {**PLAYBOOKS, **playbooks}, settings=settings) as stack:
        yield stack


def job(ssh: SshTarget, playbook: str, credentials: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "source": {"type": "local", "path": playbook},
        "inventory": {"type": "inline", "hosts": ["target"], "host_vars": {"target": ssh.host_vars()}},
        "credentials": credentials,
        **extra,
    }


def add(client: httpx.Client, name: str, type_: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/credentials", json={"name": name, "type": type_, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def run(client: httpx.Client, body: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return complete_job(client, response.json()["id"], timeout=timeout)


def stdout_of(client: httpx.Client, job_id: str) -> str:
    response = client.get(f"/api/v1/jobs/{job_id}/logs")
    assert response.status_code == 200, response.text
    return response.text


def nowhere(stack: Stack, client: httpx.Client, job_ids: list[str], *secrets: str) -> None:
    """No secret in the jobs' events, their logs, the service logs or the executor's work dir."""
    texts = [client.get(f"/api/v1/jobs/{job_id}/events").text for job_id in job_ids]
    texts += [stdout_of(client, job_id) for job_id in job_ids]
    texts += [p.read_text(errors="replace") for p in stack.work.glob("*.log")]
    texts += [p.read_text(errors="replace") for p in (stack.work / "executor-work").rglob("*") if p.is_file()]
    for secret in secrets:
        assert all(secret not in text for text in texts), secret
