"""The HTTP door for git sources and inventories: the API, projector and executor as real
processes; the job status shows the commit and playbook hash that ran and the resolved hosts."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sources.gitrepos import GitRepo
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAY = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n        msg: hi\n"
LOCAL_VARS = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = {"PLAYLEDGER_WORK_DIR": str(tmp_path / "jobs"), "PLAYLEDGER_SOURCE_ALLOW_FILE": "true"}
    with running_stack(nats_url, database_url, tmp_path, {}, settings=settings) as stack:
        yield stack


def test_git_playbook_with_a_git_inventory_over_http(stack: Stack, repos: Path) -> None:
    repo = GitRepo(repos / "door.git")
    inventory = {"all": {"hosts": {"h1": LOCAL_VARS, "h2": LOCAL_VARS}}}
    sha = repo.commit({"ops/site.yml": PLAY, "inv/hosts.json": json.dumps(inventory)})
    body = {
        "source": {"type": "playbook", "repo": repo.url, "branch": "main", "path": "ops/site.yml"},
        "inventory": {"type": "git", "repo": repo.url, "path": "inv/hosts.json"},
        "options": {"gather_facts": False},
    }
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        submitted = client.post("/api/v1/jobs", json=body)
        assert submitted.status_code == 202, submitted.text
        job = complete_job(client, submitted.json()["id"])
        assert job["status"] == "successful", job
        assert job["source"] == {
            **body["source"],
            "commit": sha,
            "playbook_sha256": hashlib.sha256(PLAY.encode()).hexdigest(),
        }
        assert job["inventory"]["type"] == "git"
        assert job["inventory"]["hosts"] == 2
        assert job["inventory"]["commit"] == sha
        assert job["options"]["gather_facts"] is False
        assert job["progress"]["hosts_total"] == 2

        # An unknown ref is the job's precise error, visible over HTTP.
        bad = client.post("/api/v1/jobs", json={**body, "source": {**body["source"], "branch": "nope"}})
        failed = complete_job(client, bad.json()["id"])
        assert failed["status"] == "error"
        assert failed["failure_reason"].startswith("ref 'nope' is not a branch, tag or commit of file://")
