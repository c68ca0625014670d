"""Runner events of one attempt, stored as fast as ansible prints them: group commit.

The worker's events go into a bounded queue; one task stores whatever has queued up as one
append (``JobWriter.add_all``: an atomic batch), and while an append is on its way the next one
gathers. The batches are as big as the worker's reads: its output is read at most once per
event linger while it trickles (``pacedpipe``, ``PLAYLEDGER_EVENT_LINGER_S``), and everything a
read brings is queued before this task runs again. Order is the queue's order. A full queue
holds the worker back (its pipe fills, ansible waits).

Why batches, and why that linger: every append costs about the same whatever its size.
nats-server stages an atomic batch of an R1 file stream in a file store of its own, made and
removed per batch (``newBatchStore`` in its ``jetstream_batching.go``): ≈ 3-6 ms of server CPU
per batch on 2 cores, most of the server's CPU on a real run (its pprof, docs/benchmarks.md
section 2), plus a round trip of nats-py client CPU. A 5 x 200 job read at a 20 ms pace makes
≈ 200 appends of ≈ 11 events; at 100 ms (the default) about 170 of ≈ 13, with a runner event's
way to a subscriber under 250 ms.

The first failure (``FencedError``, ``PublishError``) ends the storing: it is raised to whoever
adds next and from ``close``; events queued after it are dropped, since the run is over.
"""

from __future__ import annotations

import asyncio
from typing import Final

from playledger_executor.writer import Builder, JobWriter

QUEUE_EVENTS: Final = 4096
"""How far the worker may run ahead of the stream before it is held back."""


class Appender:
    def __init__(self, writer: JobWriter) -> None:
        self.writer = writer
        self._queue: asyncio.Queue[Builder | None] = asyncio.Queue(maxsize=QUEUE_EVENTS)
        self._failure: BaseException | None = None
        self._task = asyncio.create_task(self._store_all(), name=f"append-{writer.job_id}")

    async def add(self, build: Builder) -> None:
        if self._failure is not None:
            raise self._failure
        await self._queue.put(build)

    async def close(self) -> None:
        """Store everything added so far; raise the failure that ended the storing, if any."""
        await self._queue.put(None)
        await self._task
        if self._failure is not None:
            raise self._failure

    async def cancel(self) -> None:
        """Stop without storing what is still queued (the run is being torn down)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _store_all(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            builds, end = self._take(first)
            if self._failure is None:
                try:
                    await self.writer.add_all(builds)
                except Exception as exc:  # noqa: BLE001 - handed to the adder, who decides
                    self._failure = exc
            if end:
                return

    def _take(self, first: Builder) -> tuple[list[Builder], bool]:
        """``first`` and what queued after it (up to the end marker), and whether the end came."""
        builds = [first]
        while not self._queue.empty():
            build = self._queue.get_nowait()
            if build is None:
                return builds, True
            builds.append(build)
        return builds, False
