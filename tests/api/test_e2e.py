"""End to end: the API, the executor and the projector as processes, a real playbook run."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from tests.api.runner_run import run_playbook
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = """
- name: End to end
  hosts: all
  gather_facts: false
  tasks:
    - name: greet
      ansible.builtin.debug:
        msg: "hello {{ inventory_hostname }}"
    - name: change
      ansible.builtin.command: echo changed
    - name: pause a little so a client can watch live
      ansible.builtin.pause:
        seconds: 1
    - name: skip
      ansible.builtin.debug:
        msg: never
      when: false
"""

JOB: dict[str, Any] = {
    "source": {"type": "local", "path": "site.yml"},
    "inventory": {
        "type": "inline",
        "hosts": ["localhost"],
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        },
    },
}


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(nats_url, database_url, tmp_path, {"site.yml": PLAYBOOK}) as stack:
        yield stack


def watch(stack: Stack, job_id: str, headers: dict[str, str] | None = None) -> list[ServerSentEvent]:
    with (
        httpx.Client(base_url=stack.url, headers=stack.headers, timeout=120) as client,
        connect_sse(client, "GET", f"/api/v1/jobs/{job_id}/stream", headers=dict(headers or {})) as source,
    ):
        assert source.response.status_code == 200
        return [
            sse for sse in source.iter_sse() if sse.data
        ]  # httpx_sse reports keepalives as empty messages


def all_events(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get(f"/api/v1/jobs/{job_id}/events", params={"after": after, "limit": 1000}).json()
        events += page["items"]
        if page["next_after"] is None:
            return events
        after = page["next_after"]


def test_submit_watch_resume_idempotency_and_logs(stack: Stack, tmp_path: Path) -> None:
    with httpx.Client(base_url=stack.url, headers=stack.headers, timeout=60) as client:
        submitted = client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "e2e-1"})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]

        # submit -> watch over SSE -> the job completes; every event exactly once, in order
        received = watch(stack, job_id)
        assert received[-1].event == "end"
        assert json.loads(received[-1].data)["outcome"] == "successful"
        events = received[:-1]
        seqs = [json.loads(sse.data)["seq"] for sse in events]
        assert seqs == list(range(1, len(seqs) + 1))
        ids = [int(sse.id) for sse in events]
        assert ids == sorted(set(ids))
        assert events[0].event == "job.queued"
        assert "runner_on_ok" in {sse.event for sse in events}

        # everything the client saw is queryable once the job is complete
        job = complete_job(client, job_id)
        assert job["status"] == "successful"
        assert job["submitted_by"]["name"] == "bootstrap-admin"  # the key that submitted it, never its secret
        assert stack.headers["Authorization"].split()[1] not in json.dumps(job)
        assert job["event_count"] == len(events)
        projected = all_events(client, job_id)
        assert [e["stream_seq"] for e in projected] == ids
        assert [e["seq"] for e in projected] == seqs

        # reconnecting with Last-Event-ID from the middle yields exactly the remainder
        middle = len(events) // 2
        rest = watch(stack, job_id, headers={"Last-Event-ID": events[middle].id})
        assert [sse.id for sse in rest[:-1]] == [sse.id for sse in events[middle + 1 :]]
        assert rest[-1].event == "end"

        # the same Idempotency-Key again: the same job, never run twice
        again = client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "e2e-1"})
        assert again.status_code == 202
        assert (again.json()["id"], again.json()["duplicate"]) == (job_id, True)
        time.sleep(2)
        assert [j["id"] for j in client.get("/api/v1/jobs").json()["items"]] == [job_id]
        started = [e for e in all_events(client, job_id) if e["event"] == "job.started"]
        assert len(started) == 1

        # GET /logs equals the stdout ansible-runner writes: byte for byte against runner's own
        # artifact for the same playbook and inventory, and against the executor's copy of this run
        logs = client.get(f"/api/v1/jobs/{job_id}/logs")
        assert logs.status_code == 200
        direct = asyncio.run(run_playbook(tmp_path / "direct", "site.yml", PLAYBOOK, hosts=["localhost"]))
        assert direct.status == "successful"
        assert logs.text == direct.stdout
        log_uri = projected[-1]["data"]["log_uri"]
        executor_copy = Path(urlsplit(log_uri).path).read_text(encoding="utf-8")  # LF line ends
        assert logs.text.replace("\r\n", "\n") == executor_copy
