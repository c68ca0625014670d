"""The streams against a real nats-server: immutability, de-duplication, idempotent init, drift."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError

from playledger_common.consumers import (
    CHAINS,
    INTAKE,
    MAX_DELIVER,
    chains_consumer,
    durable_consumers,
    ensure_consumers,
)
from playledger_common.named_store import inventories
from playledger_common.settings import CommonSettings
from playledger_common.streams import (
    allows_atomic_batches,
    commands_stream_config,
    ensure_streams,
    events_stream_config,
    migrate_events_stream,
)
from playledger_schemas.commands import InlineInventory
from playledger_schemas.inventories import StoredInventoryValue
from playledger_schemas.subjects import (
    COMMANDS_STREAM,
    EVENTS_STREAM,
    INVENTORIES_BUCKET,
    LEGACY_EVENT_SUBJECTS,
    WHOLE_STREAM,
    bucket_stream,
    dashboard_job_filter,
    dashboard_subject,
    event_subject,
    job_events_filter,
)

pytestmark = pytest.mark.integration

CONSUMERS = ["intake", "run-critical", "run-high", "run-normal", "run-low"]


async def test_the_events_stream_refuses_message_delete_and_purge(js: JetStreamContext) -> None:
    ack = await js.publish(event_subject("j1", "job.queued"), b"{}")
    with pytest.raises(APIError) as deleted:
        await js.delete_msg(EVENTS_STREAM, ack.seq)
    assert deleted.value.err_code == 10057
    with pytest.raises(APIError) as purged:
        await js.purge_stream(EVENTS_STREAM)
    assert purged.value.err_code == 10110
    assert (await js.stream_info(EVENTS_STREAM)).state.messages == 1


async def test_the_same_msg_id_twice_stores_one_message(js: JetStreamContext) -> None:
    subject = event_subject("j1", "runner.runner_on_ok")
    first = await js.publish(subject, b"a", headers={"Nats-Msg-Id": "j1:1:1"})
    second = await js.publish(subject, b"a", headers={"Nats-Msg-Id": "j1:1:1"})
    assert second.duplicate
    assert second.seq == first.seq
    assert (await js.stream_info(EVENTS_STREAM)).state.messages == 1


async def test_init_is_idempotent(js: JetStreamContext, nats_url: str) -> None:
    settings = CommonSettings(nats_url=nats_url)
    again = await ensure_streams(js, settings)
    assert [(r.stream, r.created, r.drift) for r in again] == [
        ("PLAYLEDGER_COMMANDS", False, []),
        ("PLAYLEDGER_EVENTS", False, []),
        ("PLAYLEDGER_WEBHOOKS", False, []),
        ("PLAYLEDGER_LEASES", False, []),
        ("PLAYLEDGER_SCHEDULES", False, []),
        ("KV_PLAYLEDGER_TEMPLATES", False, []),
        ("KV_PLAYLEDGER_CRON", False, []),
        ("KV_PLAYLEDGER_INVENTORIES", False, []),
    ]


async def test_the_events_stream_is_configured_as_documented(js: JetStreamContext) -> None:
    config = (await js.stream_info(EVENTS_STREAM)).config
    assert config.deny_delete
    assert config.deny_purge
    assert not config.allow_rollup_hdrs
    assert not config.allow_msg_schedules
    assert config.retention == "limits"


async def test_drift_is_reported_and_not_overwritten(js: JetStreamContext, nats_url: str) -> None:
    settings = CommonSettings(nats_url=nats_url)
    changed = dataclasses.replace(commands_stream_config(settings), max_age=3600.0, duplicate_window=60.0)
    await js.update_stream(changed)
    reports = await ensure_streams(js, settings)
    drift = {d.field: (d.expected, d.actual) for d in reports[0].drift}
    assert drift == {"max_age": (7 * 24 * 3600, 3600), "duplicate_window": (600, 60)}
    assert (await js.stream_info("PLAYLEDGER_COMMANDS")).config.max_age == 3600.0
    assert reports[1].drift == []
    assert events_stream_config(settings).deny_purge


def test_streams_init_cli_creates_then_reports_drift(nats_url: str) -> None:
    command = [sys.executable, "-m", "playledger_cli", "streams", "init", "--nats-url", nats_url]
    first = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "PLAYLEDGER_COMMANDS: created",
        "PLAYLEDGER_EVENTS: created",
        "PLAYLEDGER_WEBHOOKS: created",
        "PLAYLEDGER_LEASES: created",
        "PLAYLEDGER_SCHEDULES: created",
        "KV_PLAYLEDGER_TEMPLATES: created",
        "KV_PLAYLEDGER_CRON: created",
        "KV_PLAYLEDGER_INVENTORIES: created",
        *(f"PLAYLEDGER_COMMANDS/{name}: created" for name in CONSUMERS),
        "PLAYLEDGER_SCHEDULES/due: created",
        "PLAYLEDGER_EVENTS/chains: created",
    ]
    second = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "PLAYLEDGER_COMMANDS: ok",
        "PLAYLEDGER_EVENTS: ok",
        "PLAYLEDGER_WEBHOOKS: ok",
        "PLAYLEDGER_LEASES: ok",
        "PLAYLEDGER_SCHEDULES: ok",
        "KV_PLAYLEDGER_TEMPLATES: ok",
        "KV_PLAYLEDGER_CRON: ok",
        "KV_PLAYLEDGER_INVENTORIES: ok",
        *(f"PLAYLEDGER_COMMANDS/{name}: ok" for name in CONSUMERS),
        "PLAYLEDGER_SCHEDULES/due: ok",
        "PLAYLEDGER_EVENTS/chains: ok",
    ]


async def test_every_durable_consumer_has_max_deliver_and_its_drift_is_reported(js: JetStreamContext) -> None:
    created = await ensure_consumers(js)
    assert [(r.stream, r.created) for r in created] == [
        *((f"PLAYLEDGER_COMMANDS/{n}", True) for n in CONSUMERS),
        ("PLAYLEDGER_SCHEDULES/due", True),
        ("PLAYLEDGER_EVENTS/chains", True),
    ]
    for config in durable_consumers():
        assert config.durable_name is not None
        info = await js.consumer_info(COMMANDS_STREAM, config.durable_name)
        assert info.config.max_deliver == MAX_DELIVER
    chains = (await js.consumer_info(EVENTS_STREAM, CHAINS)).config
    assert (chains.max_deliver, chains.filter_subjects) == (MAX_DELIVER, chains_consumer().filter_subjects)
    await js.delete_consumer(COMMANDS_STREAM, INTAKE)
    unlimited = dataclasses.replace(durable_consumers()[0], max_deliver=-1)
    await js.add_consumer(COMMANDS_STREAM, unlimited)
    reports = await ensure_consumers(js)
    drifted = {r.stream: [(d.field, d.expected, d.actual) for d in r.drift] for r in reports if r.drift}
    assert drifted == {f"PLAYLEDGER_COMMANDS/{INTAKE}": [("max_deliver", MAX_DELIVER, -1)]}
    assert (await js.consumer_info(COMMANDS_STREAM, INTAKE)).config.max_deliver == -1  # reported, not changed


async def test_a_core_subscriber_sees_only_what_the_events_stream_stored(
    js: JetStreamContext, nc: Client
) -> None:
    """Dashboards subscribe to ``playledger.evt.…``: a publish the stream refused never reaches them."""
    seen: list[Msg] = []

    async def on_message(msg: Msg) -> None:
        seen.append(msg)

    sub = await nc.subscribe(dashboard_job_filter("j1"), cb=on_message)
    stored = event_subject("j1", "job.queued")
    ack = await js.publish(stored, b'{"n":1}', headers={"Nats-Msg-Id": "j1:0:1"})
    await js.publish(stored, b'{"n":1}', headers={"Nats-Msg-Id": "j1:0:1"})  # duplicate: not stored again
    with pytest.raises(APIError):  # optimistic concurrency: refused
        await js.publish(
            event_subject("j1", "job.rejected"),
            b'{"n":2}',
            headers={
                "Nats-Expected-Last-Subject-Sequence": "0",
                "Nats-Expected-Last-Subject-Sequence-Subject": job_events_filter("j1"),
            },
        )
    await js.publish(event_subject("j1", "job.started"), b'{"n":3}')
    await nc.flush()
    for _ in range(50):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.05)
    await nc.flush()
    await sub.unsubscribe()
    assert dashboard_subject(stored) == "playledger.evt.job.j1.job.queued"
    assert [(m.subject, m.data, m.headers and m.headers.get("Nats-Sequence")) for m in seen] == [
        ("playledger.evt.job.j1.job.queued", b'{"n":1}', str(ack.seq)),
        ("playledger.evt.job.j1.job.started", b'{"n":3}', str(ack.seq + 1)),
    ]


async def test_a_legacy_events_stream_is_migrated_in_place(nc: Client, nats_url: str) -> None:
    js = nc.jetstream()
    settings = CommonSettings(nats_url=nats_url)
    legacy = dataclasses.replace(
        events_stream_config(settings), subjects=[LEGACY_EVENT_SUBJECTS], republish=None, allow_atomic=None
    )
    await js.add_stream(legacy)
    await js.publish("playledger.evt.job.old.job.queued", b"old")
    drift = {d.field for r in await ensure_streams(js, settings) for d in r.drift}
    assert drift == {"subjects", "republish", "allow_atomic"}
    assert not await allows_atomic_batches(js)
    assert await migrate_events_stream(js, settings)
    assert await allows_atomic_batches(js)
    assert not await migrate_events_stream(js, settings)
    await js.publish(event_subject("new", "job.queued"), b"new")
    assert [r.drift for r in await ensure_streams(js, settings)] == [[], [], [], [], [], [], [], []]
    sub = await js.subscribe(WHOLE_STREAM, stream=EVENTS_STREAM, ordered_consumer=True)
    got = [(await sub.next_msg(timeout=5)).data for _ in range(2)]
    await sub.unsubscribe()
    assert got == [b"old", b"new"]


async def test_the_inventories_bucket_keeps_every_change_and_refuses_to_forget(js: JetStreamContext) -> None:
    """More revisions than a key-value bucket may keep (64), a delete, and no way to erase them."""
    store = inventories(js)
    revisions = [
        await store.put("prod", StoredInventoryValue(inventory=InlineInventory(hosts=[f"h{n}"])))
        for n in range(70)
    ]
    assert await store.delete("prod")
    history = await store.history("prod")
    assert [r.revision for r in history[:-1]] == revisions
    assert [r.value.inventory for r in history[:2] if r.value] == [
        InlineInventory(hosts=["h0"]),
        InlineInventory(hosts=["h1"]),
    ]
    assert history[-1].value is None  # the delete is one more change
    stream = bucket_stream(INVENTORIES_BUCKET)
    with pytest.raises(APIError):
        await js.purge_stream(stream)
    with pytest.raises(APIError):
        await js.delete_msg(stream, revisions[0])
    with pytest.raises(APIError):
        await (await store.kv()).purge("prod")  # a roll-up: refused by the stream
    assert len(await store.history("prod")) == 71
