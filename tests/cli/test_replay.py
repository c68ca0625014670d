"""``playledger replay`` reads straight from the real stream, in order, with filters."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext

from playledger_cli.embedded import free_port
from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobSpec, LocalSource
from playledger_schemas.events import CancelRequestedData, JobCancelRequested, JobQueued, QueuedData
from playledger_schemas.subjects import event_subject

pytestmark = pytest.mark.integration

SPEC = JobSpec(source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["h"]))


async def publish_jobs(js: JetStreamContext) -> None:
    for job_id in ("a", "b"):
        queued = JobQueued(
            event_id=uuid.uuid4(),
            job_id=job_id,
            attempt=0,
            seq=1,
            time=datetime.now(UTC),
            data=QueuedData(spec=SPEC),
        )
        await js.publish(event_subject(job_id, "job.queued"), encode(queued))
    cancel = JobCancelRequested(
        event_id=uuid.uuid4(),
        job_id="a",
        attempt=0,
        seq=2,
        time=datetime.now(UTC),
        data=CancelRequestedData(reason="x"),
    )
    await js.publish(event_subject("a", "job.cancel_requested"), encode(cancel))


def replay_process(nats_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playledger_cli", "replay", "--nats-url", nats_url, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,  # the old client retried an unreachable server forever
    )


def replay(nats_url: str, *args: str) -> list[dict[str, object]]:
    result = replay_process(nats_url, "-o", "json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def test_replay_prints_every_event_in_stream_order(js: JetStreamContext, nats_url: str) -> None:
    await publish_jobs(js)
    lines = replay(nats_url)
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert [line["subject"] for line in lines] == [
        "playledger.append.job.a.job.queued",
        "playledger.append.job.b.job.queued",
        "playledger.append.job.a.job.cancel_requested",
    ]
    assert lines[2]["event"]["type"] == "job.cancel_requested.v1"  # type: ignore[index]


async def test_replay_filters_by_job_and_start_sequence(js: JetStreamContext, nats_url: str) -> None:
    await publish_jobs(js)
    assert [line["seq"] for line in replay(nats_url, "--job", "a")] == [1, 3]
    assert [line["seq"] for line in replay(nats_url, "--since", "2")] == [2, 3]
    future = "2999-01-01T00:00:00+00:00"
    assert replay(nats_url, "--since", future) == []


def test_replay_rejects_a_bad_job_id(nats_url: str) -> None:
    result = replay_process(nats_url, "--job", "a.b")
    assert result.returncode == 5
    assert "not a valid job id" in result.stderr


async def test_replay_of_a_job_the_stream_does_not_know_fails(js: JetStreamContext, nats_url: str) -> None:
    await publish_jobs(js)
    result = replay_process(nats_url, "--job", "nobody")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no events of job 'nobody'" in result.stderr


async def test_replay_prints_one_readable_line_per_event_by_default(
    js: JetStreamContext, nats_url: str
) -> None:
    await publish_jobs(js)
    result = replay_process(nats_url, "--job", "a")
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["1", "3"]
    assert lines[1].split()[2:] == ["a", "job.cancel_requested.v1"]
    assert result.stderr.strip() == "2 events"


def test_replay_fails_at_once_naming_where_it_tried_and_why() -> None:
    port = free_port()  # nothing listens there
    result = replay_process(f"nats://127.0.0.1:{port}")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"playledger: cannot reach NATS at nats://127.0.0.1:{port} (from --nats-url): "
    )
    assert "Connect call failed" in lines[0]
