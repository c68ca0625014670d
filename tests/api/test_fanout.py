"""The SSE hub: many clients of one job share one consumer; each still gets every event once, in order.

Against a real uvicorn server, nats-server and PostgreSQL; clients are real HTTP SSE readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import pytest
from httpx_sse import aconnect_sse
from nats.js import JetStreamContext

from playledger_api.fanout import Hub
from playledger_api.metrics import Metrics
from playledger_common.settings import ApiSettings
from playledger_schemas.subjects import EVENTS_STREAM, job_events_filter
from tests.api.conftest import api_client, job_events, publish, serve
from tests.waiting import until

pytestmark = pytest.mark.integration


@dataclass
class Reader:
    """One SSE client's view: event seqs (the envelope's per-job ``seq``) and SSE ids, as they arrive."""

    seqs: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    ended: bool = False


async def watch(
    base_url: str,
    job_id: str,
    reader: Reader,
    *,
    headers: dict[str, str] | None = None,
    stop_after: int | None = None,
    pause: tuple[int, asyncio.Event] | None = None,
) -> None:
    """Read the job's stream until ``end`` (or ``stop_after`` events); ``pause=(n, go)`` stops reading after n events until ``go``."""
    async with (
        api_client(base_url, timeout=60) as client,
        aconnect_sse(client, "GET", f"/api/v1/jobs/{job_id}/stream", headers=headers or {}) as source,
    ):
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            if sse.event == "end":
                reader.ended = True
                return
            if not sse.data:
                continue  # keepalive
            reader.seqs.append(json.loads(sse.data)["seq"])
            reader.ids.append(int(sse.id))
            if stop_after is not None and len(reader.seqs) >= stop_after:
                return
            if pause is not None and len(reader.seqs) == pause[0]:
                await pause[1].wait()


def have(count: int, *readers: Reader) -> Callable[[], bool]:
    return lambda: all(len(reader.seqs) >= count for reader in readers)


async def job_consumers(js: JetStreamContext, job_id: str) -> int:
    wanted = job_events_filter(job_id)
    return sum(
        1
        for info in await js.consumers_info(EVENTS_STREAM)
        if info.config.filter_subject == wanted or wanted in (info.config.filter_subjects or [])
    )


async def metric(base_url: str, name: str) -> float:
    async with api_client(base_url, timeout=10) as client:
        text = (await client.get("/metrics")).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(f"{name} "))


async def test_many_clients_of_one_job_share_one_consumer_and_each_get_every_event_once_in_order(
    base_url: str, js: JetStreamContext
) -> None:
    events = job_events("fan1", runner_events=200)
    await publish(js, events[:3])
    readers = [Reader() for _ in range(8)]
    tasks = [asyncio.create_task(watch(base_url, "fan1", reader)) for reader in readers]
    await until(have(3, *readers))

    await until(lambda: _one(js, "fan1"))  # a client's own replay consumer, if any, is gone too
    assert await job_consumers(js, "fan1") == 1  # eight clients, one consumer
    assert await metric(base_url, "playledger_api_sse_feeds") == 1
    assert await metric(base_url, "playledger_api_sse_clients") == 8

    seqs: list[int] = []
    for start in range(3, len(events), 25):
        seqs += await publish(js, events[start : start + 25])
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)

    for reader in readers:
        assert reader.seqs == list(range(1, len(events) + 1))
        assert reader.ids[3:] == seqs
        assert reader.ended


async def _one(js: JetStreamContext, job_id: str) -> bool:
    return await job_consumers(js, job_id) == 1


async def test_clients_joining_mid_run_get_exactly_the_remainder_or_everything(
    settings: ApiSettings, js: JetStreamContext
) -> None:
    """A tiny shared ring: the late joiners start below its floor and replay the gap on their own first."""
    small = msgspec.structs.replace(
        settings,
        sse_buffer_events=4,
        sse_heartbeat_s=0.5,
    )
    events = job_events("join1", runner_events=200)
    async for base_url in serve(small):
        first_seqs = await publish(js, events[:2])
        early = Reader()
        early_task = asyncio.create_task(watch(base_url, "join1", early))
        await until(have(2, early))
        middle_seqs = await publish(js, events[2:150])
        await until(have(150, early))  # the feed's ring (4 x 16 events) now starts well after event 20

        resumed, fresh = Reader(), Reader()
        resume_from = middle_seqs[17]  # event 20
        late = [
            asyncio.create_task(
                watch(base_url, "join1", resumed, headers={"Last-Event-ID": str(resume_from)})
            ),
            asyncio.create_task(watch(base_url, "join1", fresh)),
        ]
        rest_seqs: list[int] = []
        for start in range(150, len(events), 10):
            rest_seqs += await publish(js, events[start : start + 10])
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(early_task, *late), timeout=60)
        catchups = await metric(base_url, "playledger_api_sse_catchups_total")

    every = first_seqs + middle_seqs + rest_seqs
    assert early.seqs == list(range(1, len(events) + 1))
    assert resumed.seqs == list(range(21, len(events) + 1))
    assert resumed.ids == every[20:]
    assert fresh.seqs == list(range(1, len(events) + 1))
    assert fresh.ids == every
    assert catchups >= 2  # both late joiners replayed below the ring's floor before joining it


