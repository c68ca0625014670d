"""The executor's own errors, each carrying a reason that is safe to put in an event."""

from __future__ import annotations

from playledger_common.errors import PlayledgerError


class ExecutorError(PlayledgerError):
    """Base of the executor's errors; ``reason`` is precise and contains no secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceError(ExecutorError):
    """A playbook source that cannot be used: path escape, missing file, unsupported type."""


class InventoryError(ExecutorError):
    """An inline inventory that cannot be rendered."""


class ConflictError(ExecutorError):
    """Another writer appended to the job first (JetStream err_code 10071)."""
