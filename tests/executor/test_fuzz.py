"""A hostile NATS client: a corpus of bad commands never stops the executor, and a dashboard on
the documented subjects sees exactly what the events stream stored — each event once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError

from playledger_common.consumers import INTAKE
from playledger_common.settings import ExecutorSettings
from playledger_schemas.codec import encode
from playledger_schemas.commands import SubmitJob
from playledger_schemas.events import JobRejected, JobSucceeded
from playledger_schemas.limits import command_limit
from playledger_schemas.subjects import (
    COMMANDS_STREAM,
    DASHBOARD_SUBJECTS,
    EVENTS_STREAM,
    cancel_subject,
    event_subject,
    job_events_filter,
)
from tests.executor.support import (
    command_rejection,
    job_events,
    running_executor,
    spec,
    submit,
    wait_terminal,
)

pytestmark = pytest.mark.integration


def valid(job_id: str, **extra_vars: object) -> dict[str, object]:
    document: dict[str, object] = msgspec.to_builtins(
        SubmitJob(job_id=job_id, spec=spec("ok.yml", extra_vars=dict(extra_vars)))
    )
    return document


def of_size(job_id: str, size: int) -> bytes:
    base = len(msgspec.json.encode(valid(job_id, pad="")))
    payload = msgspec.json.encode(valid(job_id, pad="x" * (size - base)))
    assert len(payload) == size
    return payload


def nested(job_id: str, levels: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return encode(SubmitJob(job_id=job_id, spec=spec("ok.yml"))).replace(
        b'"extra_vars":{}', b'"extra_vars":{"x":' + opener * levels + closer * levels + b"}"
    )


def corpus(max_payload: int) -> list[tuple[str, bytes]]:
    """(subject, payload): sizes around the limit, depth, encodings, subjects and ids."""
    limit = command_limit(max_payload)
    normal = "playledger.cmd.submit.normal"
    good = msgspec.json.encode(valid("fz-ok"))
    return [
        # sizes
        (f"{normal}.fz-limit", of_size("fz-limit", limit)),
        (f"{normal}.fz-over", of_size("fz-over", limit + 1)),
        (f"{normal}.fz-near", of_size("fz-near", max_payload - 300)),
        (f"{normal}.fz-empty", b""),
        # depth
        (f"{normal}.fz-d63", nested("fz-d63", 60)),
        (f"{normal}.fz-d64", nested("fz-d64", 61)),
        (f"{normal}.fz-d2000", nested("fz-d2000", 2000, b'{"a":', b"}")),
        (f"{normal}.fz-d100k", b"[" * 100_000),
        # encodings
        (f"{normal}.fz-latin1", good.replace(b"fz-ok", b"fz-latin1").replace(b"ok.yml", b"\xe9.yml")),
        (f"{normal}.fz-bom", b"\xef\xbb\xbf" + good.replace(b"fz-ok", b"fz-bom")),
        (f"{normal}.fz-utf16", good.replace(b"fz-ok", b"fz-utf16").decode().encode("utf-16")),
        (f"{normal}.fz-nul", good.replace(b"fz-ok", b"fz-nul").replace(b"ok.yml", b"o\\u0000k.yml")),
        (f"{normal}.fz-surrogate", good.replace(b"fz-ok", b"fz-surrogate").replace(b'"pad"', b'"\\ud800"')),
        (f"{normal}.fz-null", b"null"),
        (f"{normal}.fz-array", b"[]"),
        (f"{normal}.fz-number", b"1" * 5000),
        (f"{normal}.fz-dupkey", good.replace(b"fz-ok", b"fz-dupkey").replace(b"{", b'{"job_id":"other",', 1)),
        (f"{normal}.fz-unknown", good.replace(b"fz-ok", b"fz-unknown").replace(b"{", b'{"run_at":"now",', 1)),
        # subjects
        (normal, good),
        (f"{normal}.fz-ok.extra", good),
        ("playledger.cmd.submit.urgent.fz-ok", good),
        ("playledger.cmd.submit.high.fz-ok", good),
        ("playledger.cmd.reboot.fz-ok", good),
        (cancel_subject("fz-ok"), good),
        (cancel_subject("fz-never"), b'{"type":"job.cancel.v1","job_id":"fz-never"}'),
        # ids
        (f"{normal}.{'a' * 129}", msgspec.json.encode(valid("a" * 129))),
        (
            f"{normal}.cmd-1",
            good.replace(b"fz-ok", b"cmd-1").replace(b'"job_id":"cmd-1"', b'"job_id":"cmd-2"'),
        ),
        (f"{normal}.fz-ok", good.replace(b'"job_id":"fz-ok"', b'"job_id":42')),
        (f"{normal}.fz-ok", good.replace(b'"job_id":"fz-ok"', b'"job_id":"fz ok"')),
    ]


async def settled(js: JetStreamContext, limit_s: float = 60.0) -> None:
    """The intake has acknowledged every command (nothing pending, nothing redelivered)."""
    deadline = time.monotonic() + limit_s
    while True:
        info = await js.consumer_info(COMMANDS_STREAM, INTAKE)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        assert time.monotonic() < deadline, info
        await asyncio.sleep(0.1)


async def test_hostile_commands_never_stop_the_executor_and_dashboards_see_only_stored_events(
    js: JetStreamContext, nc: Client, settings: ExecutorSettings
) -> None:
    seen: list[Msg] = []

    async def on_message(msg: Msg) -> None:
        seen.append(msg)

    dashboard = await nc.subscribe(DASHBOARD_SUBJECTS, cb=on_message)
    max_payload = nc.max_payload
    async with running_executor(settings):
        acks = {}
        for subject, payload in corpus(max_payload):
            acks[(subject, payload[:40])] = (await js.publish(subject, payload)).seq
        await settled(js)
        assert isinstance(await wait_terminal(js, "fz-limit", limit_s=120), JobSucceeded)
        assert isinstance(await wait_terminal(js, "fz-d63", limit_s=120), JobSucceeded)
        for job_id in ("fz-over", "fz-near"):
            rejected = await wait_terminal(js, job_id)
            assert isinstance(rejected, JobRejected)
            assert rejected.data.reason.startswith("command too big")
        for job_id in ("fz-d64", "fz-d2000", "fz-d100k", "fz-empty", "fz-null", "fz-utf16"):
            assert await job_events(js, job_id) == [], job_id
        rejections = 0
        for seq in acks.values():
            with contextlib.suppress(AssertionError):
                await command_rejection(js, seq, limit_s=0)
                rejections += 1
        assert rejections >= 14
        await submit(js, "fz-good", spec("ok.yml"))
        assert isinstance(await wait_terminal(js, "fz-good"), JobSucceeded)
        # refused publishes: a second writer (wrong expected sequence) and a duplicate msg id
        last = (await js.get_last_msg(EVENTS_STREAM, job_events_filter("fz-good"))).seq or 0
        with pytest.raises(APIError):
            await js.publish(
                event_subject("fz-good", "job.failed"),
                b"{}",
                headers={
                    "Nats-Expected-Last-Subject-Sequence": str(last - 1),
                    "Nats-Expected-Last-Subject-Sequence-Subject": job_events_filter("fz-good"),
                },
            )
        duplicate = await js.publish(
            event_subject("fz-good", "job.succeeded"), b"{}", headers={"Nats-Msg-Id": "fz-good:0:1"}
        )
        assert duplicate.duplicate
        # a forged append (no auth here, so it is stored; readers' writer rules ignore it)
        await nc.publish(event_subject("fz-good", "job.succeeded"), b'{"forged":true}')
        await nc.flush()
        await settled(js)
    info = await js.stream_info(EVENTS_STREAM)
    stored = [await js.get_msg(EVENTS_STREAM, seq) for seq in range(1, info.state.last_seq + 1)]
    deadline = time.monotonic() + 10
    while len(seen) < len(stored) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await nc.flush()
    await dashboard.unsubscribe()
    assert [(m.subject, (m.headers or {}).get("Nats-Sequence"), m.data) for m in seen] == [
        (
            s.subject.replace("playledger.append.", "playledger.evt.", 1) if s.subject else None,
            str(s.seq),
            s.data,
        )
        for s in stored
    ]
    assert stored[-1].data == b'{"forged":true}'
    assert len({s.seq for s in stored}) == len(stored)
