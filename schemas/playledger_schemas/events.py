"""Events: what happened to a job. Appended to ``PLAYLEDGER_EVENTS``, never changed.

Readers ignore unknown fields at every depth: no Struct here forbids them, and the command's
``JobSpec`` that ``job.queued`` and ``job.started`` hold is read through its lenient twin
(:data:`SpecView`, see ``lenient``).

Every event carries the same envelope (event id, type, job id, attempt, per-job
sequence, time) and a ``data`` payload specific to its type. ``seq`` starts at 1
for a job's first event and has no gaps within the job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias

import msgspec
from msgspec import Meta

from playledger_schemas.commands import (
    ChainParent,
    DependsPolicy,
    JobSpec,
    RetryCause,
    Submitter,
    TemplateRef,
)
from playledger_schemas.ids import JobId
from playledger_schemas.lenient import lenient
from playledger_schemas.status import ResultStatus, TerminalStatus

if TYPE_CHECKING:
    SpecView = JobSpec
    SubmitterView = Submitter
    TemplateRefView = TemplateRef
    ParentView = ChainParent
else:
    SpecView = lenient(JobSpec)
    """``JobSpec`` as events hold it: a subclass that ignores unknown fields at every depth."""
    SubmitterView = lenient(Submitter)
    TemplateRefView = lenient(TemplateRef)
    ParentView = lenient(ChainParent)

RunnerStatus: TypeAlias = ResultStatus
"""The final status ansible-runner reports: the same words as a job's result status."""


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The envelope shared by every event."""

    event_id: uuid.UUID
    job_id: JobId
    attempt: Annotated[int, Meta(ge=0)]
    """0 before any executor took the job; 1 for the first run, 2 for a retry, …"""
    seq: Annotated[int, Meta(ge=1)]
    """Position within the job: 1, 2, 3, … with no gaps."""
    time: datetime


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One invalid field: where (a JSON path such as ``$.spec.options.forks``) and what is wrong."""

    path: str
    message: str


class QueuedData(msgspec.Struct, frozen=True, kw_only=True):
    spec: SpecView
    command_seq: int | None = None
    """Sequence of the submit command in ``PLAYLEDGER_COMMANDS``."""
    submitted_by: SubmitterView | None = None
    """The submit command's ``submitted_by``: the API key (id and name) behind the job."""
    run_at: datetime | None = None
    """The submit command's ``run_at``: the job is ``scheduled`` until then."""
    depends_on: list[JobId] = msgspec.field(default_factory=list)
    """The submit command's ``depends_on``: the job is ``waiting`` until they ended."""
    depends_policy: DependsPolicy = "success"
    template: TemplateRefView | None = None
    """The submit command's ``template``: the template (name and version) it was launched from."""
    parent: ParentView | None = None
    """The submit command's ``parent``: the job whose end launched this one (a template chain)."""


