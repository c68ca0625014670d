"""Helpers for the executor tests: publish commands, read a job's events, run executors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Final

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from playledger_common.bus import connect
from playledger_common.settings import ExecutorSettings
from playledger_executor.service import Executor
from playledger_schemas.codec import decode_event, encode
from playledger_schemas.commands import (
    CancelJob,
    InlineInventory,
    JobOptions,
    JobSpec,
    LocalSource,
    RetryPolicy,
    SubmitJob,
)
from playledger_schemas.events import CommandRejected, JobEvent, is_terminal
from playledger_schemas.ids import Priority
from playledger_schemas.subjects import (
    EVENTS_STREAM,
    cancel_subject,
    job_events_filter,
    rejected_subject,
    submit_subject,
)

PLAYBOOKS = Path(__file__).parent / "playbooks"
REPO = Path(__file__).resolve().parents[2]

LOCAL = InlineInventory(
    hosts=["localhost"],
    vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
)


def spec(
    playbook: str,
    inventory: InlineInventory = LOCAL,
    priority: Priority = "normal",
    retry: RetryPolicy | None = None,
    **kw: Any,
) -> JobSpec:
    extra_vars = kw.pop("extra_vars", {})
    return JobSpec(
        priority=priority,
        source=LocalSource(path=playbook),
        inventory=inventory,
        extra_vars=extra_vars,
        options=JobOptions(**kw),
        retry=retry,
    )


async def submit(js: JetStreamContext, job_id: str, job_spec: JobSpec) -> int:
    command = SubmitJob(job_id=job_id, spec=job_spec)
    ack = await js.publish(
        submit_subject(job_spec.priority, job_id),
        encode(command),
        headers={"Nats-Msg-Id": f"submit:{job_id}"},
    )
    return ack.seq


async def cancel(js: JetStreamContext, job_id: str, reason: str = "test cancel") -> int:
    ack = await js.publish(cancel_subject(job_id), encode(CancelJob(job_id=job_id, reason=reason)))
    return ack.seq


async def job_events(js: JetStreamContext, job_id: str) -> list[JobEvent]:
    """Every event of a job in stream order."""
    events: list[JobEvent] = []
    seq = 1
    while True:
        try:
            raw = await js._jsm.get_msg(EVENTS_STREAM, seq, subject=job_events_filter(job_id), next=True)
        except NotFoundError:
            return events
        assert raw.data is not None
        events.append(decode_event(raw.data))
        seq = (raw.seq or 0) + 1


async def last_event(js: JetStreamContext, job_id: str) -> JobEvent | None:
    try:
        raw = await js.get_last_msg(EVENTS_STREAM, job_events_filter(job_id))
    except NotFoundError:
        return None
    assert raw.data is not None
    return decode_event(raw.data)


_rejection: Final = msgspec.json.Decoder(CommandRejected)


async def command_rejection(js: JetStreamContext, command_seq: int, limit_s: float = 10.0) -> CommandRejected:
    """The ``command.rejected`` record of a command whose job id could not be read."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            raw = await js.get_last_msg(EVENTS_STREAM, rejected_subject(command_seq))
        except NotFoundError:
            if time.monotonic() > deadline:
                msg = f"command {command_seq} was not rejected in {limit_s}s"
                raise AssertionError(msg) from None
            await asyncio.sleep(0.05)
            continue
        return _rejection.decode(raw.data or b"")


async def wait_for(js: JetStreamContext, job_id: str, pred: Any, limit_s: float = 60.0) -> JobEvent:
    """Poll the job's last event until ``pred(event)`` holds."""
    deadline = time.monotonic() + limit_s
    while True:
        event = await last_event(js, job_id)
        if event is not None and pred(event):
            return event
        if time.monotonic() > deadline:
            msg = f"job {job_id}: condition not met in {limit_s}s; last event {event!r}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


async def wait_terminal(js: JetStreamContext, job_id: str, limit_s: float = 60.0) -> JobEvent:
    return await wait_for(js, job_id, is_terminal, limit_s)


async def all_event_payloads(js: JetStreamContext) -> list[bytes]:
    """Every payload in the events stream (for secret scans)."""
    payloads = []
    info = await js.stream_info(EVENTS_STREAM)
    for seq in range(1, info.state.last_seq + 1):
        raw = await js.get_msg(EVENTS_STREAM, seq)
        payloads.append(raw.data or b"")
    return payloads


@contextlib.asynccontextmanager
async def running_executor(settings: ExecutorSettings) -> AsyncIterator[Executor]:
    """An executor in this process on its own connection, stopped (drained) on exit."""
    nc = await connect(settings.nats_url, "test-executor")
    service = Executor(nc, settings)
    task = asyncio.create_task(service.run())
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    try:
        yield service
    finally:
        service.request_stop()
        await task
        await nc.close()


def executor_env(settings: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
    src = REPO
    env["PYTHONPATH"] = os.pathsep.join(
        str(src / p)
        for p in ("schemas", "services/common", "services/api", "services/executor", "services/projector")
    )
    env.update(settings)
    env.update(extra or {})
    return env


def spawn_executor(env: Mapping[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m playledger_cli executor [args]`` as a real separate process."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "playledger_cli", "executor", *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, limit_s: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker``."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(
                process.info["cmdline"] or []
            ):
                found.append(process.pid)
    return found


async def wait_runner_event(js: JetStreamContext, job_id: str, name: str, limit_s: float = 60.0) -> None:
    """Until the job has a runner event called ``name``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        events = await job_events(js, job_id)
        if any(getattr(e.data, "event", None) == name for e in events):
            return
        await asyncio.sleep(0.1)
    msg = f"job {job_id}: no {name} event within {limit_s}s"
    raise AssertionError(msg)


async def wait_process(marker: str, limit_s: float = 20.0) -> None:
    """Until a process whose command line contains ``marker`` runs."""
    deadline = time.monotonic() + limit_s
    while not processes_with(marker):
        assert time.monotonic() < deadline, f"no process {marker!r} within {limit_s}s"
        await asyncio.sleep(0.05)
