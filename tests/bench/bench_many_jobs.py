"""Benchmark 5: many jobs at once.

100 small jobs (1 local host, 5 tasks) submitted together to ONE executor with a
concurrency of 10, versus the same jobs run by plain ``ansible-runner run``, 10 at a time.
Checks that every playledger job completed with every event present (per-job sequences
gap-free, the terminal event counting exactly the runner events in the stream).

    python tests/bench/bench_many_jobs.py [--jobs 100] [--concurrency 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from playledger_cli.embedded import NatsServer
from playledger_common.bus import connect
from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_streams
from playledger_schemas.codec import decode_event, encode
from playledger_schemas.commands import InlineInventory, JobSpec, LocalSource, SubmitJob
from playledger_schemas.events import RunnerEvent, is_terminal
from playledger_schemas.subjects import ALL_JOB_EVENTS, EVENTS_STREAM, submit_subject

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
""" + "".join(
    f"    - name: task {i}\n      ansible.builtin.debug:\n        msg: step {i}\n" for i in range(5)
)

RESULTS = Path(__file__).parent / "results"


def runner_env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1"}


async def plain_runner(jobs: int, concurrency: int, projects: Path, work: Path) -> float:
    """The baseline: ``ansible-runner run`` per job, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)
    runner = str(Path(sys.executable).parent / "ansible-runner")

    async def one(index: int) -> None:
        async with gate:
            pdd = work / f"plain-{index}"
            (pdd / "inventory").mkdir(parents=True)
            (pdd / "inventory" / "hosts").write_text("h ansible_connection=local\n")
            shutil.copytree(projects, pdd / "project")
            env = {**runner_env(), "HOME": str(pdd)}
            process = await asyncio.create_subprocess_exec(
                runner,
                "run",
                str(pdd),
                "-p",
                "bench.yml",
                "-q",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            if await process.wait() != 0:
                msg = f"plain ansible-runner job {index} failed"
                raise RuntimeError(msg)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(jobs)))
    return time.perf_counter() - started


async def playledger_run(
    jobs: int, concurrency: int, projects: Path, work: Path
) -> tuple[float, dict[str, int]]:
    """Submit ``jobs`` commands at once to one executor; wait for every terminal event."""
    nats = NatsServer(store_dir=work / "nats").start()
    executor = None
    try:
        nc = await connect(nats.url, "bench-many-jobs")
        js = nc.jetstream()
        await ensure_streams(js, CommonSettings(nats_url=nats.url))
        env = {
            **runner_env(),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "PLAYLEDGER_NATS_URL": nats.url,
            "PLAYLEDGER_PROJECTS_DIR": str(projects),
            "PLAYLEDGER_LOGS_DIR": str(work / "logs"),
            "PLAYLEDGER_CONCURRENCY": str(concurrency),
            "PLAYLEDGER_LOG_LEVEL": "WARNING",
        }
        executor = subprocess.Popen([sys.executable, "-m", "playledger_cli", "executor"], env=env)
        await asyncio.sleep(2.0)  # let it create its consumers before the burst
        spec = JobSpec(
            source=LocalSource(path="bench.yml"),
            inventory=InlineInventory(hosts=["h"], vars={"ansible_connection": "local"}),
        )
        ids = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(jobs)]
        done = asyncio.Event()
        terminal: set[str] = set()
        runner_seen: dict[str, int] = defaultdict(int)
        seqs: dict[str, list[int]] = defaultdict(list)
        declared: dict[str, int] = {}

        async def on_event(msg: object) -> None:
            event = decode_event(msg.data)  # type: ignore[attr-defined]
            seqs[event.job_id].append(event.seq)
            if isinstance(event, RunnerEvent):
                runner_seen[event.job_id] += 1
            elif is_terminal(event):
                terminal.add(event.job_id)
                declared[event.job_id] = event.data.runner_events  # type: ignore[union-attr]
                if len(terminal) == jobs:
                    done.set()

        sub = await js.subscribe(ALL_JOB_EVENTS, stream=EVENTS_STREAM, cb=on_event, ordered_consumer=True)
        started = time.perf_counter()
        acks = [
            js.publish_async(
                submit_subject("normal", job_id),
                encode(SubmitJob(job_id=job_id, spec=spec)),
                headers={"Nats-Msg-Id": f"submit:{job_id}"},
            )
            for job_id in ids
        ]
        await asyncio.gather(*acks)
        await asyncio.wait_for(done.wait(), timeout=1800)
        elapsed = time.perf_counter() - started
        await sub.unsubscribe()
        await nc.close()
        gap_free = sum(1 for j in ids if sorted(seqs[j]) == list(range(1, len(seqs[j]) + 1)))
        counted = sum(1 for j in ids if declared.get(j) == runner_seen[j] > 0)
        return elapsed, {
            "completed": len(terminal),
            "gap_free": gap_free,
            "all_runner_events_present": counted,
        }
    finally:
        if executor is not None:
            executor.terminate()
            executor.wait(timeout=60)
        nats.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    plain_times, ledger_times, checks = [], [], {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            projects = work / "projects"
            projects.mkdir()
            (projects / "bench.yml").write_text(PLAYBOOK)
            plain_times.append(asyncio.run(plain_runner(args.jobs, args.concurrency, projects, work)))
            elapsed, checks = asyncio.run(playledger_run(args.jobs, args.concurrency, projects, work))
            ledger_times.append(elapsed)
    plain, ledger = statistics.median(plain_times), statistics.median(ledger_times)
    result = {
        "benchmark": "many_jobs",
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "plain_ansible_runner_s": plain_times,
        "playledger_s": ledger_times,
        "ratio_median": ledger / plain,
        "checks": checks,
        "cpus": os.cpu_count(),
    }
    print(f"{'mode':<34}{'median s':>10}{'jobs/s':>10}")
    print(f"{'plain ansible-runner, 10 at once':<34}{plain:>10.1f}{args.jobs / plain:>10.2f}")
    print(f"{'playledger, 1 executor x 10':<34}{ledger:>10.1f}{args.jobs / ledger:>10.2f}")
    print(f"ratio playledger / plain: {ledger / plain:.3f}   checks: {checks}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_many_jobs.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
