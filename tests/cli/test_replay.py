"""``playledger replay`` reads straight from the real stream, in order, with filters."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext

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


def replay(nats_url: str, *args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "playledger_cli", "replay", "--nats-url", nats_url, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
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
    assert replay(nats_url, "--job", "nobody") == []
    future = "2999-01-01T00:00:00+00:00"
    assert replay(nats_url, "--since", future) == []


def test_replay_rejects_a_bad_job_id(nats_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "playledger_cli", "replay", "--nats-url", nats_url, "--job", "a.b"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a valid job id" in result.stderr
