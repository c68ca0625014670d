"""The streams against a real nats-server: immutability, de-duplication, idempotent init, drift."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from nats.js import JetStreamContext
from nats.js.errors import APIError

from playledger_common.consumers import INTAKE, MAX_DELIVER, durable_consumers, ensure_consumers
from playledger_common.settings import CommonSettings
from playledger_common.streams import (
    commands_stream_config,
    ensure_streams,
    events_stream_config,
)
from playledger_schemas.subjects import COMMANDS_STREAM, EVENTS_STREAM, event_subject

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
        *(f"PLAYLEDGER_COMMANDS/{name}: created" for name in CONSUMERS),
    ]
    second = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "PLAYLEDGER_COMMANDS: ok",
        "PLAYLEDGER_EVENTS: ok",
        *(f"PLAYLEDGER_COMMANDS/{name}: ok" for name in CONSUMERS),
    ]


async def test_every_durable_consumer_has_max_deliver_and_its_drift_is_reported(js: JetStreamContext) -> None:
    created = await ensure_consumers(js)
    assert [(r.stream, r.created) for r in created] == [(f"PLAYLEDGER_COMMANDS/{n}", True) for n in CONSUMERS]
    for config in durable_consumers():
        assert config.durable_name is not None
        info = await js.consumer_info(COMMANDS_STREAM, config.durable_name)
        assert info.config.max_deliver == MAX_DELIVER
    await js.delete_consumer(COMMANDS_STREAM, INTAKE)
    unlimited = dataclasses.replace(durable_consumers()[0], max_deliver=-1)
    await js.add_consumer(COMMANDS_STREAM, unlimited)
    reports = await ensure_consumers(js)
    drifted = {r.stream: [(d.field, d.expected, d.actual) for d in r.drift] for r in reports if r.drift}
    assert drifted == {f"PLAYLEDGER_COMMANDS/{INTAKE}": [("max_deliver", MAX_DELIVER, -1)]}
    assert (await js.consumer_info(COMMANDS_STREAM, INTAKE)).config.max_deliver == -1  # reported, not changed
