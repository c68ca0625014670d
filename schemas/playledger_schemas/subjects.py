"""NATS subjects and stream names: the map documented in ``schemas/README.md``.

Two subject spaces carry events (invariant 11, "subscribers see only what the stream stored"):

- **append subjects** ``playledger.append.…``: what writers publish to and what
  ``PLAYLEDGER_EVENTS`` stores. Only executors may publish here.
- **dashboard subjects** ``playledger.evt.…``: the stream *republishes* every message it
  stored (JetStream ``RePublish``) from ``playledger.append.X`` to ``playledger.evt.X``.
  Nobody publishes here but the server, so a core subscriber never sees a refused or forged
  publish; each message carries ``Nats-Sequence`` (its stream sequence).

Functions that name a stream subject (``event_subject``, ``job_events_filter``) are the
append form; ``dashboard_…`` names the republished form.
"""

from __future__ import annotations

import re
from typing import Final

from playledger_schemas.ids import Priority

COMMANDS_STREAM: Final = "PLAYLEDGER_COMMANDS"
EVENTS_STREAM: Final = "PLAYLEDGER_EVENTS"

LEASES_STREAM: Final = "PLAYLEDGER_LEASES"
"""Executor liveness: one message per executor, renewed, expiring by per-message TTL."""

SCHEDULES_STREAM: Final = "PLAYLEDGER_SCHEDULES"
"""Delayed submits (``run_at``): JetStream message scheduling (``Nats-Schedule: @at …``, server
>= 2.12) on a stream of its own, never on the events stream (it would clear ``deny_purge``)."""

TEMPLATES_BUCKET: Final = "PLAYLEDGER_TEMPLATES"
"""Job templates, one key per name (a JetStream key-value bucket: stream ``KV_PLAYLEDGER_TEMPLATES``)."""
CRON_BUCKET: Final = "PLAYLEDGER_CRON"
"""Recurring schedules of templates, one key per name (stream ``KV_PLAYLEDGER_CRON``)."""
INVENTORIES_BUCKET: Final = "PLAYLEDGER_INVENTORIES"
"""Stored inventories, one key per name (stream ``KV_PLAYLEDGER_INVENTORIES``, every revision kept)."""


def bucket_stream(bucket: str) -> str:
    """The stream behind a key-value bucket."""
    return f"KV_{bucket}"


def bucket_subjects(bucket: str) -> str:
    """Where a key-value bucket's values are written."""
    return f"$KV.{bucket}.>"


WEBHOOKS_STREAM: Final = "PLAYLEDGER_WEBHOOKS"
"""Webhook delivery events (``playledger_schemas.webhooks``), written by the notifier."""

COMMAND_SUBJECTS: Final = "playledger.cmd.>"
WEBHOOK_SUBJECTS: Final = "playledger.webhook.>"
REDELIVER_SUBJECTS: Final = "playledger.redeliver.>"
"""Requests to deliver a webhook again (``POST …/webhooks/{delivery}/redeliver``), in ``PLAYLEDGER_WEBHOOKS``."""
LEASE_SUBJECTS: Final = "playledger.lease.>"
SCHEDULE_SUBJECTS: Final = "playledger.sched.>"
DUE_FILTER: Final = "playledger.sched.due.*"
"""Where fired schedules land (the executors' ``due`` consumer)."""

APPEND_PREFIX: Final = "playledger.append"
DASHBOARD_PREFIX: Final = "playledger.evt"

EVENT_SUBJECTS: Final = f"{APPEND_PREFIX}.>"
"""What ``PLAYLEDGER_EVENTS`` stores (the republish source)."""
DASHBOARD_SUBJECTS: Final = f"{DASHBOARD_PREFIX}.>"
"""Where ``PLAYLEDGER_EVENTS`` republishes what it stored (the republish destination)."""
LEGACY_EVENT_SUBJECTS: Final = DASHBOARD_SUBJECTS
"""What an events stream created before the append/dashboard split stored (see the migration)."""

WHOLE_STREAM: Final = ">"
"""A consumer filter for every message a stream holds, whatever subject it was stored under
(an events stream migrated from the legacy layout still holds ``playledger.evt.…`` messages)."""
ALL_JOB_EVENTS: Final = f"{APPEND_PREFIX}.job.>"
"""Every job event in the stream (a consumer filter)."""

LIFECYCLE_EVENTS: Final = f"{APPEND_PREFIX}.job.*.job.*"
"""Every job's lifecycle events in the stream (a consumer filter)."""
DASHBOARD_LIFECYCLE_EVENTS: Final = f"{DASHBOARD_PREFIX}.job.*.job.*"
DASHBOARD_RUNNER_EVENTS: Final = f"{DASHBOARD_PREFIX}.job.*.runner.*"

_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")


def submit_subject(priority: Priority, job_id: str) -> str:
    return f"playledger.cmd.submit.{priority}.{job_id}"


def submit_filter(priority: Priority) -> str:
    return f"playledger.cmd.submit.{priority}.*"


