"""Opaque keyset cursors for the job list: ``(created_at, job_id)`` of the last row, base64url JSON."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Final

import msgspec

from playledger_api.errors import BadRequestError, FieldProblem


class JobCursor(msgspec.Struct, frozen=True, array_like=True):
    created_at: datetime
    job_id: str


_decoder: Final = msgspec.json.Decoder(JobCursor)


def encode_cursor(cursor: JobCursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(text: str) -> JobCursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        problem = FieldProblem(path="query.cursor", message="not a cursor returned by this API")
        raise BadRequestError.at(problem) from None
    if cursor.created_at.tzinfo is None:
        problem = FieldProblem(path="query.cursor", message="not a cursor returned by this API")
        raise BadRequestError.at(problem)
    return cursor
