"""The executor's own CPU per runner event on its hot path (issue 20: <= 100 us).

Step 1 records what a real ``ansible-runner worker`` writes for one 5 hosts x 200 tasks job
(local connection, forks 5: 2,206 event lines, status lines, the artifact zip, ``eof``), once.
Step 2 replays those bytes through the executor's real per-event path, as fast as it takes
them: ``WorkerProcess`` reading a pipe from a real process (``cat`` of the recording), the
pump (``JobRunner._pump``: decode, redaction, truncation, log spool, event building, encoding),
the ``Appender`` and ``JobWriter`` appending atomic batches to a real nats-server. CPU is this
process's own (``time.process_time``: every thread), so the figure does not grow with other
work on the machine the way wall time does; nats-server's CPU is reported beside it.

Modes, interleaved each round: ``plain`` (no secrets: ``Redactor`` not built, the default) and
``secrets`` (20 random secrets of 16-40 characters masked in every line). ``--profile`` runs one
more replay under cProfile and prints where the time goes.

    python tests/bench/bench_executor_cpu.py [--rounds 5] [--recording /tmp/5x200.jsonl] [--profile] [--paced]

``--paced`` writes each line when the recorded run did, so the appends are as small and as
many as in a real run (the figure a real job pays; ``bench_overhead.py`` measures it on real
jobs). Without it, the recording is read as fast as the executor takes it (big batches: the
per-event work alone).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]
sys.path.insert(0, str(Path(__file__).parent))

from bench_overhead import FORKS, inventory_json, playbook, run_env  # noqa: E402

from playledger_cli.embedded import NatsServer  # noqa: E402
from playledger_common.bus import connect  # noqa: E402
from playledger_common.logstore import LocalStore  # noqa: E402
from playledger_common.settings import CommonSettings, ExecutorSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_executor.job import JobRunner, _Run  # noqa: E402
from playledger_executor.logship import LogShipper  # noqa: E402
from playledger_executor.metrics import ExecutorMetrics  # noqa: E402
from playledger_executor.redact import NOTHING, Redactor  # noqa: E402
from playledger_executor.running import RunningJob  # noqa: E402
from playledger_executor.worker import WorkerProcess  # noqa: E402
from playledger_executor.writer import JobWriter  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_executor_cpu.json"
IDLE_S = 5.0
APPENDS: list[float] = []
"""The duration of every append made (one per atomic batch or single event)."""
BIN = Path(sys.executable).parent


async def record(path: Path, work: Path, hosts: int, tasks: int) -> None:
    """The worker's stdout of one real run, byte for byte."""
    private = work / "pdd"
    (private / "inventory").mkdir(parents=True)
    (private / "project").mkdir()
    (private / "project" / "play.yml").write_text(playbook(tasks))
    (private / "inventory" / "hosts.json").write_text(json.dumps(inventory_json(hosts)))
    kwargs = {
        "playbook": "play.yml",
        "inventory": "inventory/hosts.json",
        "forks": FORKS,
        "ident": "record",
        "suppress_env_files": True,
        "settings": {"pexpect_timeout": 0.5, "suppress_ansible_output": True},
    }
    with path.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(BIN / "ansible-runner"),
            "worker",
            "--private-data-dir",
            str(private),
            stdin=asyncio.subprocess.PIPE,
            stdout=out,
            stderr=asyncio.subprocess.DEVNULL,
            env=run_env(private / "home"),
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps({"kwargs": kwargs}).encode() + b'\n{"eof": true}\n')
        await process.stdin.drain()
        process.stdin.close()
        assert await process.wait() == 0


PACED = """
import json, sys, time
from datetime import datetime
out, first, began = sys.stdout.buffer, None, time.monotonic()
for line in open(sys.argv[1], "rb"):
    try:
        created = json.loads(line).get("created")
    except ValueError:
        created = None
    if created:
        at = datetime.fromisoformat(created).timestamp()
        first = at if first is None else first
        time.sleep(max(0.0, began + at - first - time.monotonic()))
    out.write(line)
    out.flush()
"""
"""A stand-in for the worker's pipe that writes each event line when the recorded run did (its
``created`` time), so batches are as small as in a real run: what a real job pays per event."""


