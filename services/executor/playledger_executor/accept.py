"""Accepting a command: validate it and record ``job.queued`` or ``job.rejected`` (idempotent).

Shared by the intake and the run consumers (a run consumer that takes a submit the intake
has not seen yet accepts it first). Every append expects the job to have no events, so a
redelivered or duplicate command changes nothing. A command that names no usable job is
recorded under its stream sequence (``playledger.append.rejected.<seq>``), never under a job
id a client could own.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec
from opentelemetry.trace import SpanKind

from playledger_common.jobchecks import run_at_problem, spec_problems, unknown_dependency
from playledger_common.settings import ExecutorSettings
from playledger_common.tracing import TRACER
from playledger_executor.errors import ConflictError, ExecutorError
from playledger_executor.inventory import render_inventory
from playledger_executor.journal import Journal, new_event
from playledger_executor.schedule import schedule_submit
from playledger_executor.sources import resolve_source
from playledger_executor.stored import resolve_stored
from playledger_schemas.codec import ContractError, decode_command
from playledger_schemas.commands import (
    CancelJob,
    InlineInventory,
    JobCommand,
    LaunchJob,
    LocalSource,
    RetryJob,
    SubmitJob,
)
from playledger_schemas.events import (
    CommandRejected,
    FieldError,
    JobQueued,
    JobRejected,
    QueuedData,
    RejectedData,
)
from playledger_schemas.ids import is_valid_job_id
from playledger_schemas.limits import MAX_COMMAND_DEPTH, too_big, too_deep
from playledger_schemas.subjects import cancel_subject, job_id_of_subject, launch_subject, submit_subject

log: Final = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Invalid:
    """A well-formed command for a job that cannot be accepted: recorded as that job's ``job.rejected``."""

    job_id: str
    reason: str
    errors: list[FieldError]


@dataclass(frozen=True, slots=True)
class Unusable:
    """A command whose job id cannot be read from it (too deep, not JSON, no valid ``job_id``,
    or the subject names another job): recorded as ``command.rejected`` under its stream
    sequence, so it never blocks a job id for its real owner."""

    reason: str
    errors: list[FieldError]


class _Claim(msgspec.Struct):
    """The one field read before the whole command: whose job it is (lenient, any type)."""

    job_id: object = None


_claim: Final = msgspec.json.Decoder(_Claim)


def claimed_job_id(subject: str, payload: bytes) -> str | Unusable:
    """The job id a command names in its body, when it is valid and its subject names it too."""
    if why := too_deep(payload, MAX_COMMAND_DEPTH):
        return Unusable(f"$: {why}", [FieldError(path="$", message=why)])
    try:
        job_id = _claim.decode(payload).job_id
    except msgspec.DecodeError as exc:
        reason = f"not valid JSON: {exc}"
        return Unusable(reason, [FieldError(path="$", message=reason)])
    if not isinstance(job_id, str) or not is_valid_job_id(job_id):
        reason = "no valid job_id: 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit"
        return Unusable(reason, [FieldError(path="$.job_id", message=reason)])
    if job_id_of_subject(subject) != job_id:
        reason = f"subject {subject!r} does not name job {job_id!r}"
        return Unusable(reason, [FieldError(path="$.job_id", message=reason)])
    return job_id


def validate(
    subject: str, payload: bytes, settings: ExecutorSettings, max_bytes: int
) -> JobCommand | Invalid | Unusable:
    """Decode and check a command against its subject, the size limit, the repository URL policy
    and the projects directory."""
    job_id = claimed_job_id(subject, payload)
    if isinstance(job_id, Unusable):
        return job_id
    if why := too_big(len(payload), max_bytes):
        reason = f"command too big: {why}"
        return Invalid(job_id, reason, [FieldError(path="$", message=reason)])
    try:
        command = decode_command(payload)
    except ContractError as exc:
        return Invalid(job_id, exc.reason, list(exc.errors))
    if isinstance(command, SubmitJob):
        expected = submit_subject(command.spec.priority, command.job_id)
    elif isinstance(command, RetryJob):
        expected = submit_subject(command.priority, command.job_id)
    elif isinstance(command, LaunchJob):
        expected = launch_subject(command.job_id)
    else:
        expected = cancel_subject(command.job_id)
    if subject != expected:
        reason = f"subject {subject!r} does not match the command; expected {expected!r}"
        return Invalid(job_id, reason, [FieldError(path="$", message=reason)])
    if isinstance(command, SubmitJob):
        if why := run_at_problem(command.run_at, datetime.now(UTC), settings.commands_max_age_s):
            return Invalid(job_id, f"$.run_at: {why}", [FieldError(path="$.run_at", message=why)])
        spec = command.spec
        problems = spec_problems(
            spec,
            allow_file=settings.source_allow_file,
            allow_http=settings.source_allow_http,
            allow_http_callback=settings.webhook_allow_http,
        )
        if problems:
            errors = [FieldError(path=f"$.spec.{path}", message=message) for path, message in problems]
            return Invalid(job_id, "; ".join(f"{e.path}: {e.message}" for e in errors), errors)
        try:
            if isinstance(spec.source, LocalSource):
                resolve_source(spec.source, settings.projects_dir)
        except ExecutorError as exc:
            return Invalid(job_id, exc.reason, [FieldError(path="$.spec.source.path", message=exc.reason)])
        try:
            if isinstance(spec.inventory, InlineInventory):
                render_inventory(spec.inventory)
        except ExecutorError as exc:
            return Invalid(job_id, exc.reason, [FieldError(path="$.spec.inventory", message=exc.reason)])
    return command


