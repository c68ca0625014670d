"""One status vocabulary: the words, the one event -> status mapping, and the README table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from playledger_schemas.codec import decode_event, encode
from playledger_schemas.events import (
    OUTCOME_EVENTS,
    TERMINAL_EVENTS,
    TERMINAL_KINDS,
    JobEvent,
    RunnerStatus,
    is_terminal,
    lifecycle_kind,
    terminal_status,
)
from playledger_schemas.status import JOB_STATUSES, RESULT_STATUSES, TERMINAL_STATUSES, is_terminal_status
from tests.projector.factory import JobBuilder

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_words_are_ansible_runners_plus_queued_running_rejected() -> None:
    assert JOB_STATUSES == (
        "queued",
        "running",
        "scheduled",
        "waiting",
        "successful",
        "failed",
        "timeout",
        "canceled",
        "error",
        "rejected",
        "dead",
    )
    assert set(get_args(RunnerStatus)) == RESULT_STATUSES
    assert RESULT_STATUSES | {"rejected", "dead"} == TERMINAL_STATUSES
    assert not is_terminal_status("running")
    assert is_terminal_status("timeout")


def test_each_terminal_event_sets_one_status_and_no_other_event_does() -> None:
    assert {lifecycle_kind(cls): status for status, cls in TERMINAL_EVENTS.items()} == {
        "job.succeeded": "successful",
        "job.failed": "failed",
        "job.timed_out": "timeout",
        "job.canceled": "canceled",
        "job.error": "error",
        "job.rejected": "rejected",
        "job.dead": "dead",
    }
    assert {lifecycle_kind(cls): status for status, cls in TERMINAL_EVENTS.items()} == TERMINAL_KINDS
    assert set(TERMINAL_EVENTS) == TERMINAL_STATUSES
    assert set(OUTCOME_EVENTS) == RESULT_STATUSES
    b = JobBuilder("j1").queued(["h"]).started(["h"]).runner("runner_on_ok", host="h", res={})
    b.cancel_requested()
    b.retry_scheduled()
    for cls in OUTCOME_EVENTS.values():
        b.result(cls)
    b.rejected("bad")
    b.dead([])
    b.retry_requested()
    seen = {type(e) for e in b.events}
    assert seen == set(JobEvent.__args__), "the builder covers every event type"
    for event in b.events:
        status = terminal_status(event)
        assert (status is not None) == is_terminal(event)
        assert status is None or TERMINAL_EVENTS[status] is type(event)
        assert terminal_status(decode_event(encode(event))) == status, "decoded events map alike"


def test_the_readme_documents_every_status_with_the_event_that_sets_it() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Job statuses") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+?) \| (.+?) \|$", section, flags=re.MULTILINE)
    assert tuple(status for status, _, _ in rows) == JOB_STATUSES
    for status, _, set_by in rows:
        if status in TERMINAL_EVENTS:
            assert f"`{lifecycle_kind(TERMINAL_EVENTS[status])}`" in set_by, status
