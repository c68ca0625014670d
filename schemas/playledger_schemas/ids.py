"""Identifiers and small constrained types shared by commands and events."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Final, Literal

from msgspec import Meta

JOB_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
"""A job id is one safe NATS subject token: no dots, wildcards, whitespace or path characters."""

_JOB_ID_RE: Final = re.compile(JOB_ID_PATTERN)

JobId = Annotated[
    str,
    Meta(
        pattern=JOB_ID_PATTERN,
        max_length=128,
        description="1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit.",
    ),
]


Priority = Literal["critical", "high", "normal", "low"]
PRIORITIES: Final[tuple[Priority, ...]] = ("critical", "high", "normal", "low")
"""Highest first: executors drain ``critical`` before ``high`` and so on."""


def is_valid_job_id(value: str) -> bool:
    return bool(_JOB_ID_RE.match(value))


def new_job_id() -> str:
    return uuid.uuid4().hex


def job_id_from_key(key: str) -> str:
    """Derive a stable job id from a client's ``Idempotency-Key`` (same key, same job)."""
    return "k" + uuid.uuid5(uuid.NAMESPACE_URL, f"playledger:idempotency:{key}").hex
