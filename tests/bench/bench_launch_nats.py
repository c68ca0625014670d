"""Launch rate via NATS commands (issue 7, item 4, NATS part).

Submit commands are accepted when the intake has appended ``job.queued``; run consumers are
not started (executors "paused"), so this measures acceptance only. Two modes per round:
``backlog`` (all commands published first, then the intake drains them) and ``live``
(commands published while the intake runs). Median of N rounds and the spread.

    python tests/bench/bench_launch_nats.py [--jobs 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for sub in ("schemas", "services/common", "services/executor"):
    sys.path.insert(0, str(REPO / sub))

from nats.js import JetStreamContext  # noqa: E402

from playledger_cli.embedded import NatsServer  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_common.consumers import ensure_consumers  # noqa: E402
from playledger_common.settings import ExecutorSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_executor.intake import Intake  # noqa: E402
from playledger_schemas.codec import encode  # noqa: E402
from playledger_schemas.commands import InlineInventory, JobSpec, LocalSource, SubmitJob  # noqa: E402
from playledger_schemas.subjects import EVENTS_STREAM, submit_subject  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_launch_nats.json"


async def publish_commands(js: JetStreamContext, prefix: str, jobs: int) -> None:
    spec = JobSpec(source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["localhost"]))
    futures = []
    for n in range(jobs):
        job_id = f"{prefix}-{n}"
        command = encode(SubmitJob(job_id=job_id, spec=spec))
        futures.append(
            await js.publish_async(
                submit_subject("normal", job_id), command, headers={"Nats-Msg-Id": f"submit:{job_id}"}
            )
        )
        if len(futures) >= 1000:
            await asyncio.gather(*futures)
            futures = []
    await asyncio.gather(*futures)


async def wait_events(js: JetStreamContext, target: int) -> None:
    while (await js.stream_info(EVENTS_STREAM)).state.messages < target:
        await asyncio.sleep(0.01)


async def one_round(
    url: str, settings: ExecutorSettings, mode: str, round_no: int, jobs: int, base: int
) -> float:
    nc = await connect(url, "bench")
    js = nc.jetstream()
    intake_nc = await connect(url, "bench-intake")
    intake = Intake(intake_nc, settings)
    stopping = asyncio.Event()
    prefix = f"{mode}{round_no}"
    try:
        if mode == "backlog":
            await publish_commands(js, prefix, jobs)
            started = time.perf_counter()
            task = asyncio.create_task(intake.run(stopping))
            await wait_events(js, base + jobs)
        else:
            task = asyncio.create_task(intake.run(stopping))
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            await publish_commands(js, prefix, jobs)
            await wait_events(js, base + jobs)
        elapsed = time.perf_counter() - started
        stopping.set()
        await task
    finally:
        await intake_nc.close()
        await nc.close()
    return jobs / elapsed


async def main(jobs: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        projects = root / "projects"
        projects.mkdir()
        (projects / "site.yml").write_text("- hosts: all\n  tasks: []\n")
        server = NatsServer(store_dir=root / "nats").start()
        try:
            settings = ExecutorSettings(nats_url=server.url, projects_dir=projects)
            nc = await connect(server.url, "bench-setup")
            await ensure_streams(nc.jetstream(), settings)
            await ensure_consumers(nc.jetstream(), settings.ack_wait_s)
            await nc.close()
            rates: dict[str, list[float]] = {"backlog": [], "live": []}
            total = 0
            for round_no in range(rounds):
                for mode in ("backlog", "live"):
                    rates[mode].append(await one_round(server.url, settings, mode, round_no, jobs, total))
                    total += jobs
        finally:
            server.stop()
    rows = {
        mode: {
            "median_per_s": statistics.median(values),
            "min_per_s": min(values),
            "max_per_s": max(values),
            "rounds": values,
        }
        for mode, values in rates.items()
    }
    print(
        f"launch rate via NATS (intake only), {jobs} submits per round, {rounds} rounds, {os.cpu_count()} cpus"
    )
    print(f"{'mode':<10}{'median/s':>12}{'min/s':>12}{'max/s':>12}   target >= 1000/s")
    for mode, row in rows.items():
        print(f"{mode:<10}{row['median_per_s']:>12.0f}{row['min_per_s']:>12.0f}{row['max_per_s']:>12.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"jobs_per_round": jobs, "rounds": rounds, "cpus": os.cpu_count(), "modes": rows}, indent=2
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.rounds))
