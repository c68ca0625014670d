"""Exit codes: ansible-playbook's (``ansible.errors.ExitCode``), plus two for outcomes it lacks.

One table, documented in the README; ``playledger submit`` ends with the job's code.
"""

from __future__ import annotations

import enum
from typing import Final

from playledger_schemas.status import TerminalStatus


class ExitCode(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    """The job ended in ``error``, or the command failed (API or NATS unreachable, unknown job)."""
    HOSTS_FAILED = 2
    HOSTS_UNREACHABLE = 4
    INVALID_OPTIONS = 5
    """A bad option, argument, setting, inventory or extra vars, or a job the server rejected."""
    CANCELED = 99
    """ansible-playbook's "user interrupted execution": the job was canceled."""
    TIMED_OUT = 124
    """The job hit its timeout (the code of timeout(1))."""
    INTERRUPTED = 130
    """Ctrl-C: the CLI stopped; a job it was following goes on (128 + SIGINT, as a shell says)."""
    UNEXPECTED = 250


OUTCOME_EXIT_CODES: Final[dict[TerminalStatus, ExitCode]] = {
    "successful": ExitCode.SUCCESS,
    "failed": ExitCode.HOSTS_FAILED,
    "error": ExitCode.ERROR,
    "dead": ExitCode.ERROR,
    "rejected": ExitCode.INVALID_OPTIONS,
    "canceled": ExitCode.CANCELED,
    "timeout": ExitCode.TIMED_OUT,
}
"""Keyed by the contract's terminal statuses (``playledger_schemas.status``)."""


def exit_code_for(outcome: TerminalStatus | None, rc: int | None) -> int:
    """A failed job exits with ansible-playbook's own rc (2 failed hosts, 4 unreachable); so does a
    dead one whose last attempt failed."""
    if outcome in ("failed", "dead") and rc:
        return rc
    return OUTCOME_EXIT_CODES.get(outcome or "error", ExitCode.ERROR)
