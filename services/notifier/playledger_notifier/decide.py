"""Pure decisions of the notifier: which stored events trigger a callback, how long to wait
before the next attempt, and when to give up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from playledger_schemas.commands import CallbackEvent
from playledger_schemas.events import TERMINAL_EVENT_TYPES, JobStarted, lifecycle_kind
from playledger_schemas.subjects import event_subject

TERMINAL_KINDS: Final = frozenset(lifecycle_kind(cls) for cls in TERMINAL_EVENT_TYPES)
"""``job.succeeded``, ``job.failed``, … ``job.rejected``: the subject kinds of terminal events."""
STARTED_KIND: Final = lifecycle_kind(JobStarted)
RUNNER_FAILED_KIND: Final = "runner.runner_on_failed"


def trigger_filters() -> list[str]:
    """The events stream subjects that can trigger a callback (the notifier's consumer filters)."""
    kinds = sorted(TERMINAL_KINDS | {STARTED_KIND, RUNNER_FAILED_KIND})
    return [event_subject("*", kind) for kind in kinds]


def callback_event(kind: str) -> CallbackEvent | None:
    """The ``callback_events`` value a stored event's kind answers to."""
    if kind in TERMINAL_KINDS:
        return "terminal"
    if kind == STARTED_KIND:
        return "job.started"
    if kind == RUNNER_FAILED_KIND:
        return "runner_on_failed"
    return None


def wants(kind: str, callback_url: str | None, callback_events: Sequence[str]) -> bool:
    """Whether a job with these options asked to be called for an event of ``kind``."""
    event = callback_event(kind)
    return callback_url is not None and event is not None and event in callback_events


def delivery_id(trigger_seq: int, target: str) -> str:
    """Stable across attempts, redeliveries and notifier restarts (one subject token)."""
    return f"{trigger_seq}-{target}"


def webhook_id(job_id: str, delivery: str) -> str:
    """The ``webhook-id`` header: the same for every attempt, so receivers can dedupe."""
    return f"{job_id}.{delivery}"


def backoff_s(attempt: int, *, first_s: float, cap_s: float, jitter: float) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …): doubling from ``first_s``, at most
    ``cap_s``, scaled by ``jitter`` in [0.5, 1] so that receivers coming back are not hit at once."""
    wait: float = min(cap_s, first_s * 2.0 ** (attempt - 1))
    return wait * min(1.0, max(0.5, jitter))


Step = Literal["retry", "dead"]


def after_failure(attempt: int, max_attempts: int) -> Step:
    return "dead" if attempt >= max_attempts else "retry"
