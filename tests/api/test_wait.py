"""``POST /api/v1/jobs?wait=``: learning of a job's end from its terminal event on the bus
(``Bus.end_of``) against a real nats-server, so a waiter asks the read model only at the end."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from playledger_api.bus import Bus
from playledger_schemas.subjects import DASHBOARD_SUBJECTS, EVENTS_STREAM, event_subject

pytestmark = pytest.mark.integration


async def store(js: JetStreamContext, job_id: str, kind: str) -> None:
    """A message on the job's append subject: the stream stores it and republishes it."""
    await js.publish(event_subject(job_id, kind), b"{}", stream=EVENTS_STREAM)


async def test_only_the_jobs_own_terminal_event_ends_the_wait(nc: Client, js: JetStreamContext) -> None:
    republished: list[str] = []
    seen_all = asyncio.Event()

    async def barrier(msg: Msg) -> None:
        republished.append(msg.subject)
        if len(republished) == 4:
            seen_all.set()

    await nc.subscribe(DASHBOARD_SUBJECTS, cb=barrier)
    async with Bus(nc, js).end_of("waited") as ended:
        for job_id, kind in [
            ("waited", "job.queued"),
            ("waited", "job.started"),
            ("waited", "runner.runner_on_ok"),
            ("other", "job.succeeded"),
        ]:
            await store(js, job_id, kind)
        await asyncio.wait_for(seen_all.wait(), timeout=10)
        await asyncio.sleep(0.1)  # the watch's own callback runs in its own task
        assert not ended.is_set()
        await store(js, "waited", "job.failed")
        await asyncio.wait_for(ended.wait(), timeout=10)


async def test_a_closed_connection_leaves_the_wait_to_the_read_model(
    nc: Client, js: JetStreamContext
) -> None:
    bus = Bus(nc, js)
    await nc.close()
    async with bus.end_of("waited") as ended:
        assert not ended.is_set()
