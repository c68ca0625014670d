"""What fencing and in-order appends cost (issue 11, item 2): the executor's ``JobWriter``
(one append at a time, each with ``Nats-Expected-Last-Subject-Sequence`` on the job) against
a pipelined baseline (``publish_async`` in windows of 512 with ``Nats-Msg-Id`` only: the writer
before issue 11, which could store events out of order and could not be fenced).

Modes: ``fenced`` = one fenced append per event (``JobWriter.add``; also what a stream without
``allow_atomic`` gets); ``grouped`` = the executor's path: events handed to an ``Appender`` as
fast as they come, stored in atomic batches of whatever queued up during the previous append.

Both write the events of one 5 hosts x 200 tasks job (2,206 events) to a real nats-server,
interleaved, several rounds. Reports per event: wall time and CPU (this process + nats-server),
and the difference per job as a share of the job's CPU budget on 2 cores.

``--paced``: the events come as a real run prints them (a burst of 11 per task, a task every
``RUNNER_WALL_5X200_S`` / 200), and ``grouped`` takes them at most once per linger, as the
executor reads the worker's output by default (``PLAYLEDGER_EVENT_LINGER_S``): what fencing
costs a real job, appends as small as a real run's. Without it, every mode writes as fast as it can (bursts: the largest batches).

    python tests/bench/bench_fencing.py [--rounds 5] [--events 2206] [--paced]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from nats.aio.client import Client  # noqa: E402

from playledger_cli.embedded import NatsServer  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_common.settings import CommonSettings, ExecutorSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_executor.appender import Appender  # noqa: E402
from playledger_executor.journal import msg_id, new_event, subject_of  # noqa: E402
from playledger_executor.writer import JobWriter  # noqa: E402
from playledger_schemas.codec import encode  # noqa: E402
from playledger_schemas.events import RunnerEvent, RunnerEventData  # noqa: E402
from playledger_schemas.subjects import EVENTS_STREAM  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_fencing.json"
WINDOW = 512
RUNNER_WALL_5X200_S = 9.63
"""ansible-runner alone on the 5 x 200 job, quiet machine (docs/benchmarks.md, section 2)."""
BURST = 11
"""Events per task of the 5 x 200 job: the task's start, and each host's start and result."""
EXECUTOR_LINGER_S: float = next(
    f.default for f in msgspec.structs.fields(ExecutorSettings) if f.name == "event_linger_s"
)
PACED = False


async def arrivals(count: int) -> AsyncIterator[int]:
    """Counters 1..count: at once, or (``PACED``) in bursts at a real run's pace."""
    gap_s = RUNNER_WALL_5X200_S / (count / BURST)
    for counter in range(1, count + 1):
        yield counter
        if PACED and counter % BURST == 0:
            await asyncio.sleep(gap_s)


def event(job_id: str, counter: int, seq: int) -> RunnerEvent:
    data = RunnerEventData(
        event="runner_on_ok", counter=counter, uuid=str(uuid.uuid4()), stdout="ok: [h1]" * 8
    )
    return new_event(RunnerEvent, job_id=job_id, attempt=1, seq=seq, data=data)


async def fenced(nc: Client, job_id: str, count: int) -> None:
    writer = JobWriter(nc, job_id, next_seq=1, stream_seq=0)
    async for counter in arrivals(count):
        await writer.add(lambda seq, c=counter: event(job_id, c, seq))


async def grouped(nc: Client, job_id: str, count: int) -> None:
    """``PACED``: events are handed over at most once per linger, as the executor reads the
    worker's pipe (``pacedpipe``); otherwise each as it comes."""
    writer = JobWriter(nc, job_id, next_seq=1, stream_seq=0)
    appender = Appender(writer)
    loop = asyncio.get_running_loop()
    held: list[int] = []

    async def hand_over() -> None:
        for counter in held:
            await appender.add(lambda seq, c=counter: event(job_id, c, seq))
        held.clear()

    read_at = -EXECUTOR_LINGER_S
    async for counter in arrivals(count):
        held.append(counter)
        if not PACED or loop.time() - read_at >= EXECUTOR_LINGER_S:
            read_at = loop.time()
            await hand_over()
    await hand_over()
    await appender.close()


async def pipelined(nc: Client, job_id: str, count: int) -> None:
    js = nc.jetstream()
    pending = []
    async for counter in arrivals(count):
        e = event(job_id, counter, counter)
        pending.append(
            await js.publish_async(
                subject_of(e), encode(e), headers={"Nats-Msg-Id": msg_id(e)}, stream=EVENTS_STREAM
            )
        )
        if len(pending) >= WINDOW:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


async def main(rounds: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            assert server.process is not None
            nats_proc = psutil.Process(server.process.pid)
            nc = await connect(server.url, "bench-fencing")
            js = nc.jetstream()
            await ensure_streams(js, CommonSettings(nats_url=server.url))
            me = psutil.Process()
            results: dict[str, dict[str, list[float]]] = {
                m: {"wall": [], "cpu": []} for m in ("pipelined", "fenced", "grouped")
            }
            for n in range(rounds + 1):
                for mode, write in (("pipelined", pipelined), ("fenced", fenced), ("grouped", grouped)):
                    cpu0 = me.cpu_times().user + me.cpu_times().system + sum(nats_proc.cpu_times()[:2])
                    t0 = time.perf_counter()
                    await write(nc, f"{mode}-{n}", count)
                    wall = time.perf_counter() - t0
                    cpu = me.cpu_times().user + me.cpu_times().system + sum(nats_proc.cpu_times()[:2]) - cpu0
                    if n:  # round 0 warms up
                        results[mode]["wall"].append(wall)
                        results[mode]["cpu"].append(cpu)
            await nc.close()
        finally:
            server.stop()
    summary: dict[str, object] = {"events_per_job": count, "rounds": rounds, "paced": PACED}
    for mode, values in results.items():
        summary[mode] = {
            "wall_s": round(statistics.median(values["wall"]), 3),
            "cpu_s": round(statistics.median(values["cpu"]), 3),
            "wall_us_per_event": round(1e6 * statistics.median(values["wall"]) / count, 1),
            "cpu_us_per_event": round(1e6 * statistics.median(values["cpu"]) / count, 1),
        }
    for mode in ("fenced", "grouped"):
        extra_cpu = statistics.median(results[mode]["cpu"]) - statistics.median(results["pipelined"]["cpu"])
        summary[f"{mode}_extra_cpu_s_per_job"] = round(extra_cpu, 3)
        summary[f"{mode}_extra_cpu_share_of_2_cores_x_runner_wall"] = (
            f"{100 * extra_cpu / (2 * RUNNER_WALL_5X200_S):.2f}%"
        )
    print(json.dumps(summary, indent=2))
    results_file = RESULTS.with_stem(f"{RESULTS.stem}_paced") if PACED else RESULTS
    results_file.parent.mkdir(exist_ok=True)
    results_file.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=2206)
    parser.add_argument("--paced", action="store_true", help="Events at a real run's pace.")
    args = parser.parse_args()
    PACED = args.paced
    asyncio.run(main(args.rounds, args.events))
