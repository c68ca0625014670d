"""What the executor's metrics cost on the event hot path (issue 19): the same job written with
``JobWriter`` with and without them, interleaved, in one run.

With metrics = what ``JobRunner`` does per event and per append: one plain ``int`` increment per
runner event and one ``Histogram.observe`` per append (``on_stored``). ``fenced`` (one append per
event, a stream without ``allow_atomic``) is the worst case: one observation per event.
Reported: CPU of this process per event in both, and the ratio (with / without).

    python tests/bench/bench_metrics.py [--rounds 7] [--events 2206]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from nats.aio.client import Client  # noqa: E402

from playledger_cli.embedded import NatsServer  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_common.settings import CommonSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_executor.appender import Appender  # noqa: E402
from playledger_executor.metrics import ExecutorMetrics  # noqa: E402
from playledger_executor.writer import JobWriter  # noqa: E402
from tests.bench.bench_fencing import event  # noqa: E402 - the same job's events

RESULTS = Path(__file__).parent / "results" / "bench_metrics.json"


class Counted:
    runner_events = 0


async def write(
    nc: Client, job_id: str, count: int, *, grouped: bool, observe: Callable[[float], object] | None
) -> None:
    counted = Counted()
    writer = JobWriter(nc, job_id, next_seq=1, stream_seq=0, on_stored=observe)
    appender = Appender(writer)
    for counter in range(1, count + 1):
        if observe is not None:
            counted.runner_events += 1
        build = lambda seq, c=counter: event(job_id, c, seq)  # noqa: E731
        if grouped:
            await appender.add(build)
        else:
            await writer.add(build)
    await appender.close()


async def main(rounds: int, count: int) -> None:
    metrics = ExecutorMetrics()
    modes = {
        f"{path}_{kind}": (path == "grouped", metrics.publish_latency.observe if kind == "metrics" else None)
        for path in ("fenced", "grouped")
        for kind in ("plain", "metrics")
    }
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            nc = await connect(server.url, "bench-metrics")
            await ensure_streams(nc.jetstream(), CommonSettings(nats_url=server.url))
            me = psutil.Process()
            for n in range(rounds + 1):
                order = list(modes.items())
                for mode, (grouped, observe) in order if n % 2 else reversed(order):  # no order bias
                    before = sum(me.cpu_times()[:2])
                    await write(nc, f"{mode}-{n}", count, grouped=grouped, observe=observe)
                    if n:  # round 0 warms up
                        cpu[mode].append(sum(me.cpu_times()[:2]) - before)
            await nc.close()
        finally:
            server.stop()
    summary: dict[str, object] = {"events_per_job": count, "rounds": rounds}
    for mode, values in cpu.items():
        summary[f"{mode}_cpu_us_per_event"] = round(1e6 * statistics.median(values) / count, 1)
    for path in ("fenced", "grouped"):
        ratio = statistics.median(cpu[f"{path}_metrics"]) / statistics.median(cpu[f"{path}_plain"])
        summary[f"{path}_ratio_with_metrics"] = round(ratio, 3)
    summary["appends_observed"] = metrics.registry.get_sample_value(
        "playledger_executor_publish_duration_seconds_count"
    )
    print(json.dumps(summary, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=2206)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.events))
