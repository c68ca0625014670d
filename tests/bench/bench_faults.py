"""The fault harness at benchmark size: more jobs, more faults (issue 11).

Runs ``tests/faults/harness.py`` against the whole system (nats-server, PostgreSQL, projector,
executor, API as processes), injecting seeded kill -9 and SIGSTOP/SIGCONT of every component,
then checks every job against a replay of the stream. Reports jobs, faults, lost, doubled,
stuck, unplanned crashes and recovery time; writes ``results/bench_faults.json``.

    python tests/bench/bench_faults.py [--jobs 60] [--faults 20] [--window 120] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from tests.faults.cluster import COMPONENTS, Cluster  # noqa: E402
from tests.faults.harness import Run, check, make_jobs, plan_faults  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_faults.json"


async def main(jobs_count: int, faults_count: int, window_s: float, seed: int, executors: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        cluster = Cluster(Path(tmp) / "cluster", executors=executors, ack_wait_s=5.0)
        cluster.start()
        run = Run(cluster, seed)
        try:
            jobs = make_jobs("b", jobs_count, steps=10, step_s=0.3)
            faults = plan_faults(seed, COMPONENTS, faults_count, window_s, max_s=4.0)
            wall = await run.run(jobs, faults, spread_s=window_s * 0.8, limit_s=600.0)
            report = await check(run, jobs, wall)
        finally:
            await run.close()
            cluster.stop()
    summary = report.summary()
    summary["executors"] = executors
    print(json.dumps(summary, indent=2))
    for problem in report.problems[:50]:
        print("PROBLEM", problem)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**summary, "problem_list": report.problems[:200]}, indent=2))
    return 1 if report.problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.jobs, args.faults, args.window, args.seed, args.executors)))
