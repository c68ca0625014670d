"""The SSE wire format of job events: ``id:`` = stream sequence, ``event:`` = kind, ``data:`` = event JSON.

Pure functions; every event is encoded once (``entry``) and the bytes are shared by every
client that is sent it. Delivery lives in ``live`` (one client), ``fanout`` (one shared
consumer per job) and ``consumer`` (one client's own consumer).
"""

from __future__ import annotations

from typing import Final

import msgspec

from playledger_api.backlog import Entry
from playledger_schemas.subjects import kind_of

TERMINAL_KINDS: Final = frozenset(
    {"job.succeeded", "job.failed", "job.canceled", "job.timed_out", "job.error", "job.rejected"}
)
END_EVENT: Final = "end"
KEEPALIVE: Final = b": keepalive\n\n"


class EndData(msgspec.Struct, frozen=True, kw_only=True):
    """Data of the final ``end`` event: the job is terminal and every event was sent."""

    job_id: str
    outcome: str
    """The terminal event's kind, e.g. ``job.succeeded``."""
    last_event_id: int


def sse_event_name(kind: str) -> str:
    """The SSE ``event:``: lifecycle kinds as they are (``job.started``), runner events by name."""
    return kind.removeprefix("runner.")


def encode_event(seq: int, name: str, data: bytes) -> bytes:
    """One SSE message; JSON never needs a raw newline, but a pretty-printed payload still stays one event."""
    if b"\n" in data or b"\r" in data:
        data = b"\ndata: ".join(data.splitlines())
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, name.encode(), data)


def end_message(job_id: str, kind: str, seq: int) -> bytes:
    data = msgspec.json.encode(EndData(job_id=job_id, outcome=kind, last_event_id=seq))
    return b"event: %s\ndata: %s\n\n" % (END_EVENT.encode(), data)


def entry(job_id: str, seq: int, subject: str, data: bytes, *, admitted: bool = True) -> Entry:
    """A job event from the stream as SSE bytes; the terminal one carries ``event: end`` too.

    An event the writer gate did not admit keeps its stream position and sends nothing."""
    if not admitted:
        return Entry(seq=seq, message=b"", terminal=False)
    kind = kind_of(subject, job_id)
    message = encode_event(seq, sse_event_name(kind), data)
    terminal = kind in TERMINAL_KINDS
    if terminal:
        message += end_message(job_id, kind, seq)
    return Entry(seq=seq, message=message, terminal=terminal)
