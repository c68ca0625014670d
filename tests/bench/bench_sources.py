"""Git sources (issue 14): what the source cache costs a job.

1. Job start from the cache, on a repository of 1,000 files and 500 commits served by
   dulwich's smart-HTTP server on 127.0.0.1: a **cold** clone (new cache: ref listing, whole
   pack, checkout), a **warm** start by branch (ref listing, no pack, checkout) and a warm
   start by full sha (no network, checkout). Each is one ``SourceCache.checkout``.
2. A whole job (submit command -> terminal event acknowledged, in-process executor, real
   nats-server and ansible-runner) of the same playbook (1 host x 20 tasks) as ``local`` and
   as a git source at a branch of that repository (warm cache), interleaved per round.

Medians of N rounds, spread (min-max), and ratios in the same run.

    python tests/bench/bench_sources.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [
    str(REPO),
    *(
        str(REPO / p)
        for p in (
            "schemas",
            "services/common",
            "services/api",
            "services/executor",
            "services/projector",
            "services/cli",
        )
    ),
]

from playledger_cli.embedded import NatsServer  # noqa: E402
from playledger_common.settings import CommonSettings, ExecutorSettings  # noqa: E402
from playledger_common.streams import ensure_streams  # noqa: E402
from playledger_executor.gitcache import SourceCache  # noqa: E402
from playledger_schemas.commands import (  # noqa: E402
    GitPlaybookSource,
    InlineInventory,
    JobOptions,
    JobSpec,
    LocalSource,
    Source,
)
from playledger_schemas.events import JobSucceeded  # noqa: E402
from tests.executor.support import running_executor, submit, wait_terminal  # noqa: E402
from tests.sources.gitrepos import GitHttpServer, many_files_repo  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_sources.json"
FILES, COMMITS, TASKS = 1000, 500, 20
INVENTORY = InlineInventory(
    hosts=["localhost"], vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
)


def playbook(tasks: int) -> str:
    lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
    for n in range(tasks):
        lines += [f"    - name: task {n}", "      ansible.builtin.debug:", f"        msg: step {n}"]
    return "\n".join(lines) + "\n"


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def timed(step: Awaitable[Any]) -> float:
    start = time.perf_counter()
    await step
    return time.perf_counter() - start


async def cache_starts(work: Path, server: GitHttpServer, sha: str, rounds: int) -> dict[str, list[float]]:
    url = server.url("big.git")
    times: dict[str, list[float]] = {"cold clone": [], "warm, by branch": [], "warm, by sha": []}
    for n in range(rounds):
        cache = SourceCache(root=work / f"cache-{n}")
        times["cold clone"].append(await timed(cache.checkout(url, "main", work / f"cold-{n}")))
        times["warm, by branch"].append(await timed(cache.checkout(url, "main", work / f"branch-{n}")))
        times["warm, by sha"].append(await timed(cache.checkout(url, sha, work / f"sha-{n}")))
    return times


async def job_overhead(work: Path, server: GitHttpServer, rounds: int) -> dict[str, list[float]]:
    projects = work / "projects"
    projects.mkdir()
    (projects / "site.yml").write_text(playbook(TASKS))
    nats = NatsServer(store_dir=work / "nats").start()
    try:
        settings = ExecutorSettings(
            nats_url=nats.url,
            projects_dir=projects,
            logs_dir=work / "logs",
            work_dir=work / "jobs",
            source_cache_dir=work / "executor-cache",
            source_allow_http=True,
            executor_id="bench",
            concurrency=1,
        )
        from playledger_common.bus import connect

        nc = await connect(nats.url, "bench")
        js = nc.jetstream()
        await ensure_streams(js, CommonSettings(nats_url=nats.url))
        sources: dict[str, Source] = {
            "local": LocalSource(path="site.yml"),
            "git (warm cache)": GitPlaybookSource(repo=server.url("big.git"), branch="main", path="site.yml"),
        }
        times: dict[str, list[float]] = {name: [] for name in sources}
        async with running_executor(settings):
            warm = JobSpec(source=sources["git (warm cache)"], inventory=INVENTORY, options=JobOptions())
            await submit(js, "warmup", warm)
            await wait_terminal(js, "warmup", limit_s=300)
            for n in range(rounds):
                for name, source in sources.items():
                    job_id = f"{name.split()[0]}-{n}"
                    spec = JobSpec(source=source, inventory=INVENTORY, options=JobOptions())
                    start = time.perf_counter()
                    await submit(js, job_id, spec)
                    terminal = await wait_terminal(js, job_id, limit_s=300)
                    times[name].append(time.perf_counter() - start)
                    assert isinstance(terminal, JobSucceeded), terminal
        await nc.close()
        return times
    finally:
        nats.stop()


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        work = Path(tmp)
        repos = work / "repos"
        repos.mkdir()
        repo = many_files_repo(repos / "big.git", FILES, COMMITS, playbook(TASKS))
        sha = repo.repo.head().decode()
        with GitHttpServer(repos) as server:
            starts = await cache_starts(work, server, sha, rounds)
            jobs = await job_overhead(work, server, rounds)
    report: dict[str, Any] = {
        "repository": {"files": FILES, "commits": COMMITS},
        "rounds": rounds,
        "start_s": {k: summary(v) for k, v in starts.items()},
        "job_s": {k: summary(v) for k, v in jobs.items()},
    }
    cold = report["start_s"]["cold clone"]["median"]
    report["warm_vs_cold"] = {
        k: report["start_s"][k]["median"] / cold for k in ("warm, by branch", "warm, by sha")
    }
    local = report["job_s"]["local"]["median"]
    report["git_job_overhead"] = report["job_s"]["git (warm cache)"]["median"] / local - 1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
