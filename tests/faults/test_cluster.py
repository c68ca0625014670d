"""The scale story run (issue 19): a 3-node NATS cluster with R3 streams, 3 executors and
2 projectors (one active, one standby), all real processes; kill -9 of a follower of the events
stream mid-load, later of its leader. Every job is checked against a replay of the stream as in
``test_faults`` (nothing lost or doubled, one terminal event, no stuck job, the read model equal
to a fresh fold), and every node's copy of the stream ends equal to the others' (it rejoined and
caught up). ``tests/bench/bench_cluster.py`` runs the same with 100 jobs and reports the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import Fault, make_jobs
from tests.faults.test_faults import assert_kept, run_and_check

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(300)]

CLUSTER = {"nats_nodes": 3, "executors": 3, "projectors": 2, "ack_wait_s": 5.0}
NODE_FAULTS = [
    Fault(at_s=6.0, component="nats-follower", kind="kill9", duration_s=3.0),
    Fault(at_s=18.0, component="nats-leader", kind="kill9", duration_s=3.0),
]


async def test_killing_a_follower_then_the_leader_of_the_events_stream_loses_nothing(
    tmp_path: Path, seed: int
) -> None:
    # two long jobs first: they are still writing when the leader dies (43 s in, after the
    # submits and 18 s), whatever the pace of the short ones
    jobs = make_jobs("long", 2, steps=60, step_s=1.0) + make_jobs("cl", 30, steps=3, step_s=0.1)
    report, logs = await run_and_check(
        tmp_path, seed, jobs, NODE_FAULTS, spread_s=25.0, limit_s=180.0, **CLUSTER
    )
    assert_kept(report, tmp_path, logs)
    assert (report.lost, report.doubled, report.stuck) == (0, 0, 0)
    hit = [(i.fault.component, i.node) for i in report.faults]
    assert [component for component, _ in hit] == ["nats-follower", "nats-leader"]
    assert all(node for _, node in hit), hit
    assert all(i.writes_resumed_s is not None for i in report.faults), report.summary()["nats_nodes"]
