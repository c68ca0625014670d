"""The job statuses a user sees: one word per state, the same in the API, SSE, the CLI and the docs.

The words are ansible-runner's (and AWX's) own final statuses — ``successful``, ``failed``,
``timeout``, ``canceled``, ``error`` — plus ``queued``, ``running``, ``scheduled`` (waiting for a retry's time), ``rejected`` and
``dead`` (every attempt the retry policy allowed failed: dead-lettered), so a
runner's status and the job's result never need translating. Event tags stay as they are
(``job.succeeded.v1`` is what happened; ``successful`` is the status it sets): the one
mapping from terminal event to status is ``events.TERMINAL_EVENTS``.

Each word is written once; nested ``Literal`` types flatten, so the subsets compose.
"""

from __future__ import annotations

from typing import Final, Literal, TypeGuard, get_args

ResultStatus = Literal["successful", "failed", "timeout", "canceled", "error"]
"""How a run ended: exactly ansible-runner's final statuses (``error``: it could not be carried out)."""

TerminalStatus = Literal[ResultStatus, "rejected", "dead"]
"""A finished job: a result, ``rejected`` (the command was never accepted), or ``dead`` (its
retry policy allowed more than one attempt and the last one failed too: dead-lettered)."""

ActiveStatus = Literal["queued", "running", "scheduled", "waiting"]
"""A job that has not finished: accepted and waiting, taken by an executor, waiting until its
time (``run_at``, or its next attempt's after ``job.retry_scheduled``), or waiting for the jobs
it depends on (``depends_on``)."""

JobStatus = Literal[ActiveStatus, TerminalStatus]
"""Every status a job can have, in the order a job moves through them."""

JOB_STATUSES: Final[tuple[JobStatus, ...]] = get_args(JobStatus)
ACTIVE_STATUSES: Final[tuple[ActiveStatus, ...]] = get_args(ActiveStatus)
RESULT_STATUSES: Final[frozenset[ResultStatus]] = frozenset(get_args(ResultStatus))
TERMINAL_STATUSES: Final[frozenset[TerminalStatus]] = frozenset(get_args(TerminalStatus))


def is_terminal_status(status: str) -> TypeGuard[TerminalStatus]:
    return status in TERMINAL_STATUSES


def is_result_status(status: str) -> TypeGuard[ResultStatus]:
    return status in RESULT_STATUSES
