"""A job that names a credential which does not exist (or not of the right type): refused at the
HTTP door naming it; from a NATS publisher (whose executor cannot read the store) and when the
credential is deleted while the job waits, the job ends ``error`` naming it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobCredentials, JobSpec, LocalSource, SubmitJob
from playledger_schemas.subjects import submit_subject
from tests.creds.support import add, credentials_stack
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
