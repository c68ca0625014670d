"""The handle on a job running in this executor: how the cancel watcher, the timeout and
shutdown ask it to stop (the run itself notices through ``stop``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class RunningJob:
    """Handle on a job running in this executor; the cancel watcher and shutdown use it."""

    job_id: str
    attempt: int
    command_seq: int
    stop_reason: str | None = None
    timed_out: bool = False
    finished: bool = False
    """Set once the worker's stream ended: a later cancel changes nothing."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when this executor is done with the attempt (terminal event stored, or fenced)."""

    def cancel(self, reason: str) -> None:
        if not self.stop.is_set() and not self.finished:
            self.stop_reason = reason
            self.stop.set()

    def time_out(self) -> None:
        if not self.stop.is_set() and not self.finished:
            self.timed_out = True
            self.stop.set()
