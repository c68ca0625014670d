"""Overhead of playledger on real playbooks (issue 7, item 2, executor part).

Cases: 1 host x 50 tasks, and 5 hosts x 200 tasks (local connection, forks 5). Modes, run
interleaved in each round on the same machine:

- ``ansible-playbook``: plain ansible, stdout to /dev/null;
- ``ansible-runner``: one ``ansible-runner worker`` subprocess read from asyncio (events
  parsed, nothing published), the same runner settings playledger uses;
- ``playledger (stream)``: a submit command published to NATS -> the job's terminal event
  acknowledged in the events stream (an executor process, every runner event appended);
- ``playledger (API)``: the whole system (``playledger dev``: executor, projector, API):
  ``POST /api/v1/jobs?wait=300`` returns when the job is ``complete`` in the read model
  (terminal status projected, every event queryable): the synchronous mode clients use;
- ``playledger (API, secrets)``: the same job naming stored credentials (a passphrase-protected
  ssh key, a become password, a vault password: the most one job carries, 4 values and 20+
  masked forms with the key's lines): secrets fetched sealed from the API, ``ssh-agent`` +
  ``ssh-add``, prompts answered, and every event line masked by the executor.
  (Polling ``GET`` every 20 ms from here instead cost ansible ~20 % on 2 cores: the
  measurement itself competed for the CPU.)

Median of N rounds, spread (min-max), and playledger's overhead vs plain ansible-runner.
For every ``playledger (stream)`` job it also reports the executor process's own CPU time
(user + system, not its ansible-runner children) per runner event: a load-robust figure, since
CPU time does not grow when other work shares the cores (issue 20: <= 100 us).

And for every job of every mode, the CPU the control plane spent meanwhile (executor,
projector, API, notifier, nats-server, PostgreSQL; not ansible): what playledger adds beyond
its idle cost during a plain ansible-runner job, as a share of the job's CPU budget (2 cores x
the runner's wall time). ansible keeps both cores busy (≈ 1.75 of 2), so this share is what
the wall-time ratio shows, without the machine's pace drifting from round to round in it.

    python tests/bench/bench_overhead.py [--rounds 3] [--case 5x200] [--modes stream]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PATHS = [
    str(REPO / p)
    for p in ("schemas", "services/common", "services/api", "services/executor", "services/projector")
]
sys.path[:0] = PATHS

import httpx  # noqa: E402
import psutil  # noqa: E402

from playledger_cli.client_auth import ADMIN_KEY_FILE  # noqa: E402
from playledger_cli.dev import start as start_system  # noqa: E402
from playledger_cli.dev import wait_until_ready  # noqa: E402
from playledger_common.bus import connect_as  # noqa: E402
from playledger_common.nats_users import Role, stored_user  # noqa: E402
from playledger_common.settings import CommonSettings  # noqa: E402
from playledger_schemas.codec import decode_event, encode  # noqa: E402
from playledger_schemas.commands import InlineInventory, JobOptions, JobSpec, LocalSource, SubmitJob  # noqa: E402
from playledger_schemas.events import RunnerEvent, is_terminal  # noqa: E402
from playledger_schemas.subjects import dashboard_job_filter, submit_subject  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_overhead.json"
BIN = Path(sys.executable).parent
HOST_VARS = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
CASES = {"1x50": (1, 50), "5x200": (5, 200)}
MODES = [
    "ansible-playbook",
    "ansible-runner",
    "playledger (stream)",
    "playledger (API)",
    "playledger (API, secrets)",
]
FORKS = 5


def playbook(tasks: int) -> str:
    lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
    for n in range(tasks):
        lines += [
            f"    - name: task {n}",
            "      ansible.builtin.debug:",
            f'        msg: "task {n} on {{{{ inventory_hostname }}}}"',
        ]
    return "\n".join(lines) + "\n"


def hosts(count: int) -> list[str]:
    return [f"h{n}" for n in range(count)]


def inventory_json(count: int) -> dict[str, Any]:
    return {"all": {"hosts": {h: {} for h in hosts(count)}, "vars": HOST_VARS}}


def run_env(home: Path) -> dict[str, str]:
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1"}


async def plain_ansible(work: Path, case: str) -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        str(BIN / "ansible-playbook"),
        "-i",
        str(work / f"{case}.json"),
        "--forks",
        str(FORKS),
        str(work / "projects" / f"{case}.yml"),
        env=run_env(work / "home"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    rc = await process.wait()
    assert rc == 0, f"ansible-playbook rc {rc}"
    return time.perf_counter() - started


async def plain_runner(work: Path, case: str) -> float:
    private = work / f"pdd-{uuid.uuid4().hex[:8]}"
    (private / "inventory").mkdir(parents=True)
    (private / "inventory" / "hosts.json").write_text((work / f"{case}.json").read_text())
    kwargs = {
        "playbook": f"{case}.yml",
        "project_dir": str(work / "projects"),
        "inventory": "inventory/hosts.json",
        "forks": FORKS,
        "ident": "bench",
        "suppress_env_files": True,
        "settings": {"pexpect_timeout": 0.5, "suppress_ansible_output": True},
    }
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        str(BIN / "ansible-runner"),
        "worker",
        "--private-data-dir",
        str(private),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=run_env(private / "home"),
        limit=64 * 1024 * 1024,
        start_new_session=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps({"kwargs": kwargs}).encode() + b'\n{"eof": true}\n')
    await process.stdin.drain()
    process.stdin.close()
    events, status = 0, None
    while line := await process.stdout.readline():
        data = json.loads(line)
        if "zipfile" in data:
            await process.stdout.readexactly(4 * ((data["zipfile"] + 2) // 3))
        elif "eof" in data:
            break
        elif "status" in data:
            status = data["status"]
        else:
            events += 1
    await process.wait()
    elapsed = time.perf_counter() - started
    assert status == "successful", status
    subprocess.run(["rm", "-rf", str(private)], check=True)
    return elapsed


def cpu_s(process: psutil.Process) -> float:
    """The process's own CPU seconds (user + system), without its children's."""
    times = process.cpu_times()
    return float(times.user + times.system)


LIVE_MS: list[float] = []
"""Each runner event's way to a dashboard subscriber on ``playledger (stream)`` jobs, in ms: from
ansible-runner's ``created`` to its arrival here (the executor's event linger comes first)."""
EXECUTOR_CPU: list[float] = []
"""Executor CPU µs per runner event of each ``playledger (stream)`` job measured."""


def control_plane(system: Any) -> list[tuple[str, psutil.Process]]:
    """playledger's processes by part: its services, nats-server, and PostgreSQL with its backends."""
    processes = [(child.name, psutil.Process(child.process.pid)) for child in system.children]
    processes.append(("nats-server", psutil.Process(system.nats.process.pid)))
    data_dir = str(system.postgres.data_dir) if system.postgres is not None else None
    for process in psutil.process_iter(["cmdline"]):
        if data_dir and data_dir in " ".join(process.info["cmdline"] or []):
            processes += [("postgres", p) for p in (process, *process.children(recursive=True))]
    return processes


