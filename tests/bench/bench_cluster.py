"""The scale story on this machine (issue 19): a 3-node NATS cluster, more executors, R3 vs R1.

``throughput``: the whole system as processes (3 nats-server nodes, PostgreSQL, projector,
executors, API) with ``--jobs`` small jobs submitted at once as NATS commands; jobs/minute and
events/s from the first submit to the last terminal event (counted from the republished events),
with 1, 2 and 4 executors on R3 streams and, in the same run, 2 executors on R1 streams on the
same 3-node cluster (the cost of replication). The CPU time of every process of the system is
reported per event (less sensitive to other work on the machine than wall time).

``pipeline``: the event pipeline alone on the same 3-node cluster: a job's ``--events`` runner
events appended by ``JobWriter`` (the executor's grouped path, as ``bench_metrics.py``) to an
events stream made R1, then R3, interleaved over ``--rounds``; events/s and the CPU of the
writer plus the three servers per event, and the ratios R3/R1.

``faults``: ``tests/faults/test_cluster.py`` at benchmark size: ``--jobs`` jobs, 3 executors, 2
projectors, kill -9 of a follower of the events stream, later of its leader; every job checked
(0 lost, 0 doubled, 0 stuck, one terminal event, the nodes' copies equal) and the recovery times.

    python tests/bench/bench_cluster.py throughput [--jobs 40] [--executors 1,2,4]
    python tests/bench/bench_cluster.py pipeline [--rounds 5] [--events 2206]
    python tests/bench/bench_cluster.py faults [--jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from nats.js.errors import NotFoundError  # noqa: E402

from playledger_common.bus import connect  # noqa: E402
from playledger_common.settings import CommonSettings  # noqa: E402
from playledger_common.streams import ensure_stream, events_stream_config  # noqa: E402
from playledger_schemas.codec import decode_event  # noqa: E402
from playledger_schemas.events import is_terminal  # noqa: E402
from playledger_schemas.subjects import DASHBOARD_SUBJECTS, EVENTS_STREAM  # noqa: E402
from tests.bench.bench_metrics import write  # noqa: E402
from tests.faults.cluster import Cluster  # noqa: E402
from tests.faults.harness import Run, check, make_jobs  # noqa: E402
from tests.faults.natscluster import NatsCluster  # noqa: E402
from tests.faults.test_cluster import CLUSTER, NODE_FAULTS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_cluster.json"


def system_cpu_s(cluster: Cluster) -> float:
    """User + system CPU seconds of every process of the system (with children: ansible runs)."""
    roots = [s.process.pid for s in cluster.services.values() if s.process is not None]
    roots += [n.process.pid for n in cluster.nats_cluster.nodes if n.process] if cluster.nats_cluster else []
    if cluster.postgres.process is not None:
        roots.append(cluster.postgres.process.pid)
    total = 0.0
    for pid in roots:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total


async def throughput(root: Path, jobs_count: int, executors: int, replicas: int) -> dict[str, Any]:
    cluster = Cluster(root, nats_nodes=3, replicas=replicas, executors=executors, concurrency=4)
    cluster.start()
    run = Run(cluster, seed=0)
    try:
        run.nc = await connect(cluster.nats_url, "bench-cluster")
        events, terminals, last_terminal = [0], [0], [0.0]
        done = asyncio.Event()

        async def count(msg: Any) -> None:
            events[0] += 1
            if is_terminal(decode_event(msg.data)):
                terminals[0] += 1
                last_terminal[0] = time.monotonic()
                if terminals[0] >= jobs_count:
                    done.set()

        await run.nc.subscribe(DASHBOARD_SUBJECTS, cb=count)
        await asyncio.sleep(3.0)  # the services settle (consumers bound) before the clock starts
        jobs = make_jobs(f"t{executors}r{replicas}-", jobs_count, steps=3, step_s=0.1, nats_every=1)
        cpu_before, load_before = system_cpu_s(cluster), os.getloadavg()[0]
        began = time.monotonic()
        await asyncio.gather(*(run.submit(job) for job in jobs))
        await asyncio.wait_for(done.wait(), timeout=900)
        wall = last_terminal[0] - began
        cpu = system_cpu_s(cluster) - cpu_before
        load = (load_before + os.getloadavg()[0]) / 2
    finally:
        await run.close()
        cluster.stop()
    return {
        "executors": executors,
        "replicas": replicas,
        "jobs": jobs_count,
        "terminal_events": terminals[0],
        "events": events[0],
        "wall_s": round(wall, 1),
        "jobs_per_min": round(jobs_count / wall * 60, 1),
        "events_per_s": round(events[0] / wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_ms_per_event": round(cpu / events[0] * 1000, 2),
        "load_avg": round(load, 1),
    }


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def pipeline(root: Path, rounds: int, count: int) -> dict[str, Any]:
    cluster = NatsCluster(root)
    cluster.start()
    rates: dict[int, list[float]] = {1: [], 3: []}
    cpu: dict[int, list[float]] = {1: [], 3: []}
    try:
        nc = await connect(cluster.url, "bench-cluster-pipeline")
        js = nc.jetstream()
        pids = [os.getpid(), *(n.process.pid for n in cluster.nodes if n.process)]
        for n in range(rounds + 1):
            for replicas in (1, 3) if n % 2 else (3, 1):  # no order bias
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(EVENTS_STREAM)
                settings = CommonSettings(nats_url=cluster.url, events_replicas=replicas)
                await ensure_stream(js, events_stream_config(settings))
                before, began = cpu_of(pids), time.perf_counter()
                await write(nc, f"p{replicas}-{n}", count, grouped=True, observe=None)
                wall, used = time.perf_counter() - began, cpu_of(pids) - before
                if n:  # round 0 warms up
                    rates[replicas].append(count / wall)
                    cpu[replicas].append(used)
        await nc.close()
    finally:
        cluster.stop()
    result: dict[str, Any] = {"events_per_job": count, "rounds": rounds, "load_avg": os.getloadavg()[0]}
    for replicas in (1, 3):
        result[f"r{replicas}_events_per_s"] = round(statistics.median(rates[replicas]))
        result[f"r{replicas}_events_per_s_range"] = [round(min(rates[replicas])), round(max(rates[replicas]))]
        result[f"r{replicas}_cpu_us_per_event"] = round(1e6 * statistics.median(cpu[replicas]) / count, 1)
    result["r3_over_r1_events_per_s"] = round(result["r3_events_per_s"] / result["r1_events_per_s"], 3)
    result["r3_over_r1_cpu_per_event"] = round(
        result["r3_cpu_us_per_event"] / result["r1_cpu_us_per_event"], 3
    )
    return result


async def faults(root: Path, jobs_count: int, seed: int) -> dict[str, Any]:
    cluster = Cluster(root, **CLUSTER)  # type: ignore[arg-type]
    cluster.start()
    run = Run(cluster, seed)
    try:
        jobs = make_jobs("f", jobs_count, steps=3, step_s=0.1)
        load_before = os.getloadavg()[0]
        wall = await run.run(jobs, NODE_FAULTS, spread_s=40.0, limit_s=900.0)
        report = await check(run, jobs, wall)
    finally:
        await run.close()
        cluster.stop()
    summary = report.summary()
    summary["load_avg"] = round((load_before + os.getloadavg()[0]) / 2, 1)
    summary["problem_list"] = report.problems[:50]
    return summary


async def main(args: argparse.Namespace) -> int:
    result: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        if args.mode == "pipeline":
            result = await pipeline(Path(tmp) / "p", args.rounds, args.events)
            print(json.dumps(result, indent=2))
            failed = False
        elif args.mode == "faults":
            result = await faults(Path(tmp) / "f", args.jobs, args.seed)
            print(json.dumps(result, indent=2))
            failed = bool(result["problem_list"])
        else:
            rows = []
            configs = [(n, 3) for n in args.executors] + [(2, 1)]
            for executors, replicas in configs:
                row = await throughput(Path(tmp) / f"e{executors}r{replicas}", args.jobs, executors, replicas)
                print(json.dumps(row))
                rows.append(row)
            r3 = next(r for r in rows if r["executors"] == 2 and r["replicas"] == 3)
            r1 = rows[-1]
            result = {
                "rows": rows,
                "r3_over_r1_jobs_per_min": round(r3["jobs_per_min"] / r1["jobs_per_min"], 3),
                "r3_over_r1_cpu_per_event": round(r3["cpu_ms_per_event"] / r1["cpu_ms_per_event"], 3),
            }
            print(
                f"{'executors':>9} {'R':>2} {'jobs/min':>9} {'events/s':>9} {'CPU ms/event':>13} {'load':>5}"
            )
            for r in rows:
                print(
                    f"{r['executors']:>9} {r['replicas']:>2} {r['jobs_per_min']:>9} {r['events_per_s']:>9} "
                    f"{r['cpu_ms_per_event']:>13} {r['load_avg']:>5}"
                )
            print(
                f"R3/R1 (2 executors): jobs/min {result['r3_over_r1_jobs_per_min']}, "
                f"CPU per event {result['r3_over_r1_cpu_per_event']}"
            )
            failed = any(r["terminal_events"] != r["jobs"] for r in rows)
    RESULTS.parent.mkdir(exist_ok=True)
    out = RESULTS.with_name(f"bench_cluster_{args.mode}.json")
    out.write_text(json.dumps(result, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["throughput", "pipeline", "faults"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=2206)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--executors", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    parsed = parser.parse_args()
    if parsed.jobs is None:
        parsed.jobs = 100 if parsed.mode == "faults" else 40
    sys.exit(asyncio.run(main(parsed)))