class RejectedData(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    errors: list[FieldError] = msgspec.field(default_factory=list)
    command_seq: int | None = None
    dead_letter: bool = False
    """The poison path recorded it (a command no executor could handle): listed with dead jobs."""


class StartedData(msgspec.Struct, frozen=True, kw_only=True):
    executor_id: str
    spec: SpecView
    """The options as resolved by the executor (defaults filled in)."""
    playbook: str
    """The playbook path relative to the project (the projects directory or the checkout)."""
    commit: str | None = None
    """The commit a git source resolved to when the job started."""
    playbook_sha256: str | None = None
    """sha256 of the playbook file that ran (for a role source, of the generated playbook)."""
    inventory_commit: str | None = None
    """The commit a git inventory resolved to."""
    inventory_sha256: str | None = None
    """sha256 of the inventory as the executor wrote it (a URL's body, a rendered inventory, …)."""
    hosts: list[str] | None = None
    """Every host the inventory resolved to (``ansible-inventory --list``), sorted; ``None`` from
    executors before this field existed."""


class CancelRequestedData(msgspec.Struct, frozen=True, kw_only=True):
    reason: str


class TruncatedField(msgspec.Struct, frozen=True, kw_only=True):
    """A field of a runner event cut to fit a message; the full text is in the job's log."""

    field: str
    """``stdout`` or ``event_data.res``."""
    original_size: int
    kept_size: int


class RunnerEventData(msgspec.Struct, frozen=True, kw_only=True):
    """One ansible-runner event, as runner emitted it (see ansible-runner's event schema).

    ``event_data`` is ansible's own dict and is not constrained here; ``stdout`` and
    ``event_data.res`` may be truncated (then ``truncated`` says so and by how much).
    """

    event: str
    """The ansible-runner event name, e.g. ``runner_on_ok``."""
    counter: Annotated[int, Meta(ge=1)]
    uuid: str
    parent_uuid: str | None = None
    created: str | None = None
    stdout: str = ""
    start_line: int | None = None
    end_line: int | None = None
    pid: int | None = None
    event_data: dict[str, Any] = msgspec.field(default_factory=dict)
    truncated: list[TruncatedField] = msgspec.field(default_factory=list)


HostStats = dict[str, dict[str, int]]
"""Per statistic (ok, changed, failures, dark, skipped, rescued, ignored, processed): host -> count."""


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    """One object the executor put in log storage for this attempt."""

    name: str
    """``stdout`` for the log; an artifact's path inside the runner's artifact directory
    (``rc``, ``status``, ``fact_cache/web1``, …) or ``artifact_data.json`` (``set_stats`` data)."""
    key: str
    """Its key in log storage (below the configured prefix)."""
    size: int
    """Bytes."""
    sha256: str
    """Hex sha256 of exactly those bytes."""


class MissingObject(msgspec.Struct, frozen=True, kw_only=True):
    """An object the executor could not store before the terminal event (storage down)."""

    name: str
    reason: str


class ResultData(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a run; carried by every terminal event but ``job.rejected``."""

    runner_status: RunnerStatus | None = None
    rc: int | None = None
    reason: str | None = None
    """Why the job ended this way, when it is not plain success."""
    stats: HostStats = msgspec.field(default_factory=dict)
    runner_events: int = 0
    """How many runner events of this attempt were appended before this terminal event."""
    last_seq: int = 0
    """The job sequence of the event just before this one: all of ``1..last_seq`` are acknowledged."""
    log_uri: str | None = None
    """Where the finished log is (``s3://bucket/key``, ``file:///…``); ``None`` if it was not stored."""
    log: StoredObject | None = None
    """The attempt's complete stdout, byte for byte what ansible-runner wrote; ``None`` if not stored
    (then ``missing`` says why, and the parts stored while it ran hold the log up to then)."""
    artifacts: list[StoredObject] = msgspec.field(default_factory=list)
    """The runner's artifacts (never ``env/``, the command line or its environment) and the
    ``set_stats`` data."""
    missing: list[MissingObject] = msgspec.field(default_factory=list)
    """Objects that should have been stored but were not."""
    dead_letter: bool = False
    """The poison path recorded it (a command no executor could handle): listed with dead jobs."""


class AttemptOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How one attempt of a job ended."""

    attempt: int
    status: ResultStatus
    cause: RetryCause | None = None
    """The retry policy's name for it; ``None`` for an outcome no policy retries (success, cancel)."""
    reason: str | None = None
    rc: int | None = None
    ended_at: datetime


class RetryScheduledData(ResultData, frozen=True, kw_only=True):
    """An attempt ended without success and the job's retry policy allows another one.

    The result fields are those of the attempt that ended; ``attempts`` lists every attempt so
    far (this one last), so the latest ``job.retry_scheduled`` holds the job's whole history."""

    status: ResultStatus
    """How this attempt ended."""
    cause: RetryCause
    retry_at: datetime
    """The next attempt starts at this time, or soon after."""
    next_attempt: int
    max_attempts: int
    attempts: list[AttemptOutcome] = msgspec.field(default_factory=list)


class RetryRequestedData(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    command_seq: int | None = None
    """Sequence of the ``job.retry.v1`` command in ``PLAYLEDGER_COMMANDS`` (the submit the new
    attempt runs from)."""
    requested_by: SubmitterView | None = None


class DeadData(ResultData, frozen=True, kw_only=True):
    """The last attempt the retry policy allowed ended without success too: dead-lettered."""

    max_attempts: int
    attempts: list[AttemptOutcome] = msgspec.field(default_factory=list)
    """Every attempt with its outcome and reason, the last one last."""


class JobQueued(Event, frozen=True, tag="job.queued.v1"):
    """Accepted and waiting for an executor."""

    data: QueuedData


class JobRejected(Event, frozen=True, tag="job.rejected.v1"):
    """A command that could not be accepted; terminal."""

    data: RejectedData


class JobStarted(Event, frozen=True, tag="job.started.v1"):
    data: StartedData


class JobCancelRequested(Event, frozen=True, tag="job.cancel_requested.v1"):
    data: CancelRequestedData


class RunnerEvent(Event, frozen=True, tag="runner.event.v1"):
    data: RunnerEventData


class JobSucceeded(Event, frozen=True, tag="job.succeeded.v1"):
    data: ResultData


class JobFailed(Event, frozen=True, tag="job.failed.v1"):
    data: ResultData


class JobCanceled(Event, frozen=True, tag="job.canceled.v1"):
    data: ResultData


class JobTimedOut(Event, frozen=True, tag="job.timed_out.v1"):
    data: ResultData


class JobError(Event, frozen=True, tag="job.error.v1"):
    """The run could not be completed (executor lost, runner crashed, bad playbook path at run time)."""

    data: ResultData


class JobRetryScheduled(Event, frozen=True, tag="job.retry_scheduled.v1"):
    """An attempt ended without success; the next one starts at ``retry_at`` (not terminal)."""

    data: RetryScheduledData


class JobDead(Event, frozen=True, tag="job.dead.v1"):
    """Every attempt the retry policy allowed ended without success: dead-lettered; terminal.

    Services subscribe to dead jobs on ``playledger.evt.job.*.job.dead``."""

    data: DeadData


class JobRetryRequested(Event, frozen=True, tag="job.retry_requested.v1"):
    """A dead job was retried by request (``job.retry.v1``): it is queued again for a new
    attempt. The one event a reader accepts after a terminal event, and only after ``job.dead``."""

    data: RetryRequestedData


JobEvent = (
    JobQueued
    | JobRejected
    | JobStarted
    | JobCancelRequested
    | RunnerEvent
    | JobSucceeded
    | JobFailed
    | JobCanceled
    | JobTimedOut
    | JobError
    | JobRetryScheduled
    | JobDead
    | JobRetryRequested
)

ResultEvent = JobSucceeded | JobFailed | JobCanceled | JobTimedOut | JobError
TerminalEvent = JobRejected | ResultEvent | JobDead

OUTCOME_EVENTS: Final[dict[ResultStatus, type[ResultEvent]]] = {
    "successful": JobSucceeded,
    "failed": JobFailed,
    "timeout": JobTimedOut,
    "canceled": JobCanceled,
    "error": JobError,
}
"""The event that records each result status (the executor appends it when a run ends)."""

TERMINAL_EVENTS: Final[dict[TerminalStatus, type[TerminalEvent]]] = dict(
    [*OUTCOME_EVENTS.items(), ("rejected", JobRejected), ("dead", JobDead)]
)
"""The one mapping between terminal events and the statuses they set; everything else derives from it."""

TERMINAL_EVENT_TYPES: Final = tuple(TERMINAL_EVENTS.values())
_STATUS_OF: Final[dict[type, TerminalStatus]] = {cls: status for status, cls in TERMINAL_EVENTS.items()}


def terminal_status(event: JobEvent) -> TerminalStatus | None:
    """The status a terminal event sets; ``None`` for every other event."""
    return _STATUS_OF.get(type(event))


class CommandRejected(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="command.rejected.v1"):
    """A command that names no usable job: it does not decode, is too big or too deep, or its
    subject does not match its body. Stored on ``playledger.append.rejected.<command_seq>``, an id
    space no client can use, so it never blocks a job id for its real owner. Not a job event."""

    event_id: uuid.UUID
    time: datetime
    command_seq: int
    """Sequence of the command in ``PLAYLEDGER_COMMANDS``."""
    subject: str
    """The subject the command was published on."""
    reason: str
    errors: list[FieldError] = msgspec.field(default_factory=list)


StoredEvent = JobEvent | CommandRejected
"""Everything the events stream holds (``events.json``)."""


def is_terminal(event: JobEvent) -> bool:
    return isinstance(event, TERMINAL_EVENT_TYPES)


def event_tag(event: JobEvent | type[JobEvent]) -> str:
    """The ``type`` of an event (``job.queued.v1``); also right for a decoded event's lenient twin."""
    tag = event.__struct_config__.tag
    assert isinstance(tag, str)  # noqa: S101 - every member of JobEvent declares a str tag
    return tag


def event_kind(event: JobEvent) -> str:
    """The subject suffix of an event: ``job.<lifecycle>`` or ``runner.<ansible event name>``."""
    if isinstance(event, RunnerEvent):
        return f"runner.{event.data.event}"
    return lifecycle_kind(event)


def lifecycle_kind(event: JobEvent | type[JobEvent]) -> str:
    """The subject suffix of a lifecycle event (or type): its tag without the version (``job.succeeded``)."""
    return event_tag(event).rsplit(".", 1)[0]


TERMINAL_KINDS: Final[dict[str, TerminalStatus]] = {
    lifecycle_kind(cls): status for status, cls in TERMINAL_EVENTS.items()
}
"""Subject kind of each terminal event -> the status it sets (``job.succeeded`` -> ``successful``)."""