def control_plane_cpu_s(system: Any) -> dict[str, float]:
    """CPU seconds each part of the control plane has used so far (a process that exits takes its
    share along: only the long-lived ones count, which is every service and PostgreSQL backend here)."""
    totals: dict[str, float] = {}
    for part, process in control_plane(system):
        try:
            totals[part] = totals.get(part, 0.0) + cpu_s(process)
        except psutil.NoSuchProcess:
            continue
    return totals


async def playledger(js: Any, nc: Any, case: str, executor: psutil.Process | None = None) -> float:
    """``js``: a publisher's JetStream context; ``nc``: a dashboard's connection (events).

    With ``executor``, its CPU time over the job (submit to terminal event) per runner event
    goes to ``EXECUTOR_CPU``."""
    count, _ = CASES[case]
    job_id = f"bench-{case.replace('x', '-')}-{uuid.uuid4().hex[:8]}"
    spec = JobSpec(
        source=LocalSource(path=f"{case}.yml"),
        inventory=InlineInventory(hosts=hosts(count), vars=HOST_VARS),
        options=JobOptions(forks=FORKS),
    )
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        event = decode_event(msg.data)
        if isinstance(event, RunnerEvent) and event.data.created:
            LIVE_MS.append((time.time() - datetime.fromisoformat(event.data.created).timestamp()) * 1e3)
        elif is_terminal(event) and not done.done():
            done.set_result(event)

    sub = await nc.subscribe(dashboard_job_filter(job_id), cb=on_event)
    cpu_before = cpu_s(executor) if executor is not None else 0.0
    started = time.perf_counter()
    await js.publish(submit_subject("normal", job_id), encode(SubmitJob(job_id=job_id, spec=spec)))
    event = await asyncio.wait_for(done, timeout=600)
    elapsed = time.perf_counter() - started
    if executor is not None:
        EXECUTOR_CPU.append((cpu_s(executor) - cpu_before) / event.data.runner_events * 1e6)
    await sub.unsubscribe()
    assert type(event).__name__ == "JobSucceeded", event
    return elapsed