async def test_a_slow_client_does_not_delay_a_fast_one_and_still_gets_everything(
    settings: ApiSettings, js: JetStreamContext
) -> None:
    """The slow client stops reading until the fast one has seen the end: the fast one cannot wait for it."""
    small = msgspec.structs.replace(
        settings,
        sse_buffer_events=16,
        sse_heartbeat_s=0.5,
    )
    events = job_events("slow2", runner_events=2000, stdout_size=8 * 1024)  # ~16 MB: more than socket buffers
    async for base_url in serve(small):
        await publish(js, events[:3])
        fast, slow = Reader(), Reader()
        fast_done = asyncio.Event()
        slow_task = asyncio.create_task(watch(base_url, "slow2", slow, pause=(3, fast_done)))
        fast_task = asyncio.create_task(watch(base_url, "slow2", fast))
        await until(have(3, fast, slow))

        await publish(js, events[3:])
        await asyncio.wait_for(fast_task, timeout=90)  # would hang if the feed waited for the slow client
        fast_done.set()
        await asyncio.wait_for(slow_task, timeout=90)
        catchups = await metric(base_url, "playledger_api_sse_catchups_total")

    assert fast.seqs == list(range(1, len(events) + 1))
    assert fast.ended
    assert slow.seqs == list(range(1, len(events) + 1))
    assert slow.ended
    assert catchups >= 1  # the slow client fell below the shared ring and caught up on its own


async def test_the_shared_consumer_is_released_when_the_last_client_leaves(
    base_url: str, js: JetStreamContext
) -> None:
    await publish(js, job_events("leave1", runner_events=10)[:4])
    readers = [Reader() for _ in range(3)]
    await asyncio.gather(*(watch(base_url, "leave1", r, stop_after=2) for r in readers))
    assert all(r.seqs == [1, 2] for r in readers)

    await until(lambda: _none(js, "leave1"))  # after a short linger
    assert await metric(base_url, "playledger_api_sse_feeds") == 0
    assert await metric(base_url, "playledger_api_sse_clients") == 0

    again = Reader()
    task = asyncio.create_task(watch(base_url, "leave1", again))
    try:
        await until(have(4, again))
        assert await job_consumers(js, "leave1") == 1  # a new watcher starts a new feed
        await publish(js, job_events("leave1", runner_events=10)[4:])
        await asyncio.wait_for(task, timeout=30)
    finally:  # a failed check must not leave an SSE client holding the server's shutdown
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert again.seqs == list(range(1, 14))


async def _none(js: JetStreamContext, job_id: str) -> bool:
    return await job_consumers(js, job_id) == 0


async def test_a_client_back_within_the_linger_finds_the_same_feed_and_shutdown_releases_it(
    js: JetStreamContext,
) -> None:
    metrics = Metrics()
    hub = Hub(js, capacity=64, heartbeat_s=0.5, metrics=metrics, linger_s=30)
    seqs = await publish(js, job_events("linger1", runner_events=3)[:2])
    with hub.watch("linger1", 0, seqs[-1]) as first:
        await until(lambda: first.ring.head == seqs[-1])
        piece = first.ring.after(0)
        assert piece is not None
        assert piece.count == 2
    with hub.watch("linger1", 0, seqs[-1]) as second:  # an EventSource reconnecting at once
        assert second is first
        assert await job_consumers(js, "linger1") == 1
    assert len(hub) == 1  # lingering
    await hub.close()
    assert len(hub) == 0
    await until(lambda: _none(js, "linger1"))  # the server drops an ephemeral consumer nobody reads
    assert metrics.registry.get_sample_value("playledger_api_sse_feeds") == 0
