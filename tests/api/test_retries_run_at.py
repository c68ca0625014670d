"""Retries, the dead letter and ``run_at`` through both doors: HTTP and the ``job.submit.v1``
command, with the API, executor and projector as processes (real nats-server, PostgreSQL,
ansible-runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from playledger_common.bus import connect
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration]

FAIL = """
- name: always fails
  hosts: all
  gather_facts: false
  tasks:
    - name: fail
      ansible.builtin.fail:
        msg: planned failure
"""
OK = """
- name: fine
  hosts: all
  gather_facts: false
  tasks:
    - name: greet
      ansible.builtin.debug:
        msg: hello
"""
INVENTORY: dict[str, Any] = {
    "type": "inline",
    "hosts": ["localhost"],
    "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
}
RETRY = {"max_attempts": 2, "backoff_s": 0.2, "backoff_max_s": 0.5, "on": ["failed"]}


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(nats_url, database_url, tmp_path, {"fail.yml": FAIL, "ok.yml": OK}) as stack:
        yield stack


def body(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": job_id, "source": {"type": "local", "path": "fail.yml"}, "inventory": INVENTORY, **extra}


def command(job_id: str, depends_on: list[str] | None = None, **spec: Any) -> bytes:
    return json.dumps(
        {
            "type": "job.submit.v1",
            "job_id": job_id,
            "spec": {"source": {"type": "local", "path": "fail.yml"}, "inventory": INVENTORY, **spec},
            **({"depends_on": depends_on} if depends_on else {}),
        }
    ).encode()


def wait_for(client: httpx.Client, job_id: str, pred: Any, limit_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if pred(job):
            return job
        time.sleep(0.2)
    msg = f"job {job_id}: not there in {limit_s}s: {job}"
    raise AssertionError(msg)


def check_dead(job: dict[str, Any], attempts: int) -> None:
    assert job["status"] == job["result"] == "dead", job
    assert (job["attempt"], job["max_attempts"], job["dead_letter"]) == (attempts, attempts, True)
    assert [(a["attempt"], a["status"], a["cause"]) for a in job["attempts"]] == [
        (n, "failed", "failed") for n in range(1, attempts + 1)
    ]
    assert all(a["reason"] == "ansible-playbook exited with rc 2" for a in job["attempts"])
    assert job["failure_reason"].startswith(f"dead after {attempts} attempts: 1 failed (")


async def test_both_doors_retry_then_dead_letter_and_list_it(stack: Stack) -> None:
    nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
    try:
        js = nc.jetstream()
        await js.publish("playledger.cmd.submit.normal.by-nats", command("by-nats", retry=RETRY))
    finally:
        await nc.close()
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        submitted = client.post("/api/v1/jobs", json=body("by-http", retry=RETRY))
        assert submitted.status_code == 202, submitted.text
        plain = client.post("/api/v1/jobs", json=body("no-retry"))
        assert plain.status_code == 202, plain.text
        for job_id in ("by-http", "by-nats"):
            check_dead(complete_job(client, job_id), 2)
        once = complete_job(client, "no-retry")
        assert (once["status"], once["attempt"], once["max_attempts"], once["dead_letter"]) == (
            "failed",
            1,
            3,  # the default policy: 3 attempts, for infrastructure failures only
            False,
        )
        events = client.get("/api/v1/jobs/by-http/events", params={"limit": 1000}).json()["items"]
        assert [e["event"] for e in events if e["event"].startswith("job.")] == [
            "job.queued",
            "job.started",
            "job.retry_scheduled",
            "job.started",
            "job.dead",
        ]
        assert {e["attempt"] for e in events if e["event"].startswith("runner_")} == {1, 2}
        dead = client.get("/api/v1/jobs", params={"dead_letter": "true"}).json()["items"]
        assert {j["id"] for j in dead} == {"by-http", "by-nats"}
        assert {j["id"] for j in client.get("/api/v1/jobs", params={"status": "dead"}).json()["items"]} == {
            "by-http",
            "by-nats",
        }
        alive = client.get("/api/v1/jobs", params={"dead_letter": "false"}).json()["items"]
        assert [j["id"] for j in alive] == ["no-retry"]

        # POST /retry starts a dead job again as a new attempt; any other job is a 409
        refused = client.post("/api/v1/jobs/no-retry/retry")
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == "job 'no-retry' is failed; only a dead job can be retried"
        assert client.post("/api/v1/jobs/nobody/retry").status_code == 404
        retried = client.post("/api/v1/jobs/by-http/retry")
        assert retried.status_code == 202, retried.text
        assert (retried.json()["id"], retried.json()["attempt"]) == ("by-http", 3)
        again = wait_for(client, "by-http", lambda job: job["attempt"] == 3 and job["complete"])
        assert again["status"] == "dead"  # the playbook still fails: dead again, after one more attempt
        assert [a["attempt"] for a in again["attempts"]] == [1, 2, 3]
        kinds = [
            e["event"]
            for e in client.get("/api/v1/jobs/by-http/events", params={"limit": 1000}).json()["items"]
            if e["event"].startswith("job.")
        ]
        assert kinds[-3:] == ["job.retry_requested", "job.started", "job.dead"]

    # the NATS door: job.retry.v1 on the job's submit subject
    nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
    try:
        retry = {"type": "job.retry.v1", "job_id": "by-nats", "priority": "normal"}
        await nc.jetstream().publish(
            "playledger.cmd.submit.normal.by-nats",
            json.dumps(retry).encode(),
            headers={"Nats-Msg-Id": "retry:by-nats:2"},
        )
    finally:
        await nc.close()
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        again = wait_for(client, "by-nats", lambda job: job["attempt"] == 3 and job["complete"])
        assert (again["status"], len(again["attempts"])) == ("dead", 3)

    # playledger stats: the read models' counts, dead jobs among them
    env = {**os.environ, "PLAYLEDGER_API_KEY": (stack.work / "admin-key").read_text().strip()}
    cli = [sys.executable, "-m", "playledger_cli", "stats", "--api-url", stack.url, "--group-by", "status"]
    as_json = subprocess.run(
        [*cli, "-o", "json"], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    counted = json.loads(as_json.stdout)
    assert counted["totals"]["by_status"] == {"dead": 2, "failed": 1}
    assert counted["totals"]["success_rate"] == 0.0
    assert counted["totals"]["duration_s"]["p50"] > 0
    assert {g["key"]: g["jobs"] for g in counted["groups"]} == {"dead": 2, "failed": 1}
    table = subprocess.run(cli, env=env, capture_output=True, text=True, check=True, timeout=60).stdout
    assert "dead" in table
    assert "wait p95" in table


async def test_a_bad_retry_policy_is_refused_alike_at_both_doors(stack: Stack) -> None:
    bad = {"max_attempts": 2, "backoff_s": 10, "backoff_max_s": 1}
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        refused = client.post("/api/v1/jobs", json=body("bad-http", retry=bad))
        assert refused.status_code == 422, refused.text
        problems = refused.json()["errors"]
        assert {"path": "$.retry.backoff_max_s", "message": "must be >= retry.backoff_s"} in problems
        too_many = client.post("/api/v1/jobs", json=body("many-http", retry={"max_attempts": 5}))
        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["errors"][0]["path"] == "$.retry.max_attempts"
        unknown = client.post("/api/v1/jobs", json=body("typo-http", retry={"max_attempt": 2}))
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["errors"][0]["path"] == "$.retry.max_attempt"

        nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
        try:
            js = nc.jetstream()
            for job_id, retry in (("bad-nats", bad), ("many-nats", {"max_attempts": 5})):
                await js.publish(f"playledger.cmd.submit.normal.{job_id}", command(job_id, retry=retry))
        finally:
            await nc.close()
        rejected = complete_job(client, "bad-nats")
        assert rejected["status"] == "rejected"
        assert {"path": "$.spec.retry.backoff_max_s", "message": "must be >= retry.backoff_s"} in rejected[
            "rejection_errors"
        ]
        many = complete_job(client, "many-nats")
        assert many["status"] == "rejected"
        assert many["rejection_errors"][0]["path"] == "$.spec.retry.max_attempts"
        assert many["rejection_errors"][0]["message"] == too_many.json()["errors"][0]["message"]


async def test_run_at_over_http_is_scheduled_survives_an_api_restart_and_runs_once(stack: Stack) -> None:
    run_at = datetime.now(UTC) + timedelta(seconds=3)
    job = {**body("later"), "source": {"type": "local", "path": "ok.yml"}, "run_at": run_at.isoformat()}
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        submitted = client.post("/api/v1/jobs", json=job)
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["status"] == "scheduled"
        shown = wait_for(client, "later", lambda j: j.get("status") == "scheduled")
        assert datetime.fromisoformat(shown["run_at"]) == run_at
    stack.kill_api()
    stack.start_api()
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        done = complete_job(client, "later")
        assert done["status"] == "successful"
        assert run_at <= datetime.fromisoformat(done["started_at"]) <= run_at + timedelta(seconds=1.5)
        events = client.get("/api/v1/jobs/later/events", params={"limit": 1000}).json()["items"]
        assert [e["event"] for e in events].count("job.started") == 1


async def test_a_bad_run_at_is_refused_alike_at_both_doors(stack: Stack) -> None:
    far = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        naive = client.post("/api/v1/jobs", json=body("naive-http", run_at="2030-01-01T00:00:00"))
        assert naive.status_code == 422, naive.text
        assert naive.json()["errors"][0]["path"] == "$.run_at"
        too_far = client.post("/api/v1/jobs", json=body("far-http", run_at=far))
        assert too_far.status_code == 422, too_far.text
        assert too_far.json()["errors"] == [
            {
                "path": "$.run_at",
                "message": "must be at most 604800 seconds ahead (this installation's commands_max_age_s)",
            }
        ]
        nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
        try:
            js = nc.jetstream()
            for job_id, run_at in (("naive-nats", "2030-01-01T00:00:00"), ("far-nats", far)):
                payload = json.loads(command(job_id))
                payload["run_at"] = run_at
                await js.publish(f"playledger.cmd.submit.normal.{job_id}", json.dumps(payload).encode())
        finally:
            await nc.close()
        naive_nats = complete_job(client, "naive-nats")
        assert naive_nats["status"] == "rejected"
        assert naive_nats["rejection_errors"][0]["path"] == "$.run_at"
        assert naive_nats["rejection_errors"][0]["message"] == naive.json()["errors"][0]["message"]
        far_nats = complete_job(client, "far-nats")
        assert far_nats["rejection_errors"] == too_far.json()["errors"]


async def test_depends_on_over_http_waits_and_an_unknown_id_is_refused_alike_at_both_doors(
    stack: Stack,
) -> None:
    ok = {"type": "local", "path": "ok.yml"}
    words = "no job 'nobody': a job may depend only on jobs submitted before it"
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        first = client.post("/api/v1/jobs", json={**body("dep-a"), "source": ok})
        then = client.post("/api/v1/jobs", json={**body("dep-b"), "source": ok, "depends_on": ["dep-a"]})
        assert (first.status_code, then.status_code) == (202, 202), then.text
        done = complete_job(client, "dep-b")
        assert (done["status"], done["depends_on"]) == ("successful", ["dep-a"])
        assert done["started_at"] > complete_job(client, "dep-a")["finished_at"]

        refused = client.post("/api/v1/jobs", json={**body("dep-x"), "depends_on": ["dep-a", "nobody"]})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{"path": "$.depends_on[1]", "message": words}]
        nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
        try:
            await nc.jetstream().publish(
                "playledger.cmd.submit.normal.dep-y", command("dep-y", depends_on=["dep-a", "nobody"])
            )
        finally:
            await nc.close()
        rejected = complete_job(client, "dep-y")
        assert rejected["rejection_errors"] == refused.json()["errors"]
