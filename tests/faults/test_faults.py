"""Nothing lost, nothing doubled — also when NATS goes away (issue 11, the fault suite).

Each test runs real jobs through the whole system (nats-server, PostgreSQL, projector,
executor, API as processes), hurts components, then checks every job against a replay of the
stream (see ``harness``). The seed is in every failure message; ``PLAYLEDGER_FAULT_SEED=<seed>``
replays the same fault plan.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.faults.cluster import COMPONENTS
from tests.faults.conftest import start_cluster
from tests.faults.harness import Fault, Job, Report, Run, check, make_jobs, plan_faults

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(240)]


def assert_kept(report: Report, run_dir: Path, logs: str) -> None:
    summary = report.summary()
    print(f"fault run: {summary}")
    assert not report.problems, (
        f"seed {report.seed} (replay: PLAYLEDGER_FAULT_SEED={report.seed}); {summary}\n"
        + "\n".join(report.problems[:30])
        + f"\nfaults: {[i.fault for i in report.faults]}\nrun dir {run_dir}\n{logs}"
    )


async def run_and_check(
    tmp_path: Path,
    seed: int,
    jobs: list[Job],
    faults: list[Fault],
    *,
    spread_s: float,
    limit_s: float,
    **cluster: object,
) -> tuple[Report, str]:
    for started in start_cluster(tmp_path / "cluster", **cluster):
        run = Run(started, seed)
        try:
            wall = await run.run(jobs, faults, spread_s=spread_s, limit_s=limit_s)
            report = await check(run, jobs, wall)
        finally:
            await run.close()
        return report, started.logs()
    msg = "unreachable"
    raise AssertionError(msg)


def test_the_fault_plan_is_seeded_and_sequential() -> None:
    plan = plan_faults(7, COMPONENTS, 6, 30.0)
    assert plan == plan_faults(7, COMPONENTS, 6, 30.0)
    assert plan != plan_faults(8, COMPONENTS, 6, 30.0)
    for earlier, later in itertools.pairwise(plan):
        assert later.at_s >= earlier.at_s + earlier.duration_s


async def test_jobs_under_random_kills_and_pauses_of_every_component(tmp_path: Path, seed: int) -> None:
    jobs = make_jobs("mix", 10, steps=8, step_s=0.3)
    faults = plan_faults(seed, COMPONENTS, 6, 30.0, max_s=3.0)
    report, logs = await run_and_check(
        tmp_path, seed, jobs, faults, spread_s=15.0, limit_s=150.0, ack_wait_s=5.0
    )
    assert_kept(report, tmp_path, logs)


@pytest.mark.parametrize("kind", ["kill9", "pause"])
async def test_a_35_s_nats_outage_with_jobs_running_loses_nothing(
    tmp_path: Path, seed: int, kind: str
) -> None:
    """The issue's reproduction: an outage longer than ``ack_wait`` (30 s) with jobs running —
    and two executors, so a redelivery can land on the one that does not run the job."""
    jobs = make_jobs(f"out{kind}", 4, steps=12, step_s=0.8, nats_every=99)
    outage = [Fault(at_s=6.0, component="nats", kind=kind, duration_s=35.0)]  # type: ignore[arg-type]
    report, logs = await run_and_check(
        tmp_path, seed, jobs, outage, spread_s=2.0, limit_s=120.0, executors=2, ack_wait_s=30.0
    )
    assert_kept(report, tmp_path, logs)
    assert report.lost == 0
