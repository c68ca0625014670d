"""Stored inventories through both doors (HTTP submits and ``job.submit.v1`` on NATS), with the
API, projector and executor as processes: an inventory edited between jobs, each job's events
showing the version and the hosts it really used, and the same refusals at both doors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playledger_common.jobchecks import SET_WHEN_QUEUED
from tests.sources.support import publish_submit
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration]

PLAY = """- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "ran on {{ inventory_hostname }}"
"""
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
NOPE = "no stored inventory named 'nope'"


def inline(*hosts: str) -> dict[str, Any]:
    return {"type": "inline", "hosts": list(hosts), "vars": LOCAL}


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(nats_url, database_url, tmp_path, {"site.yml": PLAY}) as stack:
        yield stack


def cli(stack: Stack, *args: str) -> str:
    env = {**os.environ, "PLAYLEDGER_API_KEY": (stack.work / "admin-key").read_text().strip()}
    command = [sys.executable, "-m", "playledger_cli", *args, "--api-url", stack.url]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=60).stdout


async def publish_submits(stack: Stack, inventory: dict[str, Any], *job_ids: str) -> None:
    """``job.submit.v1`` straight on NATS, as a bus client would publish it."""
    for job_id in job_ids:
        await publish_submit(
            stack, job_id, {"source": {"type": "local", "path": "site.yml"}, "inventory": inventory}
        )


def submit_http(client: httpx.Client, job_id: str, inventory: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/api/v1/jobs",
        json={"id": job_id, "source": {"type": "local", "path": "site.yml"}, "inventory": inventory},
    )


def used(client: httpx.Client, job_id: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """A finished job's ``stored`` record, the hosts its ``job.queued`` resolved and its
    ``job.started`` listed (and the status document agrees on the stored version)."""
    job = complete_job(client, job_id)
    assert job["status"] == "successful", job
    events = {e["event"]: e["data"] for e in client.get(f"/api/v1/jobs/{job_id}/events").json()["items"]}
    pinned = events["job.queued"]["spec"]["inventory"]
    assert events["job.started"]["spec"]["inventory"] == pinned
    assert job["inventory"]["stored"] == {"name": pinned["name"], "version": pinned["version"]}
    assert job["inventory"]["hosts"] == len(events["job.started"]["hosts"])
    return job["inventory"]["stored"], pinned["resolved"]["hosts"], events["job.started"]["hosts"]


async def test_a_stored_inventory_edited_between_jobs_at_both_doors(stack: Stack) -> None:
    stored = {"type": "stored", "name": "prod"}
    first = stack.work / "prod.json"
    first.write_text(json.dumps({"description": "production", "inventory": inline("alpha", "beta")}))
    assert cli(stack, "inventories", "create", "prod", str(first)).startswith("inventory prod version ")
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        v1 = client.get("/api/v1/inventories/prod").json()["version"]
        taken = client.post("/api/v1/inventories/prod", json={"inventory": inline("x")})
        assert taken.status_code == 409, taken.text
        assert submit_http(client, "h1", stored).status_code == 202
        await publish_submits(stack, stored, "n1")
        for job_id in ("h1", "n1"):
            assert used(client, job_id) == (
                {"name": "prod", "version": v1},
                ["alpha", "beta"],
                ["alpha", "beta"],
            )

        edited = client.put("/api/v1/inventories/prod", json={"inventory": inline("gamma")})
        assert edited.status_code == 200, edited.text
        v2 = edited.json()["version"]
        assert v2 > v1
        assert submit_http(client, "h2", stored).status_code == 202
        await publish_submits(stack, stored, "n2")
        for job_id in ("h2", "n2"):
            assert used(client, job_id) == ({"name": "prod", "version": v2}, ["gamma"], ["gamma"])
            log = client.get(f"/api/v1/jobs/{job_id}/logs").text
            assert "ran on gamma" in log
            assert "alpha" not in log
        assert used(client, "h1")[0]["version"] == v1  # earlier jobs keep what they used

        # Every change is kept: both versions, then the delete.
        assert client.delete("/api/v1/inventories/prod").status_code == 204
        history = client.get("/api/v1/inventories/prod/history").json()["revisions"]
        assert [(r["version"], r["deleted"]) for r in history] == [
            (v1, False),
            (v2, False),
            (history[2]["version"], True),
        ]
        assert [r["inventory"]["hosts"] for r in history[:2]] == [["alpha", "beta"], ["gamma"]]
        assert "prod" not in cli(stack, "inventories", "list")

        # An unknown name, and a resolution a client tries to supply: refused alike at both doors.
        for name, inventory, path, message in (
            ("nope", {"type": "stored", "name": "nope"}, "inventory.name", NOPE),
            (
                "prod",
                {"type": "stored", "name": "prod"},
                "inventory.name",
                "no stored inventory named 'prod'",
            ),
            (
                "forged",
                {**stored, "version": 1, "resolved": inline("evil")},
                "inventory.version",
                SET_WHEN_QUEUED,
            ),
        ):
            refused = submit_http(client, f"{name}-http", inventory)
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0] == {"path": f"$.{path}", "message": message}
            await publish_submits(stack, inventory, f"{name}-nats")
            rejected = complete_job(client, f"{name}-nats")
            assert rejected["status"] == "rejected"
            assert rejected["rejection_errors"][0] == {"path": f"$.spec.{path}", "message": message}
