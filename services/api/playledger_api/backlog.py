"""The pure core of SSE delivery: which events a client gets next, exactly once and in order.

A client's position is the stream sequence of the last event it was sent (or its resume
point). Whatever the source (the shared buffer of a job, a backlog replay, a consumer that
was reset), an event at or below the position is skipped, and a chunk ends with the job's
terminal event. No IO here: the shells (``fanout``, ``consumer``, ``live``) feed it entries.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

MAX_BATCH: Final = 256
"""Most events written to a client in one chunk (one ASGI send)."""
FLOOR_SPAN: Final = 8
"""A new feed replays from its first client's position when it is at most this many rings back (in stream sequences)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One job event, encoded once as SSE bytes (plus ``event: end`` when it is the terminal one)."""

    seq: int
    message: bytes
    terminal: bool


@dataclass(frozen=True, slots=True)
class Piece:
    """What one client is sent next: ``count`` events in one chunk, ending at ``last``."""

    chunk: bytes
    last: int
    count: int
    finished: bool


def take(entries: Sequence[Entry], after: int, limit: int = MAX_BATCH) -> Piece | None:
    """The next chunk for a client at ``after``: entries above it, in order, up to the terminal one.

    ``entries`` are in stream order (any that are not above ``after`` are skipped, so a replay
    that overlaps what was sent never duplicates); ``None`` when nothing is new.
    """
    chosen: list[bytes] = []
    last = after
    finished = False
    for entry in entries:
        if entry.seq <= last:
            continue
        chosen.append(entry.message)
        last = entry.seq
        if entry.terminal:
            finished = True
            break
        if len(chosen) == limit:
            break
    if not chosen:
        return None
    return Piece(chunk=b"".join(chosen), last=last, count=len(chosen), finished=finished)


@dataclass(slots=True)
class Ring:
    """A job's recent events, shared by every client that watches it live.

    The ring holds EVERY event of the job with a sequence in ``(floor, head]``; a client whose
    position is at or above ``floor`` is served from it, one below (it fell behind, or joined
    with an older resume point) must catch up elsewhere first. Appending never waits for a
    client: when the ring is full the oldest events go and ``floor`` rises.
    """

    capacity: int
    floor: int
    head: int = -1
    _seqs: list[int] = field(default_factory=list)
    _entries: list[Entry] = field(default_factory=list)
    _pieces: dict[tuple[int, int], Piece | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            msg = "a ring holds at least one event"
            raise ValueError(msg)
        self.head = max(self.head, self.floor)

    def __len__(self) -> int:
        return len(self._entries)

    def covers(self, position: int) -> bool:
        """Every event after ``position`` is (or will be) in the ring."""
        return position >= self.floor

    def append(self, entry: Entry) -> bool:
        """Add the next event; ``False`` (ignored) for one at or below ``head`` (a consumer reset)."""
        if entry.seq <= self.head:
            return False
        self._seqs.append(entry.seq)
        self._entries.append(entry)
        self.head = entry.seq
        self._pieces.clear()
        excess = len(self._entries) - self.capacity
        if excess > 0:
            # Drop in slices of an eighth, so the list shifts rarely (amortised O(1) per append).
            drop = max(excess, self.capacity // 8)
            self.floor = self._seqs[drop - 1]
            del self._seqs[:drop]
            del self._entries[:drop]
        return True

    def after(self, position: int, limit: int = MAX_BATCH) -> Piece | None:
        """The next chunk for a client at ``position`` (which the ring must cover).

        Clients in step ask the same question between two appends; the answers are reused.
        """
        if not self.covers(position):
            msg = f"position {position} is below the ring's floor {self.floor}"
            raise ValueError(msg)
        key = (position, limit)
        if key in self._pieces:
            return self._pieces[key]
        start = bisect.bisect_right(self._seqs, position)
        piece = self._pieces[key] = take(self._entries[start : start + limit], position, limit)
        return piece


def feed_floor(position: int, last_seq: int, capacity: int) -> int:
    """Where a new shared feed of a job starts (it then holds every event after it).

    At the first client's position when the job's events since then probably fit in the ring
    (that client, and others like it, need no replay of their own; sequences are stream-wide,
    so their distance overstates the job's events and the bound is generous); else at the
    job's latest event, and clients further back replay up to there on their own first.
    ``last_seq`` is a real event of the job (or 0), so a client replaying towards it gets there.
    Either choice is correct; this one only decides who replays the job's history.
    """
    if last_seq - position <= capacity * FLOOR_SPAN:
        return min(position, last_seq)
    return last_seq
