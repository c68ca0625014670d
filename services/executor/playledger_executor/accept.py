"""Accepting a command: validate it and record ``job.queued`` or ``job.rejected`` (idempotent).

Shared by the intake and the run consumers (a run consumer that takes a submit the intake
has not seen yet accepts it first). Every append expects the job to have no events, so a
redelivered or duplicate command changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from playledger_common.jobchecks import spec_problems
from playledger_common.settings import ExecutorSettings
from playledger_executor.errors import ConflictError, ExecutorError
from playledger_executor.inventory import render_inventory
from playledger_executor.journal import Journal, new_event
from playledger_executor.sources import resolve_source
from playledger_schemas.codec import ContractError, decode_command
from playledger_schemas.commands import CancelJob, InlineInventory, JobCommand, LocalSource, SubmitJob
from playledger_schemas.events import FieldError, JobQueued, JobRejected, QueuedData, RejectedData
from playledger_schemas.ids import is_valid_job_id
from playledger_schemas.subjects import cancel_subject, job_id_of_subject, submit_subject

log: Final = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Invalid:
    """A command that cannot be accepted, with the job id to record the rejection under."""

    job_id: str
    reason: str
    errors: list[FieldError]


def fallback_job_id(command_seq: int) -> str:
    """Deterministic, so a redelivered bad command is recorded once."""
    return f"cmd-{command_seq}"


def validate(
    subject: str, payload: bytes, command_seq: int, settings: ExecutorSettings
) -> JobCommand | Invalid:
    """Decode and check a command against its subject, the URL policy and the projects directory."""
    subject_job = job_id_of_subject(subject)
    job_id = subject_job if subject_job and is_valid_job_id(subject_job) else fallback_job_id(command_seq)
    try:
        command = decode_command(payload)
    except ContractError as exc:
        return Invalid(job_id, exc.reason, list(exc.errors))
    expected = (
        submit_subject(command.spec.priority, command.job_id)
        if isinstance(command, SubmitJob)
        else cancel_subject(command.job_id)
    )
    if subject != expected:
        reason = f"subject {subject!r} does not match the command; expected {expected!r}"
        return Invalid(job_id, reason, [FieldError(path="$", message=reason)])
    if isinstance(command, SubmitJob):
        spec = command.spec
        problems = spec_problems(
            spec, allow_file=settings.source_allow_file, allow_http=settings.source_allow_http
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
    journal: Journal, subject: str, payload: bytes, command_seq: int, settings: ExecutorSettings
) -> JobCommand | None:
    """Record a valid submit as queued, an invalid command as rejected; return valid commands."""
    checked = validate(subject, payload, command_seq, settings)
    match checked:
        case Invalid():
            await reject(journal, checked, command_seq)
            return None
        case SubmitJob():
            queued = new_event(
                JobQueued,
                job_id=checked.job_id,
                attempt=0,
                seq=1,
                data=QueuedData(spec=checked.spec, command_seq=command_seq),
            )
            try:
                await journal.append(queued, expected_stream_seq=0)
            except ConflictError:
                log.info(
                    "job %s exists already; duplicate submit (command %d) ignored",
                    checked.job_id,
                    command_seq,
                )
            return checked
        case CancelJob():
            return checked


async def reject(journal: Journal, invalid: Invalid, command_seq: int) -> None:
    """Record ``job.rejected`` as the first event of the job; if that job exists, under ``cmd-<seq>``."""
    log.info("command %d rejected (job %s): %s", command_seq, invalid.job_id, invalid.reason)
    for job_id in dict.fromkeys([invalid.job_id, fallback_job_id(command_seq)]):
        event = new_event(
            JobRejected,
            job_id=job_id,
            attempt=0,
            seq=1,
            data=RejectedData(reason=invalid.reason, errors=invalid.errors, command_seq=command_seq),
        )
        try:
            await journal.append(event, expected_stream_seq=0)
        except ConflictError:
            last, _ = await journal.last_event(job_id)
            if isinstance(last, JobRejected) and last.data.command_seq == command_seq:
                return  # recorded before this redelivery
            continue
        return
