"""Oversized runner output is cut in the event and the cut is recorded precisely."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from playledger_executor.truncate import MAX_EVENT_DATA_BYTES, cut_text, fit, safe_event_name, to_event_data
from playledger_schemas.events import RunnerEventData

pytestmark = pytest.mark.unit

LIMIT = 1024


def raw(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event": "runner_on_ok", "counter": 4, "uuid": "u-1", "stdout": "ok", "pid": 12}
    base.update(kw)
    return base


def test_small_events_are_kept_as_runner_emitted_them() -> None:
    data = to_event_data(raw(event_data={"host": "h", "res": {"changed": False, "msg": "hi"}}), LIMIT)
    assert data.stdout == "ok"
    assert data.event_data == {"host": "h", "res": {"changed": False, "msg": "hi"}}
    assert data.truncated == []
    assert (data.counter, data.uuid, data.pid, data.parent_uuid) == (4, "u-1", 12, None)


def test_long_stdout_is_cut_with_sizes() -> None:
    data = to_event_data(raw(stdout="é" * 1000), LIMIT)  # 2000 bytes
    assert len(data.stdout.encode()) <= LIMIT
    assert data.stdout == "é" * 512
    (cut,) = data.truncated
    assert (cut.field, cut.original_size, cut.kept_size) == ("stdout", 2000, 1024)


def test_cut_never_splits_a_character() -> None:
    kept, cut = cut_text("aé" * 600, 1023)
    assert cut is not None
    kept.encode()  # valid text
    assert cut.kept_size == len(kept.encode()) <= 1023


def test_large_res_keeps_status_keys() -> None:
    res = {"changed": True, "failed": True, "rc": 3, "stdout": "y" * 5000, "stdout_lines": ["y" * 5000]}
    data = to_event_data(raw(event_data={"host": "h", "res": res}), LIMIT)
    kept = data.event_data["res"]
    assert (kept["changed"], kept["failed"], kept["rc"]) == (True, True, 3)
    assert kept["truncated"].startswith('{"changed":true')
    (cut,) = data.truncated
    assert cut.field == "event_data.res"
    assert cut.original_size == len(msgspec.json.encode(res))
    assert cut.kept_size == len(msgspec.json.encode(kept))
    assert data.event_data["host"] == "h"


def test_huge_other_event_data_is_reduced_to_fit_a_message() -> None:
    data = to_event_data(
        raw(event_data={"host": "h", "diff": [{"after": "z" * (MAX_EVENT_DATA_BYTES + 10)}]}), LIMIT
    )
    assert data.event_data == {"host": "h"}
    assert data.truncated[-1].field == "event_data"
    assert len(msgspec.json.encode(data)) < 1024 * 1024


def test_synthetic_verbose_events_have_no_event_data() -> None:
    data = to_event_data(
        {"event": "verbose", "counter": 1, "uuid": "v", "stdout": "No config file found"}, LIMIT
    )
    assert data.event_data == {}
    assert data.stdout == "No config file found"


def test_event_names_become_safe_subject_tokens() -> None:
    assert safe_event_name("runner_on_ok") == "runner_on_ok"
    assert safe_event_name("weird.name *>") == "weird_name___"
    assert safe_event_name("") == "unknown"


def line_of(data: dict[str, Any]) -> bytes:
    """A worker event line as ansible-runner writes it (``json.dumps``: ``", "`` separators, ASCII)."""
    return json.dumps(data).encode()


def test_a_line_decoded_once_equals_the_general_path() -> None:
    event = raw(
        parent_uuid="p-1",
        created="2026-12-03T14:00:00.123456",
        start_line=3,
        end_line=5,
        stdout="ok: [h] \u00e9 \x1b[0;32m",
        event_data={"host": "h", "res": {"changed": False, "msg": "h\u00e9", "n": 1.5}, "task": "t"},
        runner_ident="r",  # runner's keys the event does not carry are ignored on both paths
    )
    line = line_of(event)
    fast = fit(msgspec.json.decode(line, type=RunnerEventData), len(line), LIMIT)
    assert fast == to_event_data(json.loads(line), LIMIT)


def test_a_long_line_is_cut_as_on_the_general_path() -> None:
    event = raw(stdout="é" * 1000, event_data={"host": "h", "res": {"msg": "x" * 2000, "changed": True}})
    line = line_of(event)
    fast = fit(msgspec.json.decode(line, type=RunnerEventData), len(line), LIMIT)
    assert fast == to_event_data(json.loads(line), LIMIT)
    assert [t.field for t in fast.truncated] == ["stdout", "event_data.res"]


def test_a_line_of_half_the_limit_needs_no_cut() -> None:
    """``fit``'s shortcut holds: nothing in a line re-encodes longer than the line."""
    for text in ("a" * 100, "é" * 20, "\x1b" * 15, "😀" * 8):
        event = raw(stdout=text, event_data={"res": {"msg": text, "f": 0.1}})
        line = line_of(event)
        data = msgspec.json.decode(line, type=RunnerEventData)
        assert len(data.stdout.encode()) <= len(line)
        assert len(msgspec.json.encode(data.event_data)) <= len(line)
        assert len(line) <= LIMIT // 2
        assert fit(data, len(line), LIMIT) is data
