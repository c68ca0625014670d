"""No orphans (issue 11, defects 5 and 6): the runner worker dies with its executor, the next
executor on the host sweeps what was left, and SIGTERM while NATS is down exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_cli.embedded import NatsServer
from playledger_common.settings import ExecutorSettings
from playledger_executor.workspace import PREFIX
from playledger_schemas.commands import RetryPolicy
from playledger_schemas.events import JobError
from tests.executor.support import (
    processes_with,
    running_executor,
    spawn_executor,
    spec,
    stop_process,
    submit,
    wait_process,
    wait_runner_event,
    wait_terminal,
)
from tests.executor.test_processes import env_of, wait_ready

pytestmark = pytest.mark.integration


async def wait_gone(marker: str, limit_s: float = 15.0) -> None:
    deadline = time.monotonic() + limit_s
    while processes_with(marker):
        assert time.monotonic() < deadline, f"{marker!r} still runs: {processes_with(marker)}"
        await asyncio.sleep(0.1)


async def test_kill_9_of_the_executor_leaves_no_worker_and_the_next_one_sweeps(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    marker = f"91.{os.getpid()}{int(time.time()) % 1000}"
    log = tmp_path / "victim.log"
    victim = spawn_executor(env_of(settings, executor_id="victim", ack_wait_s="2"), log)
    try:
        await wait_ready(log)
        await submit(
            js, "orphan", spec("sleep.yml", retry=RetryPolicy(max_attempts=1), extra_vars={"sleep_s": marker})
        )
        await wait_runner_event(js, "orphan", "runner_on_start")
        await wait_process(f"sleep {marker}")
        assert settings.work_dir is not None
        workspaces = list(settings.work_dir.glob(f"{PREFIX}*"))
        assert len(workspaces) == 1
        assert processes_with(f"--private-data-dir {workspaces[0]}")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        await wait_gone(f"--private-data-dir {workspaces[0]}")  # PR_SET_PDEATHSIG
        async with running_executor(msgspec.structs.replace(settings, executor_id="rescuer")):
            assert not processes_with(f"sleep {marker}")  # swept before the rescuer was ready
            assert not workspaces[0].exists()
            assert len(list(settings.work_dir.glob(f"{PREFIX}*"))) == 1  # the rescuer's own
            done = await wait_terminal(js, "orphan", limit_s=30)
        assert isinstance(done, JobError)
        assert done.data.reason == "executor lost"
        assert not list(settings.work_dir.glob(f"{PREFIX}*"))  # released on a clean exit
    finally:
        stop_process(victim, signal.SIGKILL)
        for pid in processes_with(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)


async def test_sigterm_while_nats_is_down_exits_cleanly(
    js: JetStreamContext, nats_server: NatsServer, settings: ExecutorSettings, tmp_path: Path
) -> None:
    log = tmp_path / "executor.log"
    process = spawn_executor(env_of(settings, executor_id="calm"), log)
    try:
        await wait_ready(log)
        nats_server.kill()
        await asyncio.sleep(1.0)
        rc = stop_process(process, signal.SIGTERM, limit_s=40)
    finally:
        stop_process(process, signal.SIGKILL)
        nats_server.start()
    text = log.read_text()
    assert rc == 0, text
    assert "Traceback" not in text, text
