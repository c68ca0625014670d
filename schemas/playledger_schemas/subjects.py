"""NATS subjects and stream names: the map documented in ``schemas/README.md``."""

from __future__ import annotations

import re
from typing import Final

from playledger_schemas.ids import Priority

COMMANDS_STREAM: Final = "PLAYLEDGER_COMMANDS"
EVENTS_STREAM: Final = "PLAYLEDGER_EVENTS"

LEASES_STREAM: Final = "PLAYLEDGER_LEASES"
"""Executor liveness: one message per executor, renewed, expiring by per-message TTL."""

COMMAND_SUBJECTS: Final = "playledger.cmd.>"
LEASE_SUBJECTS: Final = "playledger.lease.>"
EVENT_SUBJECTS: Final = "playledger.evt.>"

ALL_JOB_EVENTS: Final = "playledger.evt.job.>"
LIFECYCLE_EVENTS: Final = "playledger.evt.job.*.job.*"
RUNNER_EVENTS: Final = "playledger.evt.job.*.runner.*"

_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")


def submit_subject(priority: Priority, job_id: str) -> str:
    return f"playledger.cmd.submit.{priority}.{job_id}"


def submit_filter(priority: Priority) -> str:
    return f"playledger.cmd.submit.{priority}.*"


def cancel_subject(job_id: str) -> str:
    return f"playledger.cmd.cancel.{job_id}"


CANCEL_FILTER: Final = "playledger.cmd.cancel.*"


def job_events_filter(job_id: str) -> str:
    """Every event of one job."""
    return f"playledger.evt.job.{job_id}.>"


def event_subject(job_id: str, kind: str) -> str:
    """``kind`` is ``job.<lifecycle>`` or ``runner.<ansible event name>`` (see ``events.event_kind``)."""
    return f"playledger.evt.job.{job_id}.{kind}"


def events_of_kind(kind: str) -> str:
    """One kind of event across all jobs, e.g. ``runner.runner_on_failed``."""
    return f"playledger.evt.job.*.{kind}"


def lease_subject(executor_id: str) -> str:
    """The lease of one executor (its id made one subject token)."""
    return f"playledger.lease.executor.{_UNSAFE.sub('_', executor_id)}"


def is_safe_token(value: str) -> bool:
    return bool(_TOKEN.match(value))


def job_id_of_subject(subject: str) -> str | None:
    """The job id token of a ``playledger.cmd.…`` or ``playledger.evt.job.…`` subject, if any."""
    parts = subject.split(".")
    if len(parts) >= 5 and parts[:3] == ["playledger", "cmd", "submit"]:
        return parts[4]
    if len(parts) >= 4 and parts[:3] in (["playledger", "cmd", "cancel"], ["playledger", "evt", "job"]):
        return parts[3]
    return None
