"""The writer rules readers may rely on (``schemas/README.md``), as one pure check.

The projector and the API fold or forward only events that keep them; an event that breaks
one is counted, logged and ignored, so a forged or misdirected append never becomes truth.
"""

from __future__ import annotations

import msgspec

from playledger_schemas.events import JobEvent, is_terminal


class JobTrack(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader knows of a job's events so far (``last_seq`` 0: none yet)."""

    last_seq: int = 0
    terminal: bool = False


def writer_rule_broken(track: JobTrack, event: JobEvent) -> str | None:
    """Why ``event`` cannot follow ``track``, or ``None`` when it keeps the rules.

    Events at or below ``last_seq`` are the caller's business (duplicates, late arrivals).
    """
    if track.terminal:
        return f"seq {event.seq} comes after the job's terminal event"
    if event.seq > track.last_seq + 1:
        return f"seq {event.seq} leaves a gap (the job's last seq is {track.last_seq})"
    return None


def after(track: JobTrack, event: JobEvent) -> JobTrack:
    """The track once ``event`` (which keeps the rules) is folded in."""
    return JobTrack(last_seq=max(track.last_seq, event.seq), terminal=track.terminal or is_terminal(event))
