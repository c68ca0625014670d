"""The writer rules readers may rely on (``schemas/README.md``), as one pure check.

The projector and the API fold or forward only events that keep them; an event that breaks
one is counted, logged and ignored, so a forged or misdirected append never becomes truth.
"""

from __future__ import annotations

from typing import Final

import msgspec

from playledger_schemas.events import TERMINAL_EVENT_TYPES, JobDead, JobRetryRequested

TERMINAL_TAGS: Final = frozenset(str(t.__struct_config__.tag) for t in TERMINAL_EVENT_TYPES)
DEAD_TAG: Final = str(JobDead.__struct_config__.tag)
REOPEN_TAG: Final = str(JobRetryRequested.__struct_config__.tag)
"""The one event that may follow a terminal event: ``job.retry_requested`` after ``job.dead``."""


class JobTrack(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader knows of a job's events so far (``last_seq`` 0: none yet)."""

    last_seq: int = 0
    terminal: bool = False
    dead: bool = False
    """The terminal event was ``job.dead``: a ``job.retry_requested`` may reopen the job."""


def writer_rule_broken(track: JobTrack, seq: int, tag: str | None = None) -> str | None:
    """Why an event at job ``seq`` (of type ``tag``) cannot follow ``track``, or ``None`` when it
    keeps the rules.

    Events at or below ``last_seq`` are the caller's business (duplicates, replays).
    """
    if track.terminal and not (track.dead and tag == REOPEN_TAG):
        return f"seq {seq} comes after the job's terminal event"
    if seq > track.last_seq + 1:
        return f"seq {seq} leaves a gap (the job's last seq is {track.last_seq})"
    return None


def after(track: JobTrack, seq: int, *, terminal: bool, tag: str | None = None) -> JobTrack:
    """The track once an event at ``seq`` (of type ``tag``) that keeps the rules is folded in."""
    if tag == REOPEN_TAG:
        return JobTrack(last_seq=max(track.last_seq, seq))
    return JobTrack(
        last_seq=max(track.last_seq, seq),
        terminal=track.terminal or terminal,
        dead=track.dead or (terminal and tag == DEAD_TAG),
    )
