"""Job templates and recurring schedules through both doors (HTTP and ``job.launch.v1``), with the
API, executors and projector as processes (real nats-server, PostgreSQL, ansible-runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from playledger_common.bus import connect
from tests.api.test_retries_run_at import INVENTORY, OK
from tests.processes import service
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration]

TEMPLATE: dict[str, Any] = {
    "description": "say hello",
    "spec": {
        "source": {"type": "local", "path": "ok.yml"},
        "inventory": INVENTORY,
        "extra_vars": {"who": "world"},
    },
    "allow_override": ["limit", "extra_vars.version"],
}
REFUSED = "not allowed by the template (it allows: limit, extra_vars.version)"


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(nats_url, database_url, tmp_path, {"ok.yml": OK}) as stack:
        yield stack


async def publish_launch(stack: Stack, job_id: str, **fields: Any) -> None:
    nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
    try:
        launch = {"type": "job.launch.v1", "job_id": job_id, **fields}
        await nc.jetstream().publish(f"playledger.cmd.launch.{job_id}", json.dumps(launch).encode())
    finally:
        await nc.close()


async def launches_stored(stack: Stack) -> dict[str, int]:
    """How many ``job.launch.v1`` the commands stream stored, per subject."""
    nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
    try:
        js = nc.jetstream()
        info = await js.stream_info("PLAYLEDGER_COMMANDS", subjects_filter="playledger.cmd.launch.>")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def wait_jobs(client: httpx.Client, template: str, count: int, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while len(template_jobs(client, template)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} jobs of {template} in {limit_s}s"
        time.sleep(0.5)


def cli(stack: Stack, *args: str) -> str:
    env = {**os.environ, "PLAYLEDGER_API_KEY": (stack.work / "admin-key").read_text().strip()}
    command = [sys.executable, "-m", "playledger_cli", *args, "--api-url", stack.url]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=60).stdout


def template_jobs(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    page = client.get("/api/v1/jobs", params={"template": name, "limit": 200})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def test_templates_crud_and_launch_through_both_doors(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        created = client.put("/api/v1/templates/greet", json=TEMPLATE)
        assert created.status_code == 201, created.text
        v1 = created.json()["version"]
        assert created.json()["links"]["launch"] == "/api/v1/templates/greet/launch"
        shown = client.get("/api/v1/templates/greet").json()
        assert (shown["version"], shown["allow_override"]) == (v1, ["limit", "extra_vars.version"])
        assert [t["name"] for t in client.get("/api/v1/templates").json()["items"]] == ["greet"]
        typo = client.put("/api/v1/templates/typo", json={**TEMPLATE, "allow_overide": []})
        assert typo.status_code == 422, typo.text
        assert typo.json()["errors"][0]["path"] == "$.allow_overide"
        bad_field = client.put("/api/v1/templates/bad", json={**TEMPLATE, "allow_override": ["source"]})
        assert bad_field.status_code == 422, bad_field.text
        assert bad_field.json()["errors"][0]["path"] == "$.allow_override[0]"

        # allowed overrides: a job, recorded with the template and its version
        launched = client.post(
            "/api/v1/templates/greet/launch",
            json={"id": "l-http", "overrides": {"limit": "localhost", "extra_vars": {"version": "2"}}},
        )
        assert launched.status_code == 202, launched.text
        assert launched.headers["location"] == "/api/v1/jobs/l-http"
        await publish_launch(stack, "l-nats", template="greet", overrides={"extra_vars": {"version": "3"}})
        for job_id in ("l-http", "l-nats"):
            job = complete_job(client, job_id)
            assert (job["status"], job["template"]) == ("successful", {"name": "greet", "version": v1}), job
        assert complete_job(client, "l-http")["options"]["limit"] == "localhost"

        # an override the template does not allow: refused alike at both doors
        refused = client.post(
            "/api/v1/templates/greet/launch", json={"id": "bad-http", "overrides": {"tags": ["x"]}}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{"path": "$.overrides.tags", "message": REFUSED}]
        other_var = client.post(
            "/api/v1/templates/greet/launch", json={"overrides": {"extra_vars": {"who": "me"}}}
        )
        assert other_var.json()["errors"] == [{"path": "$.overrides.extra_vars.who", "message": REFUSED}]
        await publish_launch(stack, "bad-nats", template="greet", overrides={"tags": ["x"]})
        rejected = complete_job(client, "bad-nats")
        assert rejected["status"] == "rejected"
        assert rejected["failure_reason"] == f"$.overrides.tags: {REFUSED}"
        assert rejected["rejection_errors"] == [{"path": "$.overrides.tags", "message": REFUSED}]
        # a template that does not exist: 404 / rejected, in the same words
        missing = client.post("/api/v1/templates/nope/launch", json={})
        assert (missing.status_code, missing.json()["detail"]) == (404, "no template named 'nope'")
        await publish_launch(stack, "nope-nats", template="nope")
        assert complete_job(client, "nope-nats")["failure_reason"] == "$.template: no template named 'nope'"

        # a vars_schema checks the variables a launch ends with, alike at both doors
        surveyed = {**TEMPLATE, "vars_schema": {"properties": {"version": {"pattern": "^[0-9.]+$"}}}}
        assert client.put("/api/v1/templates/survey", json=surveyed).status_code == 201
        wrong = {"version": "latest"}
        bad_var = client.post("/api/v1/templates/survey/launch", json={"overrides": {"extra_vars": wrong}})
        mismatch = {
            "path": "$.overrides.extra_vars.version",
            "message": "'latest' does not match '^[0-9.]+$'",
        }
        assert (bad_var.status_code, bad_var.json()["errors"]) == (422, [mismatch])
        await publish_launch(stack, "survey-nats", template="survey", overrides={"extra_vars": wrong})
        assert complete_job(client, "survey-nats")["rejection_errors"] == [mismatch]
        broken = client.put("/api/v1/templates/broken", json={**TEMPLATE, "vars_schema": {"type": 5}})
        assert (broken.status_code, broken.json()["errors"][0]["path"]) == (422, "$.vars_schema")

        # an edit is a new version; a later launch records it, earlier jobs keep theirs
        edited = client.put("/api/v1/templates/greet", json={**TEMPLATE, "description": "v2"})
        assert edited.status_code == 200, edited.text
        v2 = edited.json()["version"]
        assert v2 > v1
        assert client.post("/api/v1/templates/greet/launch", json={"id": "l-v2"}).status_code == 202
        assert complete_job(client, "l-v2")["template"] == {"name": "greet", "version": v2}
        assert complete_job(client, "l-http")["template"]["version"] == v1
        assert {j["id"] for j in template_jobs(client, "greet")} == {"l-http", "l-nats", "l-v2"}
        assert all(j["template"] == "greet" for j in template_jobs(client, "greet"))
        # launching a known id again never runs it twice
        again = client.post("/api/v1/templates/greet/launch", json={"id": "l-v2"})
        assert (again.status_code, again.json()["duplicate"]) == (202, True)

        assert client.delete("/api/v1/templates/greet").status_code == 204
        assert client.get("/api/v1/templates/greet").status_code == 404
        assert client.delete("/api/v1/templates/greet").status_code == 404
        assert complete_job(client, "l-v2")["template"] == {"name": "greet", "version": v2}


async def test_a_schedule_fires_once_per_firing_across_two_executors_and_a_restart(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        assert client.put("/api/v1/templates/tick", json=TEMPLATE).status_code == 201
        for wrong, path in (
            ({"template": "tick", "cron": "61 * * * *"}, "$.cron"),
            ({"template": "tick", "cron": "* * * * *", "every_s": 2}, "$.cron"),
            ({"template": "tick", "every_s": 2, "timezone": "Mars/Olympus"}, "$.timezone"),
            ({"template": "none", "every_s": 2}, "$.template"),
            ({"template": "tick", "every_s": 2, "overrides": {"tags": ["x"]}}, "$.overrides.tags"),
        ):
            refused = client.put("/api/v1/schedules/wrong", json=wrong)
            assert refused.status_code == 422, (wrong, refused.text)
            assert refused.json()["errors"][0]["path"] == path, refused.text
        cron = client.put("/api/v1/schedules/nightly", json={"template": "tick", "cron": "0 3 * * *"})
        assert cron.status_code == 201, cron.text
        assert cron.json()["next_run"].endswith("T03:00:00Z")

        with service("executor", stack.env, stack.work / "executor-2.log"):  # a second scheduler
            made = client.put(
                "/api/v1/schedules/every2",
                json={"template": "tick", "every_s": 2, "overrides": {"limit": "localhost"}},
            )
            assert made.status_code == 201, made.text
            assert made.json()["next_run"] is not None
            wait_jobs(client, "tick", 2)
        with service("executor", stack.env, stack.work / "executor-3.log"):  # a scheduler restarted
            wait_jobs(client, "tick", 4)
        paused = client.put(
            "/api/v1/schedules/every2", json={"template": "tick", "every_s": 2, "enabled": False}
        )
        assert (paused.status_code, paused.json()["next_run"]) == (200, None)
        time.sleep(3)  # let a launch published just before the pause become a job
        jobs = template_jobs(client, "tick")
        assert len(jobs) >= 4
        for job in jobs:
            assert job["id"].startswith("every2-")
            fired = datetime.strptime(job["id"].removeprefix("every2-"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            assert fired.second % 2 == 0
            assert complete_job(client, job["id"])["status"] == "successful"
        # two schedulers published each firing: JetStream stored one launch per firing
        stored = await launches_stored(stack)
        assert stored == {f"playledger.cmd.launch.{j['id']}": 1 for j in jobs}, stored
        time.sleep(3)
        assert len(template_jobs(client, "tick")) == len(jobs)  # paused: nothing more fires

        assert [s["name"] for s in client.get("/api/v1/schedules").json()["items"]] == ["every2", "nightly"]
        listed = json.loads(cli(stack, "schedules", "list", "-o", "json"))
        assert [(s["name"], s["enabled"]) for s in listed] == [("every2", False), ("nightly", True)]
        assert "resumed" in cli(stack, "schedules", "resume", "every2")
        assert client.get("/api/v1/schedules/every2").json()["next_run"] is not None
        assert "job cli-1 queued" in cli(
            stack, "templates", "launch", "tick", "--id", "cli-1", "--limit", "localhost"
        )
        assert complete_job(client, "cli-1")["template"]["name"] == "tick"
        assert client.delete("/api/v1/schedules/every2").status_code == 204
        assert client.get("/api/v1/schedules/every2").status_code == 404
