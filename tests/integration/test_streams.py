"""The streams against a real nats-server: immutability, de-duplication, idempotent init, drift."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from nats.js import JetStreamContext
from nats.js.errors import APIError

from playledger_common.settings import CommonSettings
from playledger_common.streams import (
    commands_stream_config,
    ensure_streams,
    events_stream_config,
)
from playledger_schemas.subjects import EVENTS_STREAM, event_subject

pytestmark = pytest.mark.integration


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
    assert first.stdout.splitlines() == ["PLAYLEDGER_COMMANDS: created", "PLAYLEDGER_EVENTS: created"]
    second = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["PLAYLEDGER_COMMANDS: ok", "PLAYLEDGER_EVENTS: ok"]
