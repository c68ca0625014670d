"""One log format for every service; secrets never reach it because nothing logs settings or env.

``json`` (the services' default): one JSON object per line with ``time``, ``level``, ``service``,
``logger``, ``message`` and, on every line about a job, ``job_id``, ``attempt`` and ``trace_id``
(from ``job_context``: a contextvar, so each job's asyncio task carries its own). ``text``
(``playledger dev``): the same fields as a readable line.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec

from playledger_common.tracing import current_trace_id

LogFormat = Literal["json", "text"]
_job: Final[contextvars.ContextVar[tuple[str, int | None] | None]] = contextvars.ContextVar(
    "playledger_job", default=None
)
_encoder: Final = msgspec.json.Encoder()


@contextlib.contextmanager
def job_context(job_id: str, attempt: int | None = None) -> Iterator[None]:
    """Every log line written inside (in this task and the tasks it starts) names the job."""
    token = _job.set((job_id, attempt))
    try:
        yield
    finally:
        _job.reset(token)


def job_fields() -> dict[str, object]:
    """``job_id``, ``attempt`` and ``trace_id`` of the current context (those that are known)."""
    fields: dict[str, object] = {}
    job = _job.get()
    if job is not None:
        fields["job_id"] = job[0]
        if job[1] is not None:
            fields["attempt"] = job[1]
    trace_id = current_trace_id()
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **job_fields(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = job_fields()
        return f"{text} [{' '.join(f'{k}={v}' for k, v in fields.items())}]" if fields else text


def setup_logging(level: str = "INFO", service: str = "playledger", fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
