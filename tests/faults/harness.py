"""The fault harness: N jobs under load, seeded faults, then every job checked against a replay.

- ``plan_faults`` (pure, seeded): which component is hurt when, how (kill -9 then restart on
  the same store/port/data, or SIGSTOP … SIGCONT) and for how long.
- ``Run`` submits the jobs (over HTTP, retried with the same id after a 503, like the CLI,
  and as NATS commands), watches each with an ``/events?after=`` tailer and an SSE client that
  reconnect with their cursor, injects the faults, restarts a service that died by itself
  (counted), and waits until every job is finished and projected.
- ``check`` replays the events stream and returns every broken promise: terminal status,
  per-job seq 1..N in stream order, runner counters 1..M per attempt, exactly one terminal
  event, the read model equal to a fresh fold, and both watchers saw every event once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import httpx
from httpx_sse import aconnect_sse
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from playledger_cli.embedded import NatsServer
from playledger_common.bus import connect
from playledger_projector.rebuild import replay_into
from playledger_schemas.codec import decode_event, encode
from playledger_schemas.commands import InlineInventory, JobOptions, JobSpec, LocalSource, SubmitJob
from playledger_schemas.events import JobError, JobEvent, JobStarted, RunnerEvent, is_terminal
from playledger_schemas.subjects import EVENTS_STREAM, submit_subject
from tests.faults.cluster import Cluster, inventory
from tests.faults.natscluster import NODE_COMPONENTS, caught_up, check_copies, events_node, writes_resume
from tests.projector.factory import checkpoint, snapshot

Kind = Literal["kill9", "pause"]
LOST_REASON = "executor lost"


@dataclass(frozen=True)
class Fault:
    at_s: float
    component: str
    kind: Kind
    duration_s: float
    """How long the component stays paused, or dead before its restart."""


def plan_faults(
    seed: int, components: tuple[str, ...], count: int, window_s: float, max_s: float = 4.0
) -> list[Fault]:
    """``count`` faults at seeded random moments in ``window_s``, one at a time."""
    rng = random.Random(seed)
    slots = sorted(rng.uniform(1.0, window_s) for _ in range(count))
    faults, free_at = [], 0.0
    for at in slots:
        at = max(at, free_at)
        fault = Fault(
            at_s=round(at, 2),
            component=rng.choice(components),
            kind=rng.choice(("kill9", "pause")),
            duration_s=round(rng.uniform(0.5, max_s), 2),
        )
        faults.append(fault)
        free_at = at + fault.duration_s + 1.0
    return faults


@dataclass
class Job:
    job_id: str
    playbook: str
    outcome: str
    """What the playbook really does: ``succeeded`` or ``failed``."""
    via: Literal["http", "nats"]
    extra_vars: dict[str, Any] = field(default_factory=dict)
    tailed: list[int] = field(default_factory=list)
    """Per-job seqs the ``/events?after=`` tailer got, in order."""
    streamed: list[int] = field(default_factory=list)
    """SSE ids (stream seqs) the SSE client got, in order."""
    http_503: int = 0


@dataclass
class Injected:
    fault: Fault
    start_wall: float
    end_wall: float
    recovered_s: float = 0.0
    """From the end of the fault until the component answered again (a cluster node: caught up)."""
    node: str = ""
    """The cluster node a ``nats-leader`` / ``nats-follower`` fault hit."""
    writes_resumed_s: float | None = None
    """A cluster node's fault: from the kill until the events stream stored a new event."""


@dataclass
class Report:
    jobs: int
    faults: list[Injected]
    crashes: dict[str, int]
    problems: list[str]
    lost: int
    """Jobs recorded ``job.error`` "executor lost" (honest only after an executor kill -9)."""
    doubled: int
    stuck: int
    wall_s: float
    seed: int

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "jobs": self.jobs,
            "faults": len(self.faults),
            "faults_by_component": dict(_count(f.fault.component + ":" + f.fault.kind for f in self.faults)),
            "jobs_ended_executor_lost": self.lost,
            "doubled_events": self.doubled,
            "stuck_jobs": self.stuck,
            "unplanned_crashes": self.crashes,
            "max_recovery_s": round(max((f.recovered_s for f in self.faults), default=0.0), 2),
            "nats_nodes": [
                {
                    "fault": f"{f.fault.component}:{f.node}",
                    "writes_resumed_s": None if f.writes_resumed_s is None else round(f.writes_resumed_s, 2),
                    "caught_up_s": round(f.recovered_s, 2),
                }
                for f in self.faults
                if f.node
            ],
            "wall_s": round(self.wall_s, 1),
            "problems": len(self.problems),
        }


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def make_jobs(prefix: str, count: int, *, steps: int, step_s: float, nats_every: int = 3) -> list[Job]:
    jobs = []
    for n in range(count):
        failing = n % 5 == 4
        jobs.append(
            Job(
                job_id=f"{prefix}{n}",
                playbook="fail.yml" if failing else "steps.yml",
                outcome="failed" if failing else "succeeded",
                via="nats" if n % nats_every == nats_every - 1 else "http",
                extra_vars={"steps": steps, "step_s": step_s},
            )
        )
    return jobs