def cancel_subject(job_id: str) -> str:
    return f"playledger.cmd.cancel.{job_id}"


CANCEL_FILTER: Final = "playledger.cmd.cancel.*"
SUBMIT_SUBJECTS: Final = "playledger.cmd.submit.>"


def launch_subject(job_id: str) -> str:
    """Where a ``job.launch.v1`` (a job from a template) is published."""
    return f"playledger.cmd.launch.{job_id}"


LAUNCH_SUBJECTS: Final = "playledger.cmd.launch.>"


def any_submit_of(job_id: str) -> str:
    """A submit of this job at any priority (a commands-stream filter)."""
    return f"playledger.cmd.submit.*.{job_id}"


def job_events_filter(job_id: str) -> str:
    """Every stored event of one job (a stream filter; also the OCC subject of its writers)."""
    return f"{APPEND_PREFIX}.job.{job_id}.>"


def event_subject(job_id: str, kind: str) -> str:
    """Where a writer appends an event of ``kind``: ``job.<lifecycle>`` or ``runner.<ansible event>``."""
    return f"{APPEND_PREFIX}.job.{job_id}.{kind}"


def webhook_subject(job_id: str, delivery_id: str) -> str:
    """Where the notifier appends the attempts of one delivery (``delivery_id`` is one token)."""
    return f"playledger.webhook.{job_id}.{delivery_id}"


def redeliver_subject(job_id: str, delivery_id: str) -> str:
    return f"playledger.redeliver.{job_id}.{delivery_id}"


def job_webhooks_filter(job_id: str) -> str:
    """Every delivery event of one job (a ``PLAYLEDGER_WEBHOOKS`` filter)."""
    return f"playledger.webhook.{job_id}.>"


def rejected_subject(command_seq: int) -> str:
    """Where the rejection of a command that names no usable job is appended.

    The token is the command's stream sequence, not a job id, so no client can claim it and
    a garbage command never blocks a job id for its real owner.
    """
    return f"{APPEND_PREFIX}.rejected.{command_seq}"


def is_command_rejection(subject: str) -> bool:
    return subject.startswith(f"{APPEND_PREFIX}.rejected.")


def kind_of(subject: str, job_id: str) -> str:
    """``playledger.append.job.<id>.runner.runner_on_ok`` -> ``runner.runner_on_ok`` (either prefix)."""
    for prefix in (APPEND_PREFIX, DASHBOARD_PREFIX):
        head = f"{prefix}.job.{job_id}."
        if subject.startswith(head):
            return subject[len(head) :]
    return subject


def dashboard_job_filter(job_id: str) -> str:
    """What a dashboard subscribes to (core NATS) for one job: the republished events."""
    return f"{DASHBOARD_PREFIX}.job.{job_id}.>"


def dashboard_lifecycle_filter(job_id: str) -> str:
    """One job's lifecycle events as the stream republishes them (``job.started``, the terminal one…)."""
    return f"{DASHBOARD_PREFIX}.job.{job_id}.job.*"


def dashboard_subject(stored_subject: str) -> str:
    """The subject the stream republishes a stored message on."""
    return DASHBOARD_PREFIX + stored_subject.removeprefix(APPEND_PREFIX)


def events_of_kind(kind: str) -> str:
    """One kind of event across all jobs, e.g. ``runner.runner_on_failed`` (dashboard form)."""
    return f"{DASHBOARD_PREFIX}.job.*.{kind}"


def schedule_subject(job_id: str) -> str:
    """The schedule of a job's ``run_at`` (one schedule per subject: per job)."""
    return f"playledger.sched.at.{job_id}"


def due_subject(job_id: str) -> str:
    """Where the server puts the job's submit when its schedule fires."""
    return f"playledger.sched.due.{job_id}"


SECRETS_REQUESTS: Final = "playledger.secrets.*"
"""Request/reply (core NATS, no stream): an executor asks the API for the secrets of the job it
runs; the reply is sealed to the executor's one-time public key (``playledger_common.sealing``)."""


def secrets_subject(job_id: str) -> str:
    return f"playledger.secrets.{job_id}"


def lease_subject(executor_id: str) -> str:
    """The lease of one executor (its id made one subject token)."""
    return f"playledger.lease.executor.{_UNSAFE.sub('_', executor_id)}"


def is_safe_token(value: str) -> bool:
    return bool(_TOKEN.match(value))


def job_id_of_subject(subject: str) -> str | None:
    """The job id token of a ``playledger.cmd.…`` or job event subject (either prefix), if any."""
    parts = subject.split(".")
    if len(parts) >= 5 and parts[:3] == ["playledger", "cmd", "submit"]:
        return parts[4]
    if len(parts) >= 4 and parts[:3] in (
        ["playledger", "sched", "due"],
        ["playledger", "cmd", "cancel"],
        ["playledger", "cmd", "launch"],
        ["playledger", "append", "job"],
        ["playledger", "evt", "job"],
    ):
        return parts[3]
    return None
