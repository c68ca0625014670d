"""The fold's state of one job, and the row changes a batch produces. Plain data: no IO.

``JobView`` is a ``jobs`` row plus its ``job_hosts`` counters; ``BatchChanges`` is everything
one transaction must write. The rows themselves are declared once, in
``playledger_common.readmodel``.
"""

from __future__ import annotations

from typing import Final

import msgspec

from playledger_common.readmodel import EventRow, HostCounts, HostRow, JobRow, SkippedRow

ZERO: Final = HostCounts()


class JobView(JobRow, kw_only=True):
    """A ``jobs`` row and the job's host summaries (host -> counters).

    Mutable like ``JobRow``: the fold changes only a copy it made itself (``fold.start``), so
    a view handed out (cached, compared, written) never changes afterwards.
    """

    hosts: dict[str, HostCounts] = msgspec.field(default_factory=dict)


class BatchChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Every row one batch writes, in one transaction, with the checkpoint it reaches."""

    jobs: list[JobView]
    host_upserts: list[HostRow]
    host_deletes: list[tuple[str, str]]
    events: list[EventRow]
    skipped: list[SkippedRow]
    first_stream_seq: int
    last_stream_seq: int
