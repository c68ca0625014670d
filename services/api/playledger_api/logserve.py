"""Serving a job's log and artifacts from log storage: a presigned redirect, or the bytes.

- S3 with a finished object: ``307`` to a presigned URL (``PLAYLEDGER_STORAGE_PRESIGN_S``); the
  client fetches the bytes (and its ``Range``) from storage, not through the API.
- A local store, a running job (its parts so far) or ``format=text``: the API streams the bytes,
  with ``Range`` (``206``) unless they are rewritten (``format=text``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Final, Literal

from litestar import Response
from litestar.response import Stream

from playledger_api.byterange import AnsiStripper, UnsatisfiableRangeError, byte_range
from playledger_api.errors import LOG_STORAGE, DependencyUnavailableError, RangeNotSatisfiableError
from playledger_common.logstore import TRANSIENT, LogStore, read_log, read_span

log: Final = logging.getLogger(__name__)

LogFormat = Literal["ansi", "text"]
TEXT: Final = "text/plain; charset=utf-8"
OCTETS: Final = "application/octet-stream"


async def stored_pieces(store: LogStore, job_id: str, attempt: int) -> tuple[list[tuple[str, int]], bool]:
    """The objects holding the attempt's log so far, and whether it is the finished one."""
    try:
        return await read_log(store, job_id, attempt)
    except TRANSIENT:
        raise DependencyUnavailableError(LOG_STORAGE) from None


async def stored_size(store: LogStore, key: str) -> int | None:
    try:
        return await store.size(key)
    except TRANSIENT:
        raise DependencyUnavailableError(LOG_STORAGE) from None


async def serve(
    store: LogStore,
    pieces: Sequence[tuple[str, int]],
    *,
    finished: bool,
    presign_s: int,
    range_header: str | None,
    media_type: str = TEXT,
    log_format: LogFormat = "ansi",
) -> Response[bytes] | Stream:
    """The bytes of ``pieces`` in order (or a redirect to the one finished object)."""
    if finished and log_format == "ansi" and len(pieces) == 1:
        try:
            url = await store.presign(pieces[0][0], presign_s)
        except TRANSIENT:
            raise DependencyUnavailableError(LOG_STORAGE) from None
        if url is not None:
            return Response(
                content=b"", status_code=307, headers={"Location": url, "Cache-Control": "no-store"}
            )
    size = sum(s for _, s in pieces)
    if log_format == "text":
        return Stream(strip_ansi(_span(store, pieces, 0, size)), media_type=media_type)
    try:
        wanted = byte_range(range_header, size)
    except UnsatisfiableRangeError:
        raise RangeNotSatisfiableError(size) from None
    start, end = wanted or (0, size)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start)}
    if wanted is None:
        return Stream(_span(store, pieces, start, end), media_type=media_type, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return Stream(_span(store, pieces, start, end), media_type=media_type, status_code=206, headers=headers)


async def _span(
    store: LogStore, pieces: Sequence[tuple[str, int]], start: int, end: int
) -> AsyncIterator[bytes]:
    try:
        async for chunk in read_span(store, pieces, start, end):
            yield chunk
    except TRANSIENT as exc:  # the status line is sent: all we can do is end the body early
        log.warning("log storage failed while streaming: %s", exc)
        raise


async def strip_ansi(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``format=text``: the same bytes without terminal escape sequences."""
    stripper = AnsiStripper()
    async for chunk in chunks:
        if out := stripper.feed(chunk):
            yield out
    if rest := stripper.end():
        yield rest
