"""The read-model state of one job as the fold sees it, and the row changes a batch produces.

Plain frozen data: no IO. ``JobView`` mirrors a ``jobs`` row plus its ``job_hosts`` rows;
``BatchChanges`` is everything one transaction must write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

import msgspec

Status = Literal["queued", "running", "successful", "failed", "error", "canceled", "timeout", "rejected"]

TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(
    {"successful", "failed", "error", "canceled", "timeout", "rejected"}
)


class HostCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One ``job_hosts`` row without its keys: how many results of each kind a host had."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


ZERO: Final = HostCounts()


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """A ``jobs`` row and the job's host summaries; JSON columns hold builtins (dict/list)."""

    job_id: str
    status: Status
    created_at: datetime
    priority: str = "normal"
    source: Any = None
    inventory_summary: Any = None
    options: Any = None
    extra_vars: Any = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int = 0
    executor_id: str | None = None
    rc: int | None = None
    runner_status: str | None = None
    failure_reason: str | None = None
    rejection_errors: Any = None
    cancel_requested: bool = False
    current_play: str | None = None
    current_task: str | None = None
    event_count: int = 0
    runner_event_count: int = 0
    last_seq: int = 0
    last_stream_seq: int = 0
    terminal_seq: int | None = None
    submitted_by: Any = None
    """``{"key_id", "name"}`` of the API key that submitted the job (from ``job.queued``)."""
    hosts: dict[str, HostCounts] = msgspec.field(default_factory=dict)


EventRow = tuple[
    str,  # job_id
    int,  # seq
    int,  # stream_seq
    str,  # type
    str,  # event
    int,  # attempt
    int | None,  # counter
    str | None,  # host
    str | None,  # play
    str | None,  # task
    datetime,  # time
    str,  # stdout
    bool,  # truncated
    str,  # data (JSON text)
]
"""One ``job_events`` row, in ``EVENT_COLUMNS`` order (a tuple: it goes straight into COPY)."""

EVENT_COLUMNS: Final = (
    "job_id",
    "seq",
    "stream_seq",
    "type",
    "event",
    "attempt",
    "counter",
    "host",
    "play",
    "task",
    "time",
    "stdout",
    "truncated",
    "data",
)


class SkippedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A message the projector did not apply: unknown type, invalid, or a duplicate of a job seq."""

    stream_seq: int
    subject: str
    reason: str
    payload: bytes


class HostRow(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    host: str
    counts: HostCounts


class BatchChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Every row one batch writes, in one transaction, with the checkpoint it reaches."""

    jobs: list[JobView]
    host_upserts: list[HostRow]
    host_deletes: list[tuple[str, str]]
    events: list[EventRow]
    skipped: list[SkippedRow]
    first_stream_seq: int
    last_stream_seq: int
