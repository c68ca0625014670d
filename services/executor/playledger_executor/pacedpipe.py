"""A child's output read at a pace: while it trickles, at most one read per ``pace_s``.

ansible prints a runner event every few milliseconds. Read as each line comes, the executor
wakes once per line: on 2 cores that ansible keeps busy, each wake-up is a context switch onto
a cold cache, ≈ 300 µs of CPU per event against ≈ 40 µs for the same work done in bursts
(docs/benchmarks.md section 2a). So after a read that drained the pipe, the pipe is left alone
for ``pace_s``: what the child writes meanwhile waits in the pipe (1 MiB of it where the kernel
allows, before the child is held back) and comes in one read, to be appended as one batch.

- The first line after a quiet spell is read at once; no line waits longer than the pace.
- A read that filled asyncio's read buffer (bulk output: the artifact zip) is followed at once.
- ``finish`` reads what is left at once and stops pacing (the child has exited).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from typing import Final

PIPE_SIZE: Final = 1 << 20
"""What the pipe holds while it is not read (Linux's default ``pipe-max-size``; 64 KiB without it)."""
FULL_READ: Final = 256 * 1024
"""asyncio reads a pipe in chunks of this size (its pipe transport's ``max_size``): a read this
big did not drain the pipe."""


class PacedPipe(asyncio.Protocol):
    """The read end of a pipe feeding ``reader``; ``open`` makes the pipe and returns its write end."""

    def __init__(self, pace_s: float, *, limit: int) -> None:
        self.reader = asyncio.StreamReader(limit=limit)
        self.pace_s = pace_s
        self.reads = 0
        """How many reads the output took (each one a wake-up of the executor)."""
        self._transport: asyncio.ReadTransport | None = None
        self._resume: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, pace_s: float, *, limit: int) -> tuple[PacedPipe, int]:
        """The paced read end, and the write end's fd for the child (close it once the child has it)."""
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only holds the child back sooner
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        pipe = cls(pace_s, limit=limit)
        read_end = os.fdopen(read_fd, "rb", buffering=0)
        try:
            await asyncio.get_running_loop().connect_read_pipe(lambda: pipe, read_end)
        except BaseException:
            read_end.close()
            os.close(write_fd)
            raise
        return pipe, write_fd

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)  # noqa: S101 - connect_read_pipe gives one
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        self.reader.feed_data(data)
        if self.pace_s > 0 and len(data) < FULL_READ and self._transport is not None:
            self._transport.pause_reading()
            self._resume = asyncio.get_running_loop().call_later(self.pace_s, self._read_again)

    def eof_received(self) -> None:
        self.reader.feed_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_resume()
        if exc is None:
            self.reader.feed_eof()
        else:
            self.reader.set_exception(exc)

    def finish(self) -> None:
        """Read the rest at once, without pauses: nothing more is coming after it."""
        self.pace_s = 0
        self._read_again()

    def close(self) -> None:
        self._cancel_resume()
        if self._transport is not None:
            self._transport.close()

    def _read_again(self) -> None:
        self._cancel_resume()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _cancel_resume(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
