"""The pure playbook timeline: runner events in, plays / tasks / host results out."""

from __future__ import annotations

from typing import Any

import pytest

from playledger_executor.timeline import timeline, to_ns
from playledger_schemas.events import RunnerEventData

pytestmark = pytest.mark.unit


def _event(counter: int, event: str, created: str, **event_data: Any) -> RunnerEventData:
    return RunnerEventData(
        event=event,
        counter=counter,
        uuid=f"u{counter}",
        created=f"2026-12-03T10:00:{created}",
        event_data=event_data,
    )


def _events() -> list[RunnerEventData]:
    return [
        _event(1, "playbook_on_start", "00.000"),
        _event(2, "playbook_on_play_start", "01.000", play="one", play_uuid="p1"),
        _event(3, "playbook_on_task_start", "02.000", task="t1", task_uuid="t1", task_action="debug"),
        _event(4, "runner_on_start", "02.100", host="a", task_uuid="t1"),
        _event(
            5,
            "runner_on_ok",
            "03.000",
            host="a",
            task_uuid="t1",
            start="2026-12-03T10:00:02.200",
            end="2026-12-03T10:00:02.900",
            res={"changed": True, "msg": "******"},
        ),
        _event(6, "runner_on_failed", "03.500", host="b", task_uuid="t1", ignore_errors=True, res={}),
        _event(7, "playbook_on_task_start", "04.000", task="t2", task_uuid="t2"),
        _event(8, "runner_on_unreachable", "06.000", host="b", task_uuid="t2", res={}),
        _event(9, "playbook_on_play_start", "07.000", play="two", play_uuid="p2"),
        _event(10, "playbook_on_task_start", "08.000", task="t3", task_uuid="t3"),
        _event(11, "runner_on_skipped", "08.500", host="a", task_uuid="t3"),
        _event(12, "playbook_on_stats", "09.000"),
    ]


def test_plays_hold_tasks_hold_host_results_with_the_events_times_and_flags() -> None:
    plans = {plan.key: plan for plan in timeline(_events())}
    assert list(plans) == [
        "play:p1", "task:t1", "host:t1:a", "host:t1:b", "task:t2", "host:t2:b", "play:p2", "task:t3", "host:t3:a",
    ]  # fmt: skip
    at = to_ns
    one, t1, ok = plans["play:p1"], plans["task:t1"], plans["host:t1:a"]
    assert (one.parent, t1.parent, ok.parent) == (None, "play:p1", "task:t1")
    assert (one.start_ns, one.end_ns) == (at("2026-12-03T10:00:01"), at("2026-12-03T10:00:07"))
    assert (t1.start_ns, t1.end_ns) == (at("2026-12-03T10:00:02"), at("2026-12-03T10:00:04"))
    assert (ok.start_ns, ok.end_ns) == (at("2026-12-03T10:00:02.200"), at("2026-12-03T10:00:02.900"))
    assert ok.attributes == {
        "ansible.host": "a",
        "ansible.task": "t1",
        "ansible.status": "ok",
        "ansible.changed": True,
        "ansible.failed": False,
        "ansible.ignore_errors": False,
    }
    ignored = plans["host:t1:b"]  # no event_data start/end: from runner_on_start (none) to its event
    assert (ignored.start_ns, ignored.end_ns) == (at("2026-12-03T10:00:03.500"),) * 2
    assert ignored.attributes["ansible.failed"] is True
    assert not ignored.failed  # ignore_errors: not an error of the task
    assert not t1.failed
    assert plans["host:t2:b"].failed
    assert plans["task:t2"].failed
    assert one.failed
    assert plans["host:t2:b"].attributes["ansible.status"] == "unreachable"
    assert plans["task:t2"].end_ns == at("2026-12-03T10:00:07")
    two = plans["play:p2"]
    assert not two.failed
    assert (two.start_ns, two.end_ns) == (at("2026-12-03T10:00:07"), at("2026-12-03T10:00:09"))
    assert plans["host:t3:a"].attributes["ansible.status"] == "skipped"


def test_a_run_cut_short_ends_its_open_play_and_task_at_the_last_event() -> None:
    plans = {plan.key: plan for plan in timeline(_events()[:8])}
    assert plans["play:p1"].end_ns == plans["task:t2"].end_ns == to_ns("2026-12-03T10:00:06")


def test_only_names_hosts_and_flags_become_attributes_never_a_result() -> None:
    plans = timeline(_events())
    values = [str(v) for plan in plans for v in plan.attributes.values()]
    assert "******" not in values
    assert all(set(plan.attributes) <= {"ansible.play", "ansible.task", "ansible.action", "ansible.host",
               "ansible.status", "ansible.changed", "ansible.failed", "ansible.ignore_errors"} for plan in plans)  # fmt: skip


def test_times_are_read_as_utc_and_bad_ones_ignored() -> None:
    assert to_ns("1970-01-01T00:00:01") == 1_000_000_000
    assert to_ns("1970-01-01T01:00:01+01:00") == 1_000_000_000
    assert to_ns("not a time") is None
    assert to_ns(None) is None