class Run:
    def __init__(self, cluster: Cluster, seed: int) -> None:
        self.cluster = cluster
        self.seed = seed
        self.injected: list[Injected] = []
        self.crashes: dict[str, int] = defaultdict(int)
        self.finished = asyncio.Event()
        self.hurt: set[str] = set()
        self.nc: Client | None = None

    # --- workload ------------------------------------------------------------------------

    def body(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.job_id,
            "source": {"type": "local", "path": job.playbook},
            "inventory": inventory(),
            "extra_vars": job.extra_vars,
        }

    async def submit(self, job: Job) -> None:
        """Until accepted; a 503 or a lost answer is retried with the same id (idempotent)."""
        async with httpx.AsyncClient(
            base_url=self.cluster.api_url, headers=self.cluster.headers, timeout=10.0
        ) as client:
            while True:
                try:
                    if job.via == "http":
                        response = await client.post("/api/v1/jobs", json=self.body(job))
                        if response.status_code == 202:
                            return
                        if response.status_code == 503:
                            job.http_503 += 1
                            assert response.json()["job_id"] == job.job_id
                        else:
                            msg = f"submit {job.job_id}: {response.status_code} {response.text}"
                            raise AssertionError(msg)
                    else:
                        await self._publish(job)
                        return
                except (httpx.TransportError, TimeoutError, OSError) as exc:
                    del exc
                except Exception as exc:
                    if isinstance(exc, AssertionError):
                        raise
                await asyncio.sleep(0.5)

    async def _publish(self, job: Job) -> None:
        assert self.nc is not None
        spec = JobSpec(
            priority="normal",
            source=LocalSource(path=job.playbook),
            inventory=InlineInventory(hosts=["h0"], vars=dict(inventory()["vars"])),  # type: ignore[arg-type]
            extra_vars=job.extra_vars,
            options=JobOptions(),
        )
        await self.nc.jetstream().publish(
            submit_subject("normal", job.job_id),
            encode(SubmitJob(job_id=job.job_id, spec=spec)),
            timeout=2.0,
            headers={"Nats-Msg-Id": f"submit:{job.job_id}"},
        )

    # --- watchers ------------------------------------------------------------------------

    async def tail(self, job: Job) -> None:
        """``GET /events?after=<last seq>`` until the terminal event; reconnects on any failure."""
        async with httpx.AsyncClient(
            base_url=self.cluster.api_url, headers=self.cluster.headers, timeout=5.0
        ) as client:
            while True:
                after = job.tailed[-1] if job.tailed else 0
                try:
                    response = await client.get(
                        f"/api/v1/jobs/{job.job_id}/events", params={"after": after, "limit": 200}
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.3)
                    continue
                if response.status_code != 200:
                    await asyncio.sleep(0.3)
                    continue
                items = response.json()["items"]
                job.tailed.extend(item["seq"] for item in items)
                if any(item["type"].split(".")[1] in TERMINAL_TYPES for item in items):
                    return
                if not items:
                    await asyncio.sleep(0.3)

    async def stream(self, job: Job) -> None:
        """The job's SSE stream, resumed with ``Last-Event-ID`` after every failure, until ``end``."""
        async with httpx.AsyncClient(
            base_url=self.cluster.api_url, headers=self.cluster.headers, timeout=httpx.Timeout(5.0, read=20.0)
        ) as client:
            while True:
                headers = {"Last-Event-ID": str(job.streamed[-1])} if job.streamed else {}
                try:
                    async with aconnect_sse(
                        client, "GET", f"/api/v1/jobs/{job.job_id}/stream", headers=headers
                    ) as source:
                        if source.response.status_code != 200:
                            await asyncio.sleep(0.3)
                            continue
                        async for sse in source.aiter_sse():
                            if sse.event == "end":
                                return
                            if sse.id and sse.data:
                                job.streamed.append(int(sse.id))
                except (httpx.TransportError, httpx.StreamError, ValueError):
                    pass
                await asyncio.sleep(0.3)

    # --- faults --------------------------------------------------------------------------

    def _target(self, component: str) -> Any:
        if component.startswith("nats"):
            return None
        if component == "postgres":
            return self.cluster.postgres
        if component == "executor":
            return self.cluster.executors()[0]
        return self.cluster.services[component]

    def _hurt(self, fault: Fault, nats: NatsServer) -> None:
        """Blocking: hurt, wait, heal (in a thread); ``nats``: the server or node a NATS fault hits."""
        target = self._target(fault.component)
        if fault.kind == "kill9":
            if target is None:
                nats.kill()
            else:
                target.kill9()
            time.sleep(fault.duration_s)
            if target is None:
                nats.start()
            else:
                target.start()
        else:
            pid = nats.process.pid if target is None and nats.process else None
            if target is None:
                assert pid is not None
                _stop_cont(pid, stop=True)
            else:
                target.pause()
            time.sleep(fault.duration_s)
            if target is None:
                assert pid is not None
                _stop_cont(pid, stop=False)
            else:
                target.resume()

    async def _nats_target(self, component: str) -> NatsServer:
        """The single server, or the cluster node holding that role for the events stream now."""
        if component not in NODE_COMPONENTS:
            return self.cluster.nats
        assert self.cluster.nats_cluster is not None
        assert self.nc is not None
        return await events_node(self.nc.jetstream(), self.cluster.nats_cluster, component)

    async def inject(self, faults: list[Fault]) -> None:
        began = time.monotonic()
        for fault in faults:
            await asyncio.sleep(max(0.0, fault.at_s - (time.monotonic() - began)))
            self.hurt.add(fault.component)
            nats = await self._nats_target(fault.component)
            resumed = self._writes_resumed(fault)
            start = time.time()
            try:
                await asyncio.to_thread(self._hurt, fault, nats)
            finally:
                self.hurt.discard(fault.component)
            injected = Injected(fault=fault, start_wall=start, end_wall=time.time())
            healed = time.monotonic()
            await self._answering(fault.component, nats)
            injected.recovered_s = time.monotonic() - healed
            if resumed is not None:
                injected.node = nats.cluster.name if nats.cluster else ""
                injected.writes_resumed_s = await resumed
            self.injected.append(injected)

    def _writes_resumed(self, fault: Fault) -> asyncio.Task[float | None] | None:
        """For a cluster node's fault: a watch of how long after it the stream stores again."""
        if fault.component not in NODE_COMPONENTS:
            return None
        assert self.nc is not None
        return asyncio.create_task(writes_resume(self.nc.jetstream(), limit_s=fault.duration_s + 60))

    async def _answering(self, component: str, nats: NatsServer) -> None:
        """Until the hurt component answers again: the API's /health; a cluster node: its copy of
        the events stream has caught up with the stream as it was at the restart; others: a moment."""
        if component in NODE_COMPONENTS:
            assert self.nc is not None
            await caught_up(self.nc.jetstream(), nats)
            return
        if component != "api":
            return
        async with httpx.AsyncClient(
            base_url=self.cluster.api_url, headers=self.cluster.headers, timeout=2.0
        ) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    async def supervise(self) -> None:
        """Restart a service that died by itself (not one we are hurting); count it."""
        while not self.finished.is_set():
            for name, service in self.cluster.services.items():
                component = "executor" if name.startswith("executor") else name
                process = service.process
                if component in self.hurt or process is None or process.poll() is None:
                    continue
                self.crashes[name] += 1
                service.start()
            await asyncio.sleep(0.5)

    # --- the run -------------------------------------------------------------------------

    async def run(self, jobs: list[Job], faults: list[Fault], *, spread_s: float, limit_s: float) -> float:
        started = time.monotonic()
        self.nc = await connect(self.cluster.nats_url, "fault-harness")
        supervisor = asyncio.create_task(self.supervise())
        try:
            watchers = [asyncio.create_task(w(job)) for job in jobs for w in (self.tail, self.stream)]
            submits = []
            for n, job in enumerate(jobs):
                submits.append(asyncio.create_task(self.submit(job)))
                if n + 1 < len(jobs):
                    await asyncio.sleep(spread_s / len(jobs))
            await self.inject(faults)
            done, pending = await asyncio.wait([*submits, *watchers], timeout=limit_s)
            for task in done:
                task.result()
            for task in pending:
                task.cancel()
        finally:
            self.finished.set()
            await supervisor
        return time.monotonic() - started

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


