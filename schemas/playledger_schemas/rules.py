"""The writer rules readers may rely on (``schemas/README.md``), as one pure check.

The projector and the API fold or forward only events that keep them; an event that breaks
one is counted, logged and ignored, so a forged or misdirected append never becomes truth.
"""

from __future__ import annotations

from typing import Final

import msgspec

from playledger_schemas.events import TERMINAL_EVENT_TYPES

TERMINAL_TAGS: Final = frozenset(str(t.__struct_config__.tag) for t in TERMINAL_EVENT_TYPES)


class JobTrack(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader knows of a job's events so far (``last_seq`` 0: none yet)."""

    last_seq: int = 0
    terminal: bool = False


def writer_rule_broken(track: JobTrack, seq: int) -> str | None:
    """Why an event at job ``seq`` cannot follow ``track``, or ``None`` when it keeps the rules.

    Events at or below ``last_seq`` are the caller's business (duplicates, replays).
    """
    if track.terminal:
        return f"seq {seq} comes after the job's terminal event"
    if seq > track.last_seq + 1:
        return f"seq {seq} leaves a gap (the job's last seq is {track.last_seq})"
    return None


def after(track: JobTrack, seq: int, *, terminal: bool) -> JobTrack:
    """The track once an event at ``seq`` that keeps the rules is folded in."""
    return JobTrack(last_seq=max(track.last_seq, seq), terminal=track.terminal or terminal)