async def replay(
    runner: JobRunner, nc: Any, recording: Path, spool_dir: Path, redactor: Redactor, *, paced: bool
) -> int:
    """One pass of the recording through the pump to the stream; the runner events it stored."""
    job_id = f"cpu-{uuid.uuid4().hex[:12]}"
    source = [sys.executable, "-c", PACED, str(recording)] if paced else ["cat", str(recording)]
    worker = await WorkerProcess.start(source, linger_s=runner.settings.event_linger_s, redactor=redactor)

    def stored(seconds: float) -> None:
        APPENDS.append(seconds)
        runner.metrics.publish_latency.observe(seconds)

    writer = JobWriter(nc, job_id, next_seq=1, stream_seq=0, on_stored=stored)
    handle = RunningJob(job_id=job_id, attempt=1, command_seq=1)
    shipper = LogShipper(
        runner.store, job_id, 1, spool_dir / f"{job_id}.stdout", flush_s=2.0, flush_bytes=8 * 1024**2
    )
    try:
        await runner._pump(worker, writer, _Run(), handle, shipper)  # the path measured
    finally:
        await shipper.stop()
    await worker.wait()
    return writer.runner_events


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def main(
    rounds: int, recording: Path | None, hosts: int, tasks: int, *, profile: bool, paced: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if recording is None or not recording.exists():
            target = recording or work / "recording.jsonl"
            print(f"recording a real {hosts} x {tasks} worker run to {target} …", flush=True)
            await record(target, work, hosts, tasks)
            recording = target
        server = NatsServer(store_dir=work / "nats").start()
        try:
            assert server.process is not None
            nats_proc = psutil.Process(server.process.pid)
            nc = await connect(server.url, "bench-executor-cpu")
            await ensure_streams(nc.jetstream(), CommonSettings(nats_url=server.url))
            settings = ExecutorSettings(nats_url=server.url, projects_dir=work, logs_dir=work / "logs")
            store = LocalStore(work / "logs")
            runner = JobRunner(nc, settings, "bench", store, ExecutorMetrics())
            with_secrets = Redactor([secrets.token_urlsafe(secrets.choice(range(12, 30))) for _ in range(20)])
            modes = {"plain": NOTHING, "secrets": with_secrets}
            cpu: dict[str, list[float]] = {m: [] for m in modes}
            nats_cpu: dict[str, list[float]] = {m: [] for m in modes}
            wall: dict[str, list[float]] = {m: [] for m in modes}
            appends: dict[str, list[int]] = {m: [] for m in modes}
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(IDLE_S)  # what the process costs per second with no job at all
            idle_us_per_s = (time.process_time() - c0) / (time.perf_counter() - w0) * 1e6
            events = 0
            for n in range(rounds + 1):
                order = list(modes) if n % 2 else list(reversed(modes))
                for mode in order:
                    APPENDS.clear()
                    c0, n0, w0 = time.process_time(), cpu_of(nats_proc), time.perf_counter()
                    events = await replay(runner, nc, recording, work, modes[mode], paced=paced)
                    c1, n1, w1 = time.process_time(), cpu_of(nats_proc), time.perf_counter()
                    if n:  # round 0 warms up
                        cpu[mode].append((c1 - c0) / events * 1e6)
                        nats_cpu[mode].append((n1 - n0) / events * 1e6)
                        wall[mode].append((w1 - w0) / events * 1e6)
                        appends[mode].append(len(APPENDS))
            profile_text = ""
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await replay(runner, nc, recording, work, NOTHING, paced=paced)
                profiler.disable()
                buffer = io.StringIO()
                pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(30)
                profile_text = buffer.getvalue()
            await nc.close()
        finally:
            server.stop()
    load = os.getloadavg()[0]
    pace = "at the recorded pace" if paced else "as fast as taken"
    print(
        f"executor hot path, {events} runner events per job {pace}, median of {rounds} rounds, load {load:.1f}"
    )
    print(
        f"{'mode':<10}{'CPU us/event':>14}{'spread':>14}{'nats-server us':>16}{'wall us/event':>15}"
        f"{'appends/job':>13}"
    )
    report: dict[str, Any] = {"events": events, "rounds": rounds, "paced": paced, "load_average": load}
    for mode in modes:
        median = statistics.median(cpu[mode])
        report[mode] = {
            "cpu_us_per_event": median,
            "runs": cpu[mode],
            "nats_cpu_us_per_event": statistics.median(nats_cpu[mode]),
            "wall_us_per_event": statistics.median(wall[mode]),
            "appends_per_job": statistics.median(appends[mode]),
        }
        spread = f"{min(cpu[mode]):.0f}-{max(cpu[mode]):.0f}"
        print(
            f"{mode:<10}{median:>14.1f}{spread:>14}{statistics.median(nats_cpu[mode]):>16.1f}"
            f"{statistics.median(wall[mode]):>15.1f}{statistics.median(appends[mode]):>13.0f}"
        )
    print(
        f"idle (connected, no job): {idle_us_per_s:.0f} us CPU per second; a job's events arrived "
        f"over {statistics.median(wall['plain']) * events / 1e6:.1f} s"
    )
    report["idle_cpu_us_per_s"] = idle_us_per_s
    print("target: executor CPU <= 100 us per runner event")
    if profile_text:
        print(profile_text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--recording", type=Path, help="Reuse (or write) the worker's recorded output here.")
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="One more replay under cProfile.")
    parser.add_argument("--paced", action="store_true", help="Lines at the recorded run's pace.")
    args = parser.parse_args()
    asyncio.run(
        main(args.rounds, args.recording, args.hosts, args.tasks, profile=args.profile, paced=args.paced)
    )
