"""The job status document: what ``GET /api/v1/jobs/{id}`` answers and what a webhook carries.

One definition for the API and the notifier, built from a ``jobs`` read-model row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec

from playledger_common.readmodel import JobRow
from playledger_schemas.commands import ChainLinkName, ChainParent, RetryCause, Submitter, TemplateRef
from playledger_schemas.ids import Priority
from playledger_schemas.status import JobStatus, ResultStatus, TerminalStatus, is_terminal_status


class Links(msgspec.Struct, frozen=True, kw_only=True):
    self: str
    events: str
    hosts: str
    logs: str
    stream: str


def links(job_id: str) -> Links:
    base = f"/api/v1/jobs/{job_id}"
    return Links(
        self=base,
        events=f"{base}/events",
        hosts=f"{base}/hosts",
        logs=f"{base}/logs",
        stream=f"{base}/stream",
    )


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    current_play: str | None
    current_task: str | None
    hosts_total: int
    hosts_ok: int
    hosts_changed: int
    hosts_failed: int
    hosts_unreachable: int
    hosts_skipped: int


class AttemptItem(msgspec.Struct, frozen=True, kw_only=True):
    """How one attempt of a job ended."""

    attempt: int
    status: ResultStatus
    cause: RetryCause | None = None
    """What a retry policy calls it (``executor_lost``, ``failed``, …); ``null``: never retried."""
    reason: str | None = None
    rc: int | None = None
    ended_at: datetime


class ChildItem(msgspec.Struct, frozen=True, kw_only=True):
    """A job this job's end launched through its template's chain."""

    id: str
    link: ChainLinkName
    index: int
    """The link's position in the template's ``on_success`` / ``on_failure``."""
    status: JobStatus


class JobStatusResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A job as projected from its events."""

    id: str
    status: JobStatus
    priority: Priority
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    """The current (or last) attempt: 0 before an executor took the job."""
    max_attempts: int
    """How many attempts the job's retry policy allows."""
    attempts: list[AttemptItem]
    """Every attempt that ended, with its outcome and reason."""
    run_at: datetime | None
    """Status ``scheduled``: when the job starts (its ``run_at``, or its next attempt's time)."""
    dead_letter: bool
    """Dead (every allowed attempt failed) or ended by the poison path (a command no executor
    could handle): listed by ``GET /api/v1/jobs?dead_letter=true``."""
    depends_on: list[str]
    """The jobs it waited (or waits, status ``waiting``) for."""
    template: TemplateRef | None = None
    """The template (name and version) it was launched from; ``null``: submitted as it is."""
    parent: ChainParent | None = None
    """The job whose end launched this one through its template's chain (and which link)."""
    children: list[ChildItem] = msgspec.field(default_factory=list)
    """The jobs its end launched through its template's chain, as projected so far."""
    executor_id: str | None
    source: dict[str, Any] | None
    inventory: dict[str, Any] | None
    """A summary: type, host count, group names."""
    options: dict[str, Any] | None
    progress: Progress
    result: TerminalStatus | None
    """The terminal status, once the terminal event is projected."""
    runner_status: str | None
    rc: int | None
    failure_reason: str | None
    rejection_errors: list[dict[str, Any]] | None
    cancel_requested: bool
    submitted_by: Submitter | None
    """The API key (id and name) that submitted the job; never its secret."""
    event_count: int
    runner_event_count: int
    last_seq: int
    """The last per-job sequence projected."""
    last_projected_seq: int
    """Stream sequence of this job's last projected event."""
    projection_seq: int
    """Stream sequence up to which the projector has applied every event (all jobs)."""
    complete: bool
    """True once the terminal event is projected: every event of the job is queryable."""
    log_url: str
    """The job's complete stdout (``GET``: a redirect to log storage, or the bytes)."""
    log: ObjectItem | None = None
    """The finished log as stored (size, sha256) once the job ended; ``null`` before, or when log
    storage did not take it (``missing_objects`` says why)."""
    artifacts: list[ObjectItem] = msgspec.field(default_factory=list)
    """The runner's artifacts and ``set_stats`` data (``artifact_data.json``) of the last attempt."""
    missing_objects: list[MissingItem] = msgspec.field(default_factory=list)
    """Objects log storage did not take before the job ended."""
    links: Links


class ObjectItem(msgspec.Struct, frozen=True, kw_only=True):
    """An object in log storage: ``url`` serves it (a redirect to storage, or the bytes)."""

    name: str
    size: int
    sha256: str
    url: str


class MissingItem(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    reason: str


def job_status(row: JobRow, projection_seq: int, children: list[Any] | None = None) -> JobStatusResponse:
    """The API's view of a ``jobs`` row; ``projection_seq`` is the projector's checkpoint,
    ``children`` what ``readmodel.JOB_SQL`` reads as such."""
    job_id = row.job_id
    complete = row.terminal_seq is not None
    return JobStatusResponse(
        id=job_id,
        status=row.status,
        priority=row.priority,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempt=row.attempt,
        max_attempts=row.max_attempts,
        attempts=msgspec.convert(row.attempts or [], list[AttemptItem]),
        run_at=row.run_at,
        depends_on=row.depends_on or [],
        dead_letter=row.dead_letter,
        template=None
        if row.template is None
        else TemplateRef(name=row.template, version=row.template_version or 1),
        parent=None if row.parent is None else msgspec.convert(row.parent, ChainParent),
        children=msgspec.convert(children or [], list[ChildItem]),
        executor_id=row.executor_id,
        source=row.source,
        inventory=row.inventory_summary,
        options=row.options,
        progress=Progress(
            current_play=row.current_play,
            current_task=row.current_task,
            hosts_total=row.hosts_total,
            hosts_ok=row.hosts_ok,
            hosts_changed=row.hosts_changed,
            hosts_failed=row.hosts_failed,
            hosts_unreachable=row.hosts_unreachable,
            hosts_skipped=row.hosts_skipped,
        ),
        result=row.status if complete and is_terminal_status(row.status) else None,
        runner_status=row.runner_status,
        rc=row.rc,
        failure_reason=row.failure_reason,
        rejection_errors=row.rejection_errors,
        cancel_requested=row.cancel_requested,
        submitted_by=None if row.submitted_by is None else msgspec.convert(row.submitted_by, Submitter),
        event_count=row.event_count,
        runner_event_count=row.runner_event_count,
        last_seq=row.last_seq,
        last_projected_seq=row.last_stream_seq,
        projection_seq=projection_seq,
        complete=complete,
        log_url=f"/api/v1/jobs/{job_id}/logs",
        log=None if row.log_object is None else _object_item(row.log_object, f"/api/v1/jobs/{job_id}/logs"),
        artifacts=[_object_item(a, artifact_url(job_id, str(a["name"]))) for a in row.artifacts or []],
        missing_objects=[
            MissingItem(name=str(m["name"]), reason=str(m["reason"])) for m in row.missing_objects or []
        ],
        links=links(job_id),
    )


def artifact_url(job_id: str, name: str) -> str:
    return f"/api/v1/jobs/{job_id}/artifacts/{quote(name)}"


def _object_item(stored: dict[str, Any], url: str) -> ObjectItem:
    return ObjectItem(
        name=str(stored["name"]), size=int(stored["size"]), sha256=str(stored["sha256"]), url=url
    )
