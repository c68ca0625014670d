"""Synthetic but realistic job event streams, built with the contract Structs the way the
executor writes them (queued → started → ansible-runner events with real shapes →
terminal), published as the executor publishes them, and whole-table snapshots to compare.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobOptions, JobSpec, LocalSource
from playledger_schemas.events import (
    AttemptOutcome,
    CancelRequestedData,
    DeadData,
    JobCanceled,
    JobCancelRequested,
    JobDead,
    JobError,
    JobEvent,
    JobFailed,
    JobQueued,
    JobRejected,
    JobRetryRequested,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    QueuedData,
    RejectedData,
    ResultData,
    RetryRequestedData,
    RetryScheduledData,
    RunnerEvent,
    RunnerEventData,
    StartedData,
    event_kind,
)
from playledger_schemas.subjects import event_subject

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PLAYBOOK_UUID = "4369f73b-0c97-4838-8b38-a8efe8472c94"


def spec(hosts: Sequence[str], priority: str = "normal") -> JobSpec:
    return JobSpec(
        priority=priority,  # type: ignore[arg-type]
        source=LocalSource(path="site.yml"),
        inventory=InlineInventory(
            hosts=list(hosts), groups={"web": list(hosts[:1])}, vars={"ansible_connection": "local"}
        ),
        extra_vars={"release": "1.2.3"},
        options=JobOptions(forks=5),
    )


@dataclass
class JobBuilder:
    """Appends a job's events with a gap-free seq, the way its single writer would."""

    job_id: str
    time: datetime = T0
    seq: int = 0
    attempt: int = 0
    counter: int = 0
    events: list[JobEvent] = field(default_factory=list)

    def _env(self) -> dict[str, Any]:
        self.seq += 1
        self.time += timedelta(milliseconds=7)
        return {
            "event_id": uuid.uuid4(),
            "job_id": self.job_id,
            "attempt": self.attempt,
            "seq": self.seq,
            "time": self.time,
        }

    def queued(self, hosts: Sequence[str], priority: str = "normal") -> JobBuilder:
        self.events.append(
            JobQueued(**self._env(), data=QueuedData(spec=spec(hosts, priority), command_seq=self.seq))
        )
        return self

    def rejected(self, reason: str = "$.spec.source.path: bad") -> JobBuilder:
        self.events.append(JobRejected(**self._env(), data=RejectedData(reason=reason)))
        return self

    def started(self, hosts: Sequence[str]) -> JobBuilder:
        self.attempt += 1
        self.counter = 0
        data = StartedData(executor_id="exec-1", spec=spec(hosts), playbook="site.yml")
        self.events.append(JobStarted(**self._env(), data=data))
        return self

    def cancel_requested(self) -> JobBuilder:
        self.events.append(JobCancelRequested(**self._env(), data=CancelRequestedData(reason="by request")))
        return self

    def runner(self, event_name: str, stdout: str = "", /, **event_data: Any) -> JobBuilder:
        self.counter += 1
        ctx = {"playbook": "site.yml", "playbook_uuid": PLAYBOOK_UUID, **event_data}
        data = RunnerEventData(
            event=event_name,
            counter=self.counter,
            uuid=str(uuid.uuid4()),
            parent_uuid=PLAYBOOK_UUID,
            created=self.time.isoformat(),
            stdout=stdout,
            start_line=self.counter,
            end_line=self.counter + 1,
            pid=10484,
            event_data=ctx,
        )
        self.events.append(RunnerEvent(**self._env(), data=data))
        return self

    def play(
        self, hosts: Sequence[str], tasks: int, fail: dict[int, str] | None = None
    ) -> dict[str, dict[str, int]]:
        """A play over ``hosts`` with ``tasks`` tasks; returns ansible's stats for it."""
        fail = fail or {}
        stats: dict[str, dict[str, int]] = {
            k: {} for k in ("ok", "changed", "failures", "dark", "skipped", "ignored", "rescued", "processed")
        }

        def bump(kind: str, host: str) -> None:
            stats[kind][host] = stats[kind].get(host, 0) + 1

        self.runner("playbook_on_start", "")
        self.runner(
            "playbook_on_play_start", "\r\nPLAY [all] ****", play="all", name="all", play_pattern="all"
        )
        alive = list(hosts)
        for t in range(tasks):
            task = f"task {t}"
            ctx = {"play": "all", "task": task, "task_action": "command", "task_uuid": f"02fc-{t}"}
            self.runner(
                "playbook_on_task_start", f"\r\nTASK [{task}] ****", name=task, is_conditional=False, **ctx
            )
            for host in alive:
                self.runner("runner_on_start", "", host=host, **ctx)
            for host in list(alive):
                outcome = fail.get(t) if host == hosts[0] else None
                if outcome == "failed":
                    res = {"msg": "non-zero return code", "rc": 1, "changed": True}
                    self.runner(
                        "runner_on_failed",
                        f"fatal: [{host}]: FAILED!",
                        host=host,
                        res=res,
                        ignore_errors=None,
                        **ctx,
                    )
                    bump("failures", host)
                    alive.remove(host)
                elif outcome == "ignored":
                    res = {"msg": "non-zero return code", "rc": 1, "changed": False}
                    self.runner(
                        "runner_on_failed",
                        f"fatal: [{host}]: FAILED! ...ignoring",
                        host=host,
                        res=res,
                        ignore_errors=True,
                        **ctx,
                    )
                    bump("ok", host)
                    bump("ignored", host)
                elif outcome == "unreachable":
                    res = {"unreachable": True, "msg": "Failed to connect", "changed": False}
                    self.runner(
                        "runner_on_unreachable", f"fatal: [{host}]: UNREACHABLE!", host=host, res=res, **ctx
                    )
                    bump("dark", host)
                    alive.remove(host)
                elif t % 5 == 4:
                    self.runner("runner_on_skipped", f"skipping: [{host}]", host=host, **ctx)
                    bump("skipped", host)
                else:
                    changed = t % 3 == 0
                    res = {"changed": changed, "stdout": "hello", "rc": 0, "_ansible_no_log": False}
                    word = "changed" if changed else "ok"
                    self.runner(
                        "runner_on_ok",
                        f"{word}: [{host}]",
                        host=host,
                        res=res,
                        remote_addr=host,
                        duration=0.01,
                        **ctx,
                    )
                    bump("ok", host)
                    if changed:
                        bump("changed", host)
        for host in hosts:
            stats["processed"][host] = 1
        self.runner("playbook_on_stats", "\r\nPLAY RECAP ****", **stats)
        return stats

    def result(
        self, outcome: type[JobSucceeded | JobFailed | JobCanceled | JobError], **data: Any
    ) -> JobBuilder:
        runner_events = self.counter
        last = self.seq
        self.events.append(
            outcome(**self._env(), data=ResultData(runner_events=runner_events, last_seq=last, **data))
        )
        return self

    def ended(self, status: str = "failed", reason: str = "rc 2", rc: int | None = 2) -> AttemptOutcome:
        cause = "executor_lost" if reason == "executor lost" else status
        return AttemptOutcome(
            attempt=self.attempt,
            status=status,
            cause=cause,
            reason=reason,
            rc=rc,
            ended_at=self.time,  # type: ignore[arg-type]
        )

    def retry_scheduled(
        self, earlier: Sequence[AttemptOutcome] = (), max_attempts: int = 3, **ended: Any
    ) -> JobBuilder:
        """The attempt ended as ``ended`` (``status``, ``reason``, ``rc``) and another is scheduled."""
        outcome = self.ended(**ended)
        data = RetryScheduledData(
            runner_status="failed" if outcome.status == "failed" else None,
            rc=outcome.rc,
            reason=outcome.reason,
            runner_events=self.counter,
            last_seq=self.seq,
            status=outcome.status,
            cause=outcome.cause or "failed",
            retry_at=self.time + timedelta(seconds=1),
            next_attempt=self.attempt + 1,
            max_attempts=max_attempts,
            attempts=[*earlier, outcome],
        )
        self.events.append(JobRetryScheduled(**self._env(), data=data))
        return self

    def dead(self, earlier: Sequence[AttemptOutcome], **ended: Any) -> JobBuilder:
        outcome = self.ended(**ended)
        attempts = [*earlier, outcome]
        data = DeadData(
            rc=outcome.rc,
            reason=f"dead after {len(attempts)} attempts",
            runner_events=self.counter,
            last_seq=self.seq,
            max_attempts=len(attempts),
            attempts=attempts,
        )
        self.events.append(JobDead(**self._env(), data=data))
        return self

    def retry_requested(self, command_seq: int = 99) -> JobBuilder:
        data = RetryRequestedData(reason="retried by request", command_seq=command_seq)
        self.events.append(JobRetryRequested(**self._env(), data=data))
        return self


