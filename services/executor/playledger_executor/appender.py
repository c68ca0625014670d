"""Runner events of one attempt, stored as fast as ansible prints them: group commit.

The worker's events go into a bounded queue; one task stores whatever has queued up while its
previous append was in flight as one append (``JobWriter.add_all``: an atomic batch), after
lingering ``LINGER_S`` for the rest of the burst the first event came with. Order is the
queue's order. A full queue holds the worker back (its pipe fills, ansible waits), as a slow
single append did before.

Why the linger: ansible prints a task's events in a burst spread over a few milliseconds (the
task's start, then each host's start and result as its fork reports), and each append costs
two round trips of nats-py client CPU (≈ 100-200 µs each) whatever its size. Without the
linger a real 5 x 200 job made ≈ 600 appends of ≈ 3.6 events (executor ≈ 600-900 µs CPU per
event); with it ≈ one append per task (``tests/bench/bench_executor_cpu.py --paced``,
docs/benchmarks.md section 2). It adds at most ``LINGER_S`` to an event's way to subscribers.

The first failure (``FencedError``, ``PublishError``) ends the storing: it is raised to whoever
adds next and from ``close``; events queued after it are dropped, since the run is over.
"""

from __future__ import annotations

import asyncio
from typing import Final

from playledger_executor.writer import MAX_BATCH_EVENTS, Builder, JobWriter

QUEUE_EVENTS: Final = 4096
"""How far the worker may run ahead of the stream before it is held back."""
LINGER_S: Final = 0.02
"""How long the first event of an append waits for the rest of its burst."""


class Appender:
    def __init__(self, writer: JobWriter, *, linger_s: float = LINGER_S) -> None:
        self.writer = writer
        self.linger_s = linger_s
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
            builds = [first]
            end = False
            if self.linger_s > 0 and self._queue.qsize() < MAX_BATCH_EVENTS:
                await asyncio.sleep(self.linger_s)
            while not self._queue.empty():
                build = self._queue.get_nowait()
                if build is None:
                    end = True
                    break
                builds.append(build)
            if self._failure is None:
                try:
                    await self.writer.add_all(builds)
                except Exception as exc:  # noqa: BLE001 - handed to the adder, who decides
                    self._failure = exc
            if end:
                return
