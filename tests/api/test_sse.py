"""SSE served from JetStream, against a real uvicorn server, nats-server and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from playledger_api.sse import sse_event_name
from playledger_common.settings import ApiSettings
from playledger_schemas.events import event_kind
from playledger_schemas.subjects import EVENTS_STREAM
from tests.api.conftest import api_client, job_events, publish, serve

pytestmark = pytest.mark.integration


async def read_stream(
    base_url: str, job_id: str, *, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None
) -> list[ServerSentEvent]:
    async with (
        api_client(base_url, timeout=30) as client,
        aconnect_sse(
            client, "GET", f"/api/v1/jobs/{job_id}/stream", headers=dict(headers or {}), params=params
        ) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [sse async for sse in source.aiter_sse() if sse.data]


def runner_events(received: list[ServerSentEvent]) -> list[ServerSentEvent]:
    return [sse for sse in received if sse.event != "end"]


async def test_a_finished_job_replays_every_event_then_ends(base_url: str, js: JetStreamContext) -> None:
    events = job_events("done1", runner_events=20)
    seqs = await publish(js, events)
    await publish(js, job_events("other", runner_events=3))  # another job's events never leak in

    received = await read_stream(base_url, "done1")

    assert [int(sse.id) for sse in runner_events(received)] == seqs
    assert [sse.event for sse in runner_events(received)] == [sse_event_name(event_kind(e)) for e in events]
    assert [json.loads(sse.data)["seq"] for sse in runner_events(received)] == list(range(1, len(events) + 1))
    assert received[0].event == "job.queued"
    assert received[2].event == "playbook_on_start"
    end = received[-1]
    assert end.event == "end"
    assert json.loads(end.data) == {"job_id": "done1", "outcome": "job.succeeded", "last_event_id": seqs[-1]}


async def test_a_running_job_replays_then_continues_live_exactly_once(
    base_url: str, js: JetStreamContext
) -> None:
    events = job_events("live1", runner_events=60)
    await publish(js, events[:5])

    async def publish_the_rest() -> list[int]:
        await asyncio.sleep(0.5)
        seqs = []
        for chunk in range(5, len(events), 10):
            seqs += await publish(js, events[chunk : chunk + 10])
            await asyncio.sleep(0.05)
        return seqs

    reader = asyncio.create_task(read_stream(base_url, "live1"))
    rest = await publish_the_rest()
    received = await asyncio.wait_for(reader, timeout=30)

    got = [json.loads(sse.data)["seq"] for sse in runner_events(received)]
    assert got == list(range(1, len(events) + 1))
    assert [int(sse.id) for sse in runner_events(received)][5:] == rest
    assert received[-1].event == "end"


async def test_last_event_id_from_the_middle_yields_exactly_the_remainder(
    base_url: str, js: JetStreamContext
) -> None:
    events = job_events("resume1", runner_events=30)
    seqs = await publish(js, events[:12])
    first = await_partial = asyncio.create_task(read_first(base_url, "resume1", count=12))
    await asyncio.wait_for(first, timeout=30)
    middle = seqs[7]
    rest_seqs = seqs[8:] + await publish(js, events[12:])
    del await_partial

    received = await read_stream(base_url, "resume1", headers={"Last-Event-ID": str(middle)})

    assert [int(sse.id) for sse in runner_events(received)] == rest_seqs
    assert [json.loads(sse.data)["seq"] for sse in runner_events(received)] == list(range(9, len(events) + 1))
    assert received[-1].event == "end"

    by_query = await read_stream(base_url, "resume1", params={"after": middle})
    assert [sse.id for sse in by_query] == [sse.id for sse in received]


async def read_first(base_url: str, job_id: str, count: int) -> list[ServerSentEvent]:
    """Read ``count`` events of a running job, then disconnect (as a dropped client would)."""
    got: list[ServerSentEvent] = []
    async with (
        api_client(base_url, timeout=30) as client,
        aconnect_sse(client, "GET", f"/api/v1/jobs/{job_id}/stream") as source,
    ):
        async for sse in source.aiter_sse():
            if not sse.data:
                continue  # httpx_sse reports a keepalive comment as an empty message (EventSource does not)
            got.append(sse)
            if len(got) == count:
                break
    return got


async def test_resuming_after_the_terminal_event_only_ends(base_url: str, js: JetStreamContext) -> None:
    seqs = await publish(js, job_events("fin1", runner_events=2))
    received = await read_stream(base_url, "fin1", headers={"Last-Event-ID": str(seqs[-1])})
    assert [sse.event for sse in received] == ["end"]


async def test_idle_streams_get_keepalive_comments(base_url: str, js: JetStreamContext) -> None:
    await publish(js, job_events("idle1", runner_events=0)[:1])  # queued, nothing else yet
    lines: list[str] = []
    async with (
        api_client(base_url, timeout=30) as client,
        client.stream("GET", "/api/v1/jobs/idle1/stream") as response,
    ):
        async for line in response.aiter_lines():
            lines.append(line)
            if line.startswith(": keepalive"):
                break
    assert lines[:2] == ["id: " + lines[0].removeprefix("id: "), "event: job.queued"]
    assert lines[-1] == ": keepalive"


async def test_a_slow_client_falls_behind_and_catches_up_without_loss(
    settings: ApiSettings, js: JetStreamContext
) -> None:
    """A tiny per-client buffer and a client that stalls: every event still arrives, in order, once."""
    events = job_events("slow1", runner_events=1500, stdout_size=8 * 1024)  # ~12 MB in all
    big = events
    slow_settings = msgspec.structs.replace(settings, sse_buffer_events=2, sse_heartbeat_s=5)
    async for base_url in serve(slow_settings):
        await publish(js, big[:700])
        got: list[int] = []
        publisher: asyncio.Task[list[int]] | None = None
        async with (
            api_client(base_url, timeout=60) as client,
            aconnect_sse(client, "GET", "/api/v1/jobs/slow1/stream") as source,
        ):
            async for sse in source.aiter_sse():
                if sse.event == "end":
                    break
                if not sse.data:
                    continue
                got.append(json.loads(sse.data)["seq"])
                if len(got) == 50:
                    publisher = asyncio.create_task(publish(js, big[700:]))
                if len(got) < 300 and len(got) % 50 == 0:
                    await asyncio.sleep(0.3)  # stall while the server keeps appending
            assert publisher is not None
            await publisher
            metrics = (await client.get("/metrics")).text
    assert got == list(range(1, len(events) + 1))
    resubscribes = next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("playledger_api_sse_resubscribes_total")
    )
    assert resubscribes > 0  # the client really fell behind, and caught up


async def test_unknown_job_is_404_and_a_bad_last_event_id_is_400(base_url: str, js: JetStreamContext) -> None:
    async with api_client(base_url, timeout=30) as client:
        missing = await client.get("/api/v1/jobs/nosuchjob/stream")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["detail"] == "no job with id 'nosuchjob'"
        await publish(js, job_events("known1", runner_events=1))
        bad = await client.get("/api/v1/jobs/known1/stream", headers={"Last-Event-ID": "abc"})
        assert bad.status_code == 400
        assert bad.json()["errors"] == [
            {"path": "header.Last-Event-ID", "message": "must be an event id (a stream sequence)"}
        ]
        negative = await client.get("/api/v1/jobs/known1/stream", params={"after": -1})
        assert negative.status_code == 400
        assert negative.json()["errors"][0]["path"] == "query.after"


async def test_a_submitted_job_without_events_yet_can_be_watched(base_url: str, js: JetStreamContext) -> None:
    async with api_client(base_url, timeout=30) as client:
        accepted = await client.post(
            "/api/v1/jobs",
            json={
                "id": "watch1",
                "source": {"type": "local", "path": "site.yml"},
                "inventory": {"type": "inline"},
            },
        )
        assert accepted.status_code == 202
    reader = asyncio.create_task(read_stream(base_url, "watch1"))
    await asyncio.sleep(0.3)
    seqs = await publish(js, job_events("watch1", runner_events=3))
    received = await asyncio.wait_for(reader, timeout=30)
    assert [int(sse.id) for sse in runner_events(received)] == seqs


async def test_a_disconnected_client_is_released(base_url: str, js: JetStreamContext) -> None:
    await publish(js, job_events("gone1", runner_events=5)[:3])

    async def clients() -> str:
        async with api_client(base_url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        return next(line for line in text.splitlines() if line.startswith("playledger_api_sse_clients "))

    got = await read_first(base_url, "gone1", count=2)
    assert len(got) == 2
    for _ in range(100):
        if await clients() == "playledger_api_sse_clients 0.0":
            break
        await asyncio.sleep(0.05)
    assert await clients() == "playledger_api_sse_clients 0.0"


async def test_a_stalled_consumer_is_replaced_and_nothing_is_lost(
    base_url: str, js: JetStreamContext
) -> None:
    """The server loses the client's consumer (as after a slow-consumer disconnect): the stream heals."""
    events = job_events("stall1", runner_events=20)
    await publish(js, events[:5])
    got: list[int] = []
    async with (
        api_client(base_url, timeout=30) as client,
        aconnect_sse(client, "GET", "/api/v1/jobs/stall1/stream") as source,
    ):
        async for sse in source.aiter_sse():
            if sse.event == "end":
                break
            if not sse.data:
                continue
            got.append(json.loads(sse.data)["seq"])
            if len(got) == 5:
                for name in [info.name async for info in consumers(js)]:
                    await js.delete_consumer(EVENTS_STREAM, name)
                await publish(js, events[5:])
        metrics = (await client.get("/metrics")).text
    assert got == list(range(1, len(events) + 1))
    assert "playledger_api_sse_resubscribes_total 0.0" not in metrics


async def consumers(js: JetStreamContext) -> AsyncIterator[ConsumerInfo]:
    for info in await js.consumers_info(EVENTS_STREAM):
        yield info


async def test_events_that_break_the_writer_rules_are_never_sent(base_url: str, js: JetStreamContext) -> None:
    """Defect 4: a forged terminal event on a running job's subject ended dashboards' streams."""
    events = job_events("guarded", runner_events=10)
    await publish(js, events[:5])
    forged_end = msgspec.structs.replace(events[-1], seq=40)  # a gap: seq 40 after seq 5
    reader = asyncio.create_task(read_stream(base_url, "guarded"))
    await asyncio.sleep(0.3)
    await publish(js, [forged_end])
    await publish(js, events[5:])
    received = await asyncio.wait_for(reader, timeout=30)
    assert [json.loads(sse.data)["seq"] for sse in runner_events(received)] == list(range(1, len(events) + 1))
    assert received[-1].event == "end"
    await publish(js, [msgspec.structs.replace(events[-1], seq=len(events) + 1)])  # after the terminal
    replay = await read_stream(base_url, "guarded")
    assert [json.loads(sse.data)["seq"] for sse in runner_events(replay)] == list(range(1, len(events) + 1))
