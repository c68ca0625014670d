"""``GET /api/v1/jobs/{id}/logs`` and artifacts from log storage, end to end: the API, executor and
projector as processes, storing into a real S3 API (moto's server over HTTP) or the local store."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.s3 import S3Server
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUT = "y" * 100_000
PLAYBOOK = """
- name: Stored
  hosts: all
  gather_facts: false
  tasks:
    - name: say a lot
      ansible.builtin.debug:
        msg: "{{ 'y' * 100000 }}"
    - name: keep stats
      ansible.builtin.set_stats:
        data:
          release: "{{ release | default('1.0') }}"
    - name: wait a little
      ansible.builtin.command: "sleep {{ sleep_s | default(0) }}"
"""


def job(**extra_vars: Any) -> dict[str, Any]:
    return {
        "source": {"type": "local", "path": "site.yml"},
        "inventory": {
            "type": "inline",
            "hosts": ["localhost"],
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            },
        },
        "extra_vars": extra_vars,
    }


@contextmanager
def api_of(
    nats_url: str, database_url: str, tmp_path: Path, settings: dict[str, str] | None = None
) -> Iterator[tuple[Stack, httpx.Client]]:
    """The whole stack running ``PLAYBOOK`` as ``site.yml``, and an HTTP client of its API."""
    with (
        running_stack(nats_url, database_url, tmp_path, {"site.yml": PLAYBOOK}, settings=settings) as stack,
        httpx.Client(base_url=stack.url, headers=stack.headers, timeout=30) as client,
    ):
        yield stack, client


def wait_log(client: httpx.Client, job_id: str, text: str, limit_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + limit_s
    while True:
        answer = client.get(f"/api/v1/jobs/{job_id}/logs")
        if answer.status_code == 200 and text in answer.text:
            return answer
        assert time.monotonic() < deadline, answer.text[-300:]
        time.sleep(0.3)


def test_s3_log_running_then_finished_redirects_to_a_presigned_url(
    nats_url: str, database_url: str, tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    settings = {**s3_server.bucket_env(s3_bucket), "PLAYLEDGER_LOG_FLUSH_S": "0.3"}
    with api_of(nats_url, database_url, tmp_path, settings) as (_, client):
        submitted = client.post("/api/v1/jobs", json=job(sleep_s=3, release="2.0"))
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        running = wait_log(client, job_id, CUT)  # a running job: the parts stored so far, through the API
        assert client.get(f"/api/v1/jobs/{job_id}").json()["complete"] is False
        done = complete_job(client, job_id)

        answer = client.get(f"/api/v1/jobs/{job_id}/logs")
        assert answer.status_code == 307
        location = answer.headers["location"]
        assert location.startswith(f"{s3_server.endpoint_url}/{s3_bucket}/logs/jobs/{job_id}/1/stdout?")
        assert "X-Amz-Expires=300" in location
        log = httpx.get(location).content  # no API key: the presigned URL is the authorisation
        assert done["log"]["sha256"] == hashlib.sha256(log).hexdigest()
        assert done["log"]["size"] == len(log)
        assert log.startswith(running.content)
        assert CUT.encode() in log
        ranged = httpx.get(location, headers={"Range": "bytes=0-3"})
        assert (ranged.status_code, ranged.content) == (206, log[:4])
        events = client.get(f"/api/v1/jobs/{job_id}/events", params={"event": "runner_on_ok"}).json()
        assert CUT not in json.dumps(events)  # the stream keeps it cut; the stored log whole
        as_text = client.get(f"/api/v1/jobs/{job_id}/logs", params={"format": "text"})
        assert (as_text.status_code, as_text.content) == (200, log)  # the runner was told no colours

        artifacts = {a["name"]: a for a in done["artifacts"]}
        assert {"rc", "status", "artifact_data.json"} <= set(artifacts)
        assert "command" not in artifacts
        assert done["missing_objects"] == []
        data = client.get(artifacts["artifact_data.json"]["url"])
        assert data.status_code == 307
        body = httpx.get(data.headers["location"]).content
        assert json.loads(body) == {"release": "2.0"}
        assert hashlib.sha256(body).hexdigest() == artifacts["artifact_data.json"]["sha256"]


def test_local_log_is_served_with_ranges_by_the_api(nats_url: str, database_url: str, tmp_path: Path) -> None:
    with api_of(nats_url, database_url, tmp_path) as (stack, client):
        job_id = client.post("/api/v1/jobs", json=job()).json()["id"]
        done = complete_job(client, job_id)
        url = f"/api/v1/jobs/{job_id}/logs"

        whole = client.get(url)
        assert whole.status_code == 200
        assert whole.headers["accept-ranges"] == "bytes"
        stored = stack.logs_dir / "jobs" / job_id / "1" / "stdout"
        assert whole.content == stored.read_bytes()
        assert hashlib.sha256(whole.content).hexdigest() == done["log"]["sha256"]
        assert urlsplit(done["log"]["url"]).path == url
        size = len(whole.content)

        head = client.get(url, headers={"Range": "bytes=0-9"})
        assert (head.status_code, head.content) == (206, whole.content[:10])
        assert head.headers["content-range"] == f"bytes 0-9/{size}"
        tail = client.get(url, headers={"Range": "bytes=-7"})
        assert (tail.status_code, tail.content) == (206, whole.content[-7:])
        beyond = client.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"
        assert beyond.headers["content-type"] == "application/problem+json"
        several = client.get(url, headers={"Range": "bytes=0-1,5-6"})
        assert (several.status_code, several.content) == (200, whole.content)  # ignored, as RFC 9110 allows

        bad = client.get(url, params={"format": "html"})
        assert bad.status_code == 400
        assert "format" in bad.text

        artifacts = {a["name"]: a for a in done["artifacts"]}
        rc = client.get(artifacts["rc"]["url"])
        assert (rc.status_code, rc.content.strip()) == (200, b"0")
        missing = client.get(f"/api/v1/jobs/{job_id}/artifacts/command")
        assert missing.status_code == 404
        assert "no artifact 'command'" in missing.json()["detail"]
        assert (
            client.get(
                f"/api/v1/jobs/{job_id}/artifacts/rc", headers={"Authorization": "Bearer x"}
            ).status_code
            == 401
        )