TERMINAL_TYPES = frozenset({"succeeded", "failed", "canceled", "timed_out", "error", "rejected", "dead"})


def _stop_cont(pid: int, *, stop: bool) -> None:
    import os
    import signal

    os.kill(pid, signal.SIGSTOP if stop else signal.SIGCONT)


# --- the checks ------------------------------------------------------------------------------


async def replay(nc: Client) -> dict[str, list[tuple[int, JobEvent]]]:
    """Every event of the stream by job, in stream order, with its stream sequence."""
    js = nc.jetstream()
    info = await js.stream_info(EVENTS_STREAM)
    per_job: dict[str, list[tuple[int, JobEvent]]] = defaultdict(list)
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            raw = await js.get_msg(EVENTS_STREAM, seq)
        except NotFoundError:
            continue
        event = decode_event(raw.data or b"")
        per_job[event.job_id].append((seq, event))
    return per_job


def check_job(job: Job, stored: list[tuple[int, JobEvent]], executor_kills: list[float]) -> list[str]:
    """Every promise about one job; returns what is broken."""
    where = f"job {job.job_id}"
    events = [e for _, e in stored]
    problems = []
    if [e.seq for e in events] != list(range(1, len(events) + 1)):
        problems.append(f"{where}: seqs in stream order are {[e.seq for e in events]}")
    terminals = [e for e in events if is_terminal(e)]
    if len(terminals) != 1:
        problems.append(f"{where}: {len(terminals)} terminal events")
    if not terminals:
        return [*problems, f"{where}: stuck (no terminal event)"]
    if not is_terminal(events[-1]):
        problems.append(f"{where}: events after the terminal one")
    by_attempt: dict[int, list[int]] = defaultdict(list)
    for event in events:
        if isinstance(event, RunnerEvent):
            by_attempt[event.attempt].append(event.data.counter)
    for attempt, counters in by_attempt.items():
        if counters != list(range(1, len(counters) + 1)):
            problems.append(f"{where}: attempt {attempt} runner counters {counters}")
    terminal = terminals[0]
    outcome = type(terminal).__struct_config__.tag.split(".")[1]  # type: ignore[union-attr]
    if outcome != job.outcome:
        started = [e for e in events if isinstance(e, JobStarted)]
        lost_ok = (
            isinstance(terminal, JobError)
            and terminal.data.reason == LOST_REASON
            and bool(started)
            and any(
                started[-1].time.timestamp() - 1 <= kill <= terminal.time.timestamp()
                for kill in executor_kills
            )
        )
        if not lost_ok:
            problems.append(
                f"{where}: ended {outcome} ({getattr(terminal.data, 'reason', None)}), expected {job.outcome}"
            )
    if job.tailed != [e.seq for e in events]:
        problems.append(
            f"{where}: the /events tailer got seqs {job.tailed}, stored {[e.seq for e in events]}"
        )
    if job.streamed != [seq for seq, _ in stored]:
        problems.append(f"{where}: SSE ids {job.streamed}, stored {[seq for seq, _ in stored]}")
    return problems


