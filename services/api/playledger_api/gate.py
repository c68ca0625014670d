"""What one SSE source forwards of a job's stream: only events that keep the writer rules.

A source (a job's shared feed, or one client's own consumer) reads the job's events in stream
order, often from the middle of the job: the first event it sees is its baseline. After that
an event past the terminal one, or one that leaves a seq gap, or one that is not an event at
all, is logged, counted and sent to nobody (its stream position still counts, so nothing
waits for it).
"""

from __future__ import annotations

import logging
from typing import Final

import msgspec

from playledger_api.metrics import Metrics
from playledger_schemas.rules import TERMINAL_TAGS, JobTrack, after, writer_rule_broken

log: Final = logging.getLogger(__name__)


class _Envelope(msgspec.Struct):
    seq: int
    type: str


_envelope: Final = msgspec.json.Decoder(_Envelope)


class WriterGate:
    def __init__(self, job_id: str, metrics: Metrics) -> None:
        self.job_id = job_id
        self.metrics = metrics
        self.track: JobTrack | None = None

    def admit(self, stream_seq: int, data: bytes) -> bool:
        try:
            envelope = _envelope.decode(data)
        except msgspec.DecodeError:
            return self._ignore(stream_seq, "not a job event")
        terminal = envelope.type in TERMINAL_TAGS
        if self.track is None:
            start = JobTrack(last_seq=envelope.seq - 1)
            self.track = after(start, envelope.seq, terminal=terminal, tag=envelope.type)
            return True
        if envelope.seq <= self.track.last_seq:
            return self._ignore(stream_seq, f"seq {envelope.seq} is a duplicate")
        if broken := writer_rule_broken(self.track, envelope.seq, envelope.type):
            return self._ignore(stream_seq, broken)
        self.track = after(self.track, envelope.seq, terminal=terminal, tag=envelope.type)
        return True

    def _ignore(self, stream_seq: int, why: str) -> bool:
        self.metrics.sse_events_ignored.inc()
        log.warning("SSE %s: stream seq %d not sent (writer rule broken): %s", self.job_id, stream_seq, why)
        return False
