"""The stream holds exactly the events ansible-runner produces when driven directly."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import InlineInventory
from playledger_schemas.events import JobFailed, JobQueued, JobStarted, RunnerEvent
from tests.executor.support import PLAYBOOKS, job_events, running_executor, spec, submit, wait_terminal

pytestmark = pytest.mark.integration

SECRET = "hunter2-not-for-logs"
PYTHON = sys.executable
LOCAL_HOST = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}
DEAD_HOST = {
    "ansible_connection": "ssh",
    "ansible_host": "127.0.0.1",
    "ansible_port": 1,
    "ansible_user": "nobody",
}

INVENTORY = InlineInventory(
    hosts=["deadhost"],
    groups={"web": ["web1", "web2"]},
    host_vars={"web1": LOCAL_HOST, "web2": LOCAL_HOST, "deadhost": DEAD_HOST},
    vars={"site": "fidelity"},
)

# The same inventory, written by hand in ansible's YAML shape for the direct run.
DIRECT_INVENTORY = {
    "all": {
        "vars": {"site": "fidelity"},
        "hosts": {"deadhost": DEAD_HOST},
        "children": {"web": {"hosts": {"web1": LOCAL_HOST, "web2": LOCAL_HOST}}},
    }
}


async def run_directly(tmp: Path) -> list[dict[str, Any]]:
    """``ansible-runner run`` on the CLI, events read back from its job_events artifacts."""
    private = tmp / "direct"
    (private / "project").mkdir(parents=True)
    (private / "inventory").mkdir()
    (private / "env").mkdir()
    shutil.copy(PLAYBOOKS / "fidelity.yml", private / "project" / "fidelity.yml")
    (private / "inventory" / "hosts.json").write_text(json.dumps(DIRECT_INVENTORY))
    (private / "env" / "extravars").write_text(json.dumps({"secret_value": SECRET}))
    bin_dir = Path(PYTHON).parent
    process = await asyncio.create_subprocess_exec(
        str(bin_dir / "ansible-runner"),
        "run",
        str(private),
        "-p",
        "fidelity.yml",
        "--ident",
        "direct",
        "--forks",
        "1",
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp / "home"),
            "LANG": "C.UTF-8",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await process.wait()
    files = (private / "artifacts" / "direct" / "job_events").glob("*.json")
    events = [json.loads(f.read_text()) for f in files]
    return sorted(events, key=lambda e: e["counter"])


def shape(event: str, counter: int, data: dict[str, Any]) -> tuple[Any, ...]:
    return (counter, event, data.get("play"), data.get("task"), data.get("host"), data.get("ignore_errors"))


async def test_same_events_as_ansible_runner_driven_directly(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    direct = await run_directly(tmp_path)
    async with running_executor(settings):
        await submit(
            js,
            "fidelity",
            spec("fidelity.yml", inventory=INVENTORY, extra_vars={"secret_value": SECRET}, forks=1),
        )
        done = await wait_terminal(js, "fidelity", limit_s=90)
    events = await job_events(js, "fidelity")
    runner = [e for e in events if isinstance(e, RunnerEvent)]

    # exactly the same events, in the same order, with gap-free counters
    expected = [shape(e["event"], e["counter"], e.get("event_data", {})) for e in direct]
    got = [shape(e.data.event, e.data.counter, e.data.event_data) for e in runner]
    assert got == expected
    assert [e.data.counter for e in runner] == list(range(1, len(runner) + 1))
    assert [type(e) for e in events[:2]] == [JobQueued, JobStarted]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].seq == done.seq

    # the playbook really exercised every case the issue lists
    names = [e.data.event for e in runner]
    assert names.count("playbook_on_play_start") == 2
    assert names.count("runner_item_on_ok") == 6  # 3 items x 2 hosts
    assert "runner_on_skipped" in names
    (unreachable,) = [e for e in runner if e.data.event == "runner_on_unreachable"]
    assert unreachable.data.event_data["host"] == "deadhost"
    (ignored,) = [e for e in runner if e.data.event == "runner_on_failed"]
    assert (ignored.data.event_data["host"], ignored.data.event_data["ignore_errors"]) == ("web2", True)
    secret_results = [
        e for e in runner if e.data.event == "runner_on_ok" and e.data.event_data.get("task") == "secret task"
    ]
    assert len(secret_results) == 2
    for event in secret_results:
        assert set(event.data.event_data["res"]) == {"censored"}
    for event in runner:
        assert SECRET not in json.dumps(event.data.event_data) + event.data.stdout

    # host stats and status come through to the terminal event
    assert isinstance(done, JobFailed)  # an unreachable host fails the run (rc 4)
    assert done.data.rc == 4
    assert done.data.stats["dark"] == {"deadhost": 1}
    assert done.data.stats["ignored"] == {"web2": 1}
    assert done.data.runner_events == len(runner) == len(direct)