def realistic_job(job_id: str, rng: random.Random, tasks: int = 35) -> list[JobEvent]:
    """One of several job shapes: success, failure, ignored errors, unreachable, cancel, retry, rejection."""
    hosts = [f"{job_id}-h{i}" for i in range(3)]
    b = JobBuilder(job_id, time=T0 + timedelta(seconds=rng.randint(0, 3600)))
    shape = rng.choice(
        ["ok", "ok", "ok", "failed", "ignored", "unreachable", "canceled", "retry", "rejected"]
    )
    if shape == "rejected":
        return b.rejected().events
    b.queued(hosts, priority=rng.choice(["critical", "high", "normal", "low"]))
    if shape == "retry":
        b.started(hosts)
        b.runner("playbook_on_start")
        b.runner("playbook_on_play_start", play="all", name="all")
        b.runner("runner_on_ok", host=hosts[0], res={"changed": True}, play="all", task="t0")
        b.retry_scheduled(reason="executor lost", status="error", rc=None)  # its executor died
    b.started(hosts)
    if shape == "canceled":
        b.play(hosts, tasks // 2)
        b.cancel_requested()
        return b.result(JobCanceled, runner_status="canceled", rc=254, reason="canceled by request").events
    fail = {"failed": {3: "failed"}, "ignored": {2: "ignored"}, "unreachable": {1: "unreachable"}}.get(
        shape, {}
    )
    stats = b.play(hosts, tasks, fail)
    if shape in ("failed", "unreachable"):
        return b.result(
            JobFailed, runner_status="failed", rc=2 if shape == "failed" else 4, stats=stats
        ).events
    return b.result(JobSucceeded, runner_status="successful", rc=0, stats=stats).events


def interleave(jobs: Iterable[list[JobEvent]], rng: random.Random, running: int = 8) -> list[JobEvent]:
    """Events of several jobs as the stream sees them: a few jobs at a time, each in its own order."""
    pending = list(jobs)
    active: list[list[JobEvent]] = []
    out: list[JobEvent] = []
    while pending or active:
        while pending and len(active) < running:
            active.append(list(reversed(pending.pop(0))))
        lane = rng.randrange(len(active))
        out.append(active[lane].pop())
        if not active[lane]:
            active.pop(lane)
    return out


def stream_of(n_jobs: int, seed: int = 7, tasks: int = 35) -> list[JobEvent]:
    rng = random.Random(seed)
    return interleave((realistic_job(f"job{i:04d}", rng, tasks) for i in range(n_jobs)), rng)


def msg_id(event: JobEvent) -> str:
    return f"{event.job_id}:{event.attempt}:{event.seq}"


async def publish(js: JetStreamContext, events: Sequence[JobEvent], window: int = 1000) -> int:
    """Publish with ``publish_async`` in windows, each with its ``Nats-Msg-Id``; return the last seq."""
    last = 0
    for start in range(0, len(events), window):
        futures = [
            await js.publish_async(
                event_subject(e.job_id, event_kind(e)), encode(e), headers={"Nats-Msg-Id": msg_id(e)}
            )
            for e in events[start : start + window]
        ]
        acks = await asyncio.gather(*futures)
        last = max(last, *(a.seq for a in acks))
    return last


async def publish_raw(js: JetStreamContext, subject: str, payload: bytes) -> int:
    ack = await js.publish(subject, payload)
    return int(ack.seq)


TABLES = {
    "jobs": ("job_id", ()),
    "job_hosts": ("job_id, host", ()),
    "job_events": ("job_id, seq", ()),
    "projection_checkpoint": ("projection", ("updated_at",)),
    "skipped_events": ("stream_seq", ("recorded_at",)),
    "schema_migrations": ("version", ("applied_at",)),
}
"""Every read-model table, its order, and its bookkeeping timestamps (wall-clock, not projected)."""


async def snapshot(conn: asyncpg.Connection, schema: str = "playledger") -> dict[str, list[tuple[Any, ...]]]:
    """All rows of all tables, in key order, without the wall-clock bookkeeping columns."""
    out = {}
    for table, (order, ignored) in TABLES.items():
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
                "ORDER BY ordinal_position",
                schema,
                table,
            )
            if r["column_name"] not in ignored
        ]
        assert columns, f"{schema}.{table} has no columns"
        query = f"SELECT {', '.join(columns)} FROM {schema}.{table} ORDER BY {order}"  # noqa: S608 - test constants
        rows = await conn.fetch(query)
        out[table] = [tuple(r) for r in rows]
    return out


async def wait_for_checkpoint(
    conn: asyncpg.Connection, target: int, timeout: float = 60.0, schema: str = "playledger"
) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = -1
    while loop.time() < deadline:
        value = await checkpoint(conn, schema)
        if value >= target:
            return value
        await asyncio.sleep(0.05)
    msg = f"checkpoint {value} did not reach {target} within {timeout}s"
    raise AssertionError(msg)


async def checkpoint(conn: asyncpg.Connection, schema: str = "playledger") -> int:
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.projection_checkpoint"):
        return 0
    table = f"{schema}.projection_checkpoint"
    return int(await conn.fetchval(f"SELECT coalesce(max(last_stream_seq), 0) FROM {table}") or 0)  # noqa: S608


def count(events: Iterable[JobEvent]) -> dict[str, int]:
    per_job: dict[str, int] = {}
    for e in events:
        per_job[e.job_id] = per_job.get(e.job_id, 0) + 1
    return per_job