async def accept(
    journal: Journal,
    subject: str,
    payload: bytes,
    command_seq: int,
    settings: ExecutorSettings,
    max_bytes: int,
) -> JobCommand | None:
    """Record a valid submit as queued, an invalid command as rejected; return valid commands."""
    checked = validate(subject, payload, settings, max_bytes)
    match checked:
        case Unusable():
            log.info("command %d on %r rejected: %s", command_seq, subject, checked.reason)
            rejected = CommandRejected(
                event_id=uuid.uuid4(),
                time=datetime.now(UTC),
                command_seq=command_seq,
                subject=subject,
                reason=checked.reason,
                errors=checked.errors,
            )
            await journal.record_rejection(rejected)
            return None
        case Invalid():
            await reject(journal, checked, command_seq)
            return None
        case SubmitJob():
            unknown = [
                FieldError(path=f"$.depends_on[{n}]", message=unknown_dependency(dep))
                for n, dep in enumerate(checked.depends_on)
                if not await journal.known(dep)
            ]
            if unknown:
                reason = "; ".join(f"{e.path}: {e.message}" for e in unknown)
                await reject(journal, Invalid(checked.job_id, reason, unknown), command_seq)
                return None
            spec = await resolve_stored(journal.js, checked.spec, settings)
            if isinstance(spec, list):
                errors = [FieldError(path=path, message=message) for path, message in spec]
                reason = "; ".join(f"{e.path}: {e.message}" for e in errors)
                await reject(journal, Invalid(checked.job_id, reason, errors), command_seq)
                return None
            queued = new_event(
                JobQueued,
                job_id=checked.job_id,
                attempt=0,
                seq=1,
                data=QueuedData(
                    spec=spec,
                    command_seq=command_seq,
                    submitted_by=checked.submitted_by,
                    run_at=checked.run_at,
                    depends_on=checked.depends_on,
                    depends_policy=checked.depends_policy,
                    template=checked.template,
                    parent=checked.parent,
                ),
            )
            ours = True
            try:
                with TRACER.start_as_current_span(
                    "job.queued", kind=SpanKind.CONSUMER, attributes={"playledger.job_id": checked.job_id}
                ):
                    await journal.append(queued, expected_stream_seq=0)
            except ConflictError:
                ours = (await journal.state(checked.job_id)).accepted_seq == command_seq  # a redelivery
                if not ours:
                    log.info(
                        "job %s exists already; duplicate submit (command %d) ignored",
                        checked.job_id,
                        command_seq,
                    )
            if ours and checked.run_at is not None and checked.run_at > datetime.now(UTC):
                # after job.queued (so the job is visible first); again on a redelivery: idempotent
                await schedule_submit(journal.js, checked.job_id, checked.run_at, payload)
            return checked
        case CancelJob() | RetryJob() | LaunchJob():
            return checked


async def reject(journal: Journal, invalid: Invalid, command_seq: int) -> None:
    """Record ``job.rejected`` as the first event of the job; a job that exists is left alone."""
    log.info("command %d rejected (job %s): %s", command_seq, invalid.job_id, invalid.reason)
    event = new_event(
        JobRejected,
        job_id=invalid.job_id,
        attempt=0,
        seq=1,
        data=RejectedData(reason=invalid.reason, errors=invalid.errors, command_seq=command_seq),
    )
    try:
        await journal.append(event, expected_stream_seq=0)
    except ConflictError:
        log.info("job %s exists already; rejected command %d changes nothing", invalid.job_id, command_seq)