SECRETS = {"ssh": "bench-key", "become_password": "bench-become", "vault_password": "bench-vault"}


async def store_credentials(client: httpx.AsyncClient, work: Path) -> None:
    key = work / "bench-key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "bench passphrase", "-f", str(key)], check=True
    )
    bodies = [
        {
            "name": "bench-key",
            "type": "ssh_key",
            "private_key": key.read_text(),
            "passphrase": "bench passphrase",
        },
        {"name": "bench-become", "type": "password", "password": "bench become password"},
        {"name": "bench-vault", "type": "vault_password", "password": "bench vault password"},
    ]
    for body in bodies:
        response = await client.post("/api/v1/credentials", json=body)
        assert response.status_code == 201, response.text


async def connect_role(data_dir: Path, url: str, role: Role) -> Any:
    user = stored_user(data_dir, role)
    assert user is not None, f"no NATS user {role} in {data_dir}"
    return await connect_as(
        CommonSettings(nats_url=url, nats_user=user.user, nats_password=user.password), "bench"
    )


async def playledger_api(client: httpx.AsyncClient, case: str, *, secrets: bool = False) -> float:
    count, _ = CASES[case]
    body: dict[str, Any] = {
        "source": {"type": "local", "path": f"{case}.yml"},
        "inventory": {"type": "inline", "hosts": hosts(count), "vars": HOST_VARS},
        "options": {"forks": FORKS},
    }
    if secrets:
        body["credentials"] = SECRETS
    started = time.perf_counter()
    response = await client.post("/api/v1/jobs", params={"wait": 300}, json=body)
    assert response.status_code == 200, response.text  # 200: terminal and complete in the read model
    job = response.json()
    elapsed = time.perf_counter() - started
    assert job["status"] == "successful", job
    return elapsed


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "projects").mkdir()
        (work / "home").mkdir()
        for case, (count, tasks) in CASES.items():
            (work / "projects" / f"{case}.yml").write_text(playbook(tasks))
            (work / f"{case}.json").write_text(json.dumps(inventory_json(count)))
        system = await asyncio.to_thread(start_system, work / "system", work / "projects", concurrency=1)
        await asyncio.to_thread(wait_until_ready, system)
        data_dir = work / "system"
        publisher = await connect_role(data_dir, system.nats.url, "publisher")
        nc = await connect_role(data_dir, system.nats.url, "dashboard")
        js = publisher.jetstream()
        admin_key = (data_dir / ADMIN_KEY_FILE).read_text(encoding="utf-8").strip()
        client = httpx.AsyncClient(
            base_url=system.api_url, timeout=330, headers={"Authorization": f"Bearer {admin_key}"}
        )
        await store_credentials(client, work)
        executor = psutil.Process(next(c.process.pid for c in system.children if c.name == "executor"))
        print(f"executor pid {executor.pid}", flush=True)
        runs: dict[str, Callable[[str], Awaitable[float]]] = {
            "ansible-playbook": lambda case: plain_ansible(work, case),
            "ansible-runner": lambda case: plain_runner(work, case),
            "playledger (stream)": lambda case: playledger(js, nc, case, executor),
            "playledger (API)": lambda case: playledger_api(client, case),
            "playledger (API, secrets)": lambda case: playledger_api(client, case, secrets=True),
        }
        modes = [mode for mode in runs if mode in MODES]
        times: dict[str, dict[str, list[float]]] = {c: {m: [] for m in modes} for c in CASES}
        part_cpu: dict[str, dict[str, list[dict[str, float]]]] = {c: {m: [] for m in modes} for c in CASES}
        try:
            for case in CASES:  # warm-up, discarded
                for mode in modes:
                    if mode != "ansible-runner":
                        await runs[mode](case)
            EXECUTOR_CPU.clear()
            LIVE_MS.clear()
            for _ in range(rounds):
                for case in CASES:
                    for mode in modes:
                        cpu_before = control_plane_cpu_s(system)
                        times[case][mode].append(await runs[mode](case))
                        cpu_after = control_plane_cpu_s(system)
                        used = {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after}
                        part_cpu[case][mode].append(used)
        finally:
            await client.aclose()
            await nc.close()
            await publisher.close()
            system.stop()
    report: dict[str, Any] = {"rounds": rounds, "cpus": os.cpu_count(), "forks": FORKS, "cases": {}}
    print(
        f"overhead on real playbooks, median of {rounds} interleaved rounds (min-max), {os.cpu_count()} cpus"
    )
    print(f"{'case':<8}{'mode':<27}{'median s':>10}{'spread s':>16}{'vs runner':>11}")
    for case, modes in times.items():
        runner = statistics.median(modes["ansible-runner"])
        report["cases"][case] = {}
        for mode, values in modes.items():
            median = statistics.median(values)
            ratio = median / runner - 1
            report["cases"][case][mode] = {
                "median_s": median,
                "min_s": min(values),
                "max_s": max(values),
                "runs": values,
                "vs_runner": ratio,
            }
            print(
                f"{case:<8}{mode:<27}{median:>10.2f}{f'{min(values):.2f}-{max(values):.2f}':>16}{ratio:>+10.1%}"
            )
    print("target: playledger <= +5 % vs plain ansible-runner; with secrets <= +1 % vs without")
    print(f"{'case':<8}{'mode':<27}{'control plane CPU s':>21}{'added':>8}{'share of 2 cores x runner':>27}")
    plane_cpu = {
        case: {mode: [sum(used.values()) for used in runs] for mode, runs in modes.items()}
        for case, modes in part_cpu.items()
    }
    for case, modes in plane_cpu.items():
        idle = statistics.median(modes["ansible-runner"])
        budget = 2 * statistics.median(times[case]["ansible-runner"])
        for mode, values in modes.items():
            added = statistics.median(values) - idle
            report["cases"][case][mode]["control_plane_cpu_s"] = values
            report["cases"][case][mode]["added_cpu_share"] = added / budget
            print(
                f"{case:<8}{mode:<27}{statistics.median(values):>21.2f}{added:>8.2f}{added / budget:>+27.1%}"
            )
    print("added CPU s per job by part (median, beyond the same part during plain ansible-runner)")
    for case, modes in part_cpu.items():
        parts = sorted({part for runs in modes.values() for used in runs for part in used})
        print(f"{'case':<8}{'mode':<27}" + "".join(f"{part:>13}" for part in parts))
        idle = {p: statistics.median(u.get(p, 0.0) for u in modes["ansible-runner"]) for p in parts}
        for mode, runs in modes.items():
            added = {p: statistics.median(u.get(p, 0.0) for u in runs) - idle[p] for p in parts}
            report["cases"][case][mode]["added_cpu_s_by_part"] = added
            print(f"{case:<8}{mode:<27}" + "".join(f"{added[p]:>13.2f}" for p in parts))
    if EXECUTOR_CPU:
        cpu = statistics.median(EXECUTOR_CPU)
        report["executor_cpu_us_per_event"] = {"median": cpu, "runs": EXECUTOR_CPU}
        print(
            f"executor CPU per runner event (playledger (stream) jobs): median {cpu:.0f} us "
            f"({min(EXECUTOR_CPU):.0f}-{max(EXECUTOR_CPU):.0f}); target <= 100 us; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    if LIVE_MS:
        cuts = statistics.quantiles(LIVE_MS, n=100)
        report["live_ms"] = {"p50": cuts[49], "p99": cuts[98], "max": max(LIVE_MS), "events": len(LIVE_MS)}
        print(
            f"runner event -> dashboard subscriber ({len(LIVE_MS)} events): p50 {cuts[49]:.0f} ms, "
            f"p99 {cuts[98]:.0f} ms, max {max(LIVE_MS):.0f} ms; target p50 < 50 ms, p99 < 250 ms"
        )
    for case, modes in times.items():
        if "playledger (API, secrets)" not in modes or "playledger (API)" not in modes:
            continue
        plain, secret = (
            statistics.median(modes["playledger (API)"]),
            statistics.median(modes["playledger (API, secrets)"]),
        )
        print(f"{case}: secrets vs no secrets {secret / plain - 1:+.1%}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="Only these cases.")
    parser.add_argument(
        "--mode", choices=MODES, action="append", help="Only these modes (ansible-runner is always run)."
    )
    args = parser.parse_args()
    if args.mode:
        MODES[:] = [m for m in MODES if m in args.mode or m == "ansible-runner"]
    for name in set(CASES) - set(args.case or CASES):
        del CASES[name]
    asyncio.run(main(args.rounds))