async def check(run: Run, jobs: list[Job], wall_s: float) -> Report:
    cluster = run.cluster
    assert run.nc is not None
    per_job = await replay(run.nc)
    kills = [
        i.start_wall for i in run.injected if i.fault.component == "executor" and i.fault.kind == "kill9"
    ]
    problems: list[str] = []
    for job in jobs:
        problems.extend(check_job(job, per_job.get(job.job_id, []), kills))
    known = {job.job_id for job in jobs}
    problems.extend(f"unexpected job {job_id} in the stream" for job_id in per_job if job_id not in known)
    problems.extend(await check_read_model(cluster, run.nc))
    if cluster.nats_cluster is not None:
        problems.extend(await check_copies(cluster.nats_cluster))
    lost = sum(
        1
        for job in jobs
        for _, e in per_job.get(job.job_id, [])
        if isinstance(e, JobError) and e.data.reason == LOST_REASON and job.outcome != "error"
    )
    doubled = sum(max(0, sum(is_terminal(e) for _, e in per_job.get(j.job_id, [])) - 1) for j in jobs)
    stuck = sum(1 for j in jobs if not any(is_terminal(e) for _, e in per_job.get(j.job_id, [])))
    return Report(
        jobs=len(jobs),
        faults=run.injected,
        crashes=dict(run.crashes),
        problems=problems,
        lost=lost,
        doubled=doubled,
        stuck=stuck,
        wall_s=wall_s,
        seed=run.seed,
    )


async def check_read_model(cluster: Cluster, nc: Client) -> list[str]:
    """The live read model, once caught up, equals a fold of the whole stream into a fresh schema."""
    js = nc.jetstream()
    last = (await js.stream_info(EVENTS_STREAM)).state.last_seq
    conn = await asyncpg.connect(cluster.postgres.url)
    try:
        deadline = time.monotonic() + 60
        while await checkpoint(conn) < last:
            if time.monotonic() > deadline:
                return [f"the projector did not reach stream seq {last} (at {await checkpoint(conn)})"]
            await asyncio.sleep(0.2)
        await replay_into(conn, js, "reference")
        reference, live = await snapshot(conn, "reference"), await snapshot(conn)
    finally:
        await conn.close()
    return [
        f"read model table {t} differs from a fresh fold" for t in reference if live.get(t) != reference[t]
    ]
