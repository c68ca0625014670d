"""``GET /logs`` equals the ``stdout`` file ansible-runner writes: checked against real runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from playledger_common.logtext import log_piece
from playledger_schemas.events import RunnerEventData
from tests.api.conftest import insert_job
from tests.api.runner_run import RunnerRun, run_playbook

pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: Logs
  hosts: all
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.debug:
        msg: "hello {{ inventory_hostname }}"
    - name: change something
      ansible.builtin.command: echo changed
    - name: skipped
      ansible.builtin.debug:
        msg: never
      when: false
    - name: fail on web1
      ansible.builtin.fail:
        msg: boom
      when: inventory_hostname == 'web1'
      ignore_errors: true
"""

BROKEN = """
- hosts: all
  tasks:
    - ansible.builtin.debug: msg=hi
      bogus_keyword: 1
"""


async def project(db: asyncpg.Connection[asyncpg.Record], job_id: str, run: RunnerRun) -> None:
    """Write the run's events into job_events the way the projector does (data = the event as published)."""
    await insert_job(db, job_id, status="successful")
    for offset, raw in enumerate(run.events):
        data = msgspec.convert(raw, RunnerEventData)  # what the executor publishes
        await db.execute(
            "INSERT INTO job_events (job_id, seq, stream_seq, type, event, attempt, counter, time, stdout, data) "
            "VALUES ($1, $2, $3, 'runner.event.v1', $4, 1, $5, $6, $7, $8)",
            job_id,
            offset + 3,
            1000 + offset,
            data.event,
            data.counter,
            datetime.now(UTC),
            data.stdout,
            msgspec.to_builtins(data),
        )


@pytest.mark.parametrize(
    ("playbook", "verbosity"), [(PLAYBOOK, 0), (BROKEN, 0)], ids=["playbook", "parse-error"]
)
async def test_logs_equal_the_runner_stdout_artifact(
    client: AsyncTestClient[Any],
    db: asyncpg.Connection[asyncpg.Record],
    tmp_path: Path,
    playbook: str,
    verbosity: int,
) -> None:
    run = await run_playbook(tmp_path / "pdd", "site.yml", playbook, verbosity)
    assert run.stdout  # the runner wrote its artifact
    assert len(run.events) > 3
    if playbook is BROKEN:  # printed before any callback: synthetic verbose events, raw lines in the file
        assert all(e["event"] == "verbose" and "pid" not in e for e in run.events)
    else:
        assert {"runner_on_ok", "runner_on_skipped", "runner_on_failed", "playbook_on_stats"} <= {
            e["event"] for e in run.events
        }

    # the rule itself, on runner's own event dicts
    assert "".join(log_piece(e["event"], e["stdout"], e) for e in run.events) == run.stdout

    job_id = f"logs-{uuid.uuid4().hex[:8]}"
    await project(db, job_id, run)
    response = await client.get(f"/api/v1/jobs/{job_id}/logs")
    assert response.status_code == 200
    assert response.text == run.stdout
