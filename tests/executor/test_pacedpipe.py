"""The worker's output read at a pace (``pacedpipe``), from real child processes: a trickle
takes few reads, nothing is lost or reordered across the pauses, and the end of the output is
read as soon as the child exits, however long the linger."""

from __future__ import annotations

import asyncio
import sys

import pytest

from playledger_executor.worker import Status, WorkerProcess

pytestmark = pytest.mark.unit

TRICKLE = """
import json, sys, time
for n in range(20):
    print(json.dumps({"status": f"s{n}"}), flush=True)
    time.sleep(0.01)
print(json.dumps({"eof": True}), flush=True)
"""

BULK = """
import json, sys
sys.stdout.write("".join(json.dumps({"status": f"s{n}" + "x" * 200}) + "\\n" for n in range(15000)))
"""


async def statuses(worker: WorkerProcess) -> list[str]:
    items = [item async for item in worker.stream()]
    await worker.wait()
    return [item.status for item in items if isinstance(item, Status)]


async def test_a_trickle_takes_few_reads_and_the_end_does_not_wait_for_the_linger() -> None:
    worker = await WorkerProcess.start([sys.executable, "-c", TRICKLE], linger_s=3600.0)
    got = await asyncio.wait_for(statuses(worker), timeout=60)
    assert got == [f"s{n}" for n in range(20)]
    assert worker.output.reads <= 2  # the first line at once; the rest when the child had exited


async def test_a_trickle_read_line_by_line_without_a_linger() -> None:
    worker = await WorkerProcess.start([sys.executable, "-c", TRICKLE], linger_s=0.0)
    assert await asyncio.wait_for(statuses(worker), timeout=60) == [f"s{n}" for n in range(20)]


async def test_bulk_output_comes_whole_and_in_order_across_pauses() -> None:
    worker = await WorkerProcess.start([sys.executable, "-c", BULK], linger_s=0.05)
    got = await asyncio.wait_for(statuses(worker), timeout=60)
    assert got == [f"s{n}" + "x" * 200 for n in range(15000)]
