"""Oversized runner output is cut in the event and the cut is recorded precisely."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from playledger_executor.truncate import MAX_EVENT_DATA_BYTES, cut_text, safe_event_name, to_event_data

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
