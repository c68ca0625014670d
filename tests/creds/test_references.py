"""A job that names a credential which does not exist (or not of the right type): refused at the
HTTP door naming it; from a NATS publisher (whose executor cannot read the store) and when the
credential is deleted while the job waits, the job ends ``error`` naming it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from playledger_api.creds.store import TABLE
from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobCredentials, JobSpec, LocalSource, SubmitJob
from playledger_schemas.subjects import COMMANDS_STREAM, EVENTS_STREAM, submit_subject
from tests.creds.support import add, credentials_stack, vault_file
from tests.stack import Stack, complete_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCAL = """
- name: local
  hosts: all
  gather_facts: false
  tasks:
    - name: wait a little
      ansible.builtin.pause:
        seconds: "{{ wait | default(0) }}"
"""
INVENTORY: dict[str, Any] = {
    "type": "inline",
    "hosts": ["localhost"],
    "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
}


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = {"PLAYLEDGER_CONCURRENCY": "1"}
    with credentials_stack(nats_url, database_url, tmp_path, settings, **{"local.yml": LOCAL}) as stack:
        yield stack


def _body(credentials: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "source": {"type": "local", "path": "local.yml"},
        "inventory": INVENTORY,
        "credentials": credentials,
        **extra,
    }


async def _publish(nats_url: str, command: SubmitJob) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(submit_subject("normal", command.job_id), encode(command))
    finally:
        await nc.close()


def test_missing_or_mistyped_credentials_are_refused_or_end_the_job_as_error_naming_them(
    stack: Stack, nats_url: str
) -> None:
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        add(client, "a-password", "password", password="pw for the deleted case")
        refused = client.post("/api/v1/jobs", json=_body({"ssh": "nope", "become_password": "a-password"}))
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"path": "$.credentials.ssh", "message": "credential 'nope' does not exist"}
        ]
        mistyped = client.post("/api/v1/jobs", json=_body({"vault_password": "a-password"}))
        assert mistyped.status_code == 422
        assert mistyped.json()["errors"][0]["message"] == (
            "credential 'a-password' is a 'password' credential; vault_password needs a 'vault_password' one"
        )

        # the NATS door: the executor's intake cannot read the store; the job ends error naming it
        spec = JobSpec(
            source=LocalSource(path="local.yml"),
            inventory=InlineInventory(hosts=["localhost"], vars=INVENTORY["vars"]),
            credentials=JobCredentials(become_password="nope"),
        )
        asyncio.run(_publish(nats_url, SubmitJob(job_id="from-nats", spec=spec)))
        ended = complete_job(client, "from-nats", timeout=60)
        assert ended["status"] == "error"
        assert "credential 'nope' does not exist" in ended["failure_reason"]

        # deleted while the job waits behind another (concurrency 1): error naming it
        blocker = client.post("/api/v1/jobs", json=_body({}, extra_vars={"wait": 4}))
        assert blocker.status_code == 202
        waiting = client.post("/api/v1/jobs", json=_body({"become_password": "a-password"}))
        assert waiting.status_code == 202, waiting.text
        time.sleep(0.5)
        assert client.delete("/api/v1/credentials/a-password").status_code == 204
        ended = complete_job(client, waiting.json()["id"], timeout=60)
        assert ended["status"] == "error"
        assert (
            "credentials.become_password: credential 'a-password' does not exist" in ended["failure_reason"]
        )
        assert complete_job(client, blocker.json()["id"])["status"] == "successful"


SECRET_VARS = """
- name: secret vars and an inline vault password
  hosts: all
  gather_facts: false
  vars_files:
    - vaulted.yml
  tasks:
    - name: the secret variable arrived
      ansible.builtin.assert:
        that:
          - db_password == "inline-db-password-5e1"
          - vaulted_value == "opened by the stored password"
    - name: echo it (masked)
      ansible.builtin.debug:
        var: db_password
"""


async def _job_scoped_rows(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r[0] for r in await conn.fetch(f"SELECT name FROM {TABLE} WHERE job_id IS NOT NULL")]  # noqa: S608
    finally:
        await conn.close()


async def _stream_text(nats_url: str) -> str:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        texts = []
        for stream in (EVENTS_STREAM, COMMANDS_STREAM):
            for seq in range(1, (await js.stream_info(stream)).state.last_seq + 1):
                texts.append((await js.get_msg(stream, seq)).data.decode())
        return "\n".join(texts)
    finally:
        await nc.close()


def test_secret_vars_and_inline_credentials_are_job_scoped_and_gone_when_it_ends(
    stack: Stack, nats_url: str, database_url: str, tmp_path: Path
) -> None:
    (stack.projects_dir / "secret_vars.yml").write_text(SECRET_VARS, encoding="utf-8")
    vault_file(stack.projects_dir, "inline-vault-password-77", tmp_path)
    body = _body(
        {"vault_password": {"type": "inline", "password": "inline-vault-password-77"}},
        secret_vars={"db_password": "inline-db-password-5e1"},
    )
    body["source"]["path"] = "secret_vars.yml"
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        ended = complete_job(client, job_id)
        log = client.get(f"/api/v1/jobs/{job_id}/logs").text
        assert ended["status"] == "successful", log
        assert '"db_password": "********"' in log
        assert client.get("/api/v1/credentials").json()["items"] == []  # job-scoped ones are not listed
        shown = client.get(f"/api/v1/jobs/{job_id}").text

        refused = client.post(
            "/api/v1/jobs",
            json=_body({"ssh": {"type": "inline", "private_key": "nope"}}, secret_vars={"bad-name": 1}),
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["path"] == "$.secret_vars"
        assert refused.json()["errors"][0]["message"].startswith("a key: ")
        bad_key = client.post("/api/v1/jobs", json=_body({"ssh": {"type": "inline", "private_key": "nope"}}))
        assert bad_key.status_code == 422
        assert bad_key.json()["errors"] == [
            {"path": "$.credentials.ssh.private_key", "message": "not an OpenSSH or PEM private key"}
        ]
        reserved = client.post(
            "/api/v1/credentials", json={"name": "job.x.ssh", "type": "password", "password": "p"}
        )
        assert reserved.status_code == 422

    deadline = time.monotonic() + 15
    while asyncio.run(_job_scoped_rows(database_url)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert asyncio.run(_job_scoped_rows(database_url)) == []
    stored = asyncio.run(_stream_text(nats_url))
    assert f"job.{job_id}.secret_vars" in stored  # the command names them
    for secret in ("inline-db-password-5e1", "inline-vault-password-77"):
        assert secret not in stored
        assert secret not in shown
        assert secret not in log
