"""The functional core: ``evolve(view, event) -> view``. Pure, no IO.

Rules the fold keeps (so a replay of the same stream always gives the same rows):

- status never moves backwards: queued < running < terminal, and the first terminal event
  wins; a job is terminal only once its terminal event is folded in;
- host summaries count runner results (ok/changed via ``res.changed``, failed, ignored via
  ``ignore_errors``, skipped, unreachable) and are replaced by ansible's own numbers when
  ``playbook_on_stats`` (or a terminal event's ``stats``) arrives, which also brings
  ``rescued``;
- a new attempt (``job.started`` with a higher attempt) starts fresh host summaries and progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from playledger_projector.views import ZERO, HostCounts, JobView, Status
from playledger_schemas.commands import (
    DynamicInventory,
    GitInventory,
    InlineInventory,
    Inventory,
    InventoryGroup,
    JobSpec,
    UrlInventory,
)
from playledger_schemas.events import (
    JobCanceled,
    JobCancelRequested,
    JobError,
    JobEvent,
    JobFailed,
    JobQueued,
    JobRejected,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
    ResultData,
    RunnerEvent,
    StartedData,
)

RESULT_STATUS: Final[dict[type, Status]] = {
    JobSucceeded: "successful",
    JobFailed: "failed",
    JobError: "error",
    JobCanceled: "canceled",
    JobTimedOut: "timeout",
}

_RANK: Final[dict[str, int]] = {"queued": 0, "running": 1}
_TERMINAL_RANK: Final = 2

# ansible's stats keys -> HostCounts fields ("dark" is ansible's word for unreachable).
_STATS_FIELDS: Final = (
    ("ok", "ok"),
    ("changed", "changed"),
    ("failures", "failures"),
    ("dark", "unreachable"),
    ("skipped", "skipped"),
    ("rescued", "rescued"),
    ("ignored", "ignored"),
)
_REASON_HOSTS: Final = 20


def rank(status: str) -> int:
    return _RANK.get(status, _TERMINAL_RANK)


def is_terminal_status(status: str) -> bool:
    return rank(status) == _TERMINAL_RANK


def evolve(view: JobView | None, event: JobEvent, stream_seq: int) -> JobView:
    """The job after ``event`` (stored at ``stream_seq``); ``view`` is ``None`` for a new job."""
    work = start(view, event)
    step(work, event, stream_seq)
    return JobView(**work)


Work = dict[str, Any]
"""A job's fields being folded: a private, mutable copy of a ``JobView`` (``fold_batch`` folds a
whole batch into one per job, then freezes it; ``evolve`` is the one-event, pure form)."""

_NEW: Final[Work] = {
    f.name: f.default
    for f in msgspec.structs.fields(JobView)
    if f.default is not msgspec.NODEFAULT and f.name != "hosts"
}


def start(view: JobView | None, event: JobEvent) -> Work:
    """A working copy of ``view``, or of a new job first seen with ``event``."""
    if view is None:
        return {**_NEW, "job_id": event.job_id, "status": "queued", "created_at": event.time, "hosts": {}}
    work = msgspec.structs.asdict(view)
    work["hosts"] = dict(view.hosts)
    return work


def step(work: Work, event: JobEvent, stream_seq: int) -> None:
    """Fold one event into ``work`` in place."""
    work["event_count"] += 1
    if event.seq > work["last_seq"]:
        work["last_seq"] = event.seq
    if stream_seq > work["last_stream_seq"]:
        work["last_stream_seq"] = stream_seq
    if event.seq == 1:
        work["created_at"] = event.time
    attempt = work["attempt"]
    if event.attempt > attempt:
        work["attempt"] = event.attempt
    if isinstance(event, RunnerEvent):
        _runner(work, event)
        return
    terminal = is_terminal_status(work["status"])
    match event:
        case JobQueued():
            _spec_fields(work, event.data.spec, resolved=False)
            if event.data.submitted_by is not None:
                work["submitted_by"] = msgspec.to_builtins(event.data.submitted_by)
        case JobStarted():
            if event.attempt >= attempt:  # else a stale start of an earlier attempt: counted only
                _spec_fields(work, event.data.spec, resolved=True)
                _resolved(work, event.data)
                work["status"] = _advance(work["status"], "running")
                work["started_at"] = event.time
                work["executor_id"] = event.data.executor_id
                if event.attempt > attempt:
                    work.update(hosts={}, current_play=None, current_task=None)
        case JobCancelRequested():
            work["cancel_requested"] = True
        case JobRejected():
            if not terminal:
                work.update(
                    status="rejected",
                    failure_reason=event.data.reason,
                    rejection_errors=msgspec.to_builtins(event.data.errors),
                    finished_at=event.time,
                    terminal_seq=event.seq,
                )
        case JobSucceeded() | JobFailed() | JobError() | JobCanceled() | JobTimedOut():
            if not terminal:
                _result(work, event, RESULT_STATUS[type(event)], event.data)


def _advance(current: Status, new: Status) -> Status:
    return new if rank(new) > rank(current) else current


def _spec_fields(work: Work, spec: JobSpec, *, resolved: bool) -> None:
    """Fields from a job spec; the executor's resolved options win over the submitted ones."""
    if work["source"] is None:
        work.update(
            priority=spec.priority,
            source=msgspec.to_builtins(spec.source),
            inventory_summary=inventory_summary(spec.inventory),
            extra_vars=spec.extra_vars,
        )
    if resolved or work["options"] is None:
        work["options"] = msgspec.to_builtins(spec.options)


def inventory_summary(inventory: Inventory) -> dict[str, Any]:
    """Type, host count and groups of an inline inventory; where the hosts come from otherwise
    (their count arrives with ``job.started``, which records the hosts the executor resolved)."""
    match inventory:
        case InlineInventory():
            hosts = set(inventory.hosts) | set(inventory.host_vars)
            for group in inventory.groups.values():
                hosts.update(group.hosts if isinstance(group, InventoryGroup) else group)
            return {"type": "inline", "hosts": len(hosts), "groups": sorted(inventory.groups)}
        case GitInventory(repo=repo, branch=branch, path=path):
            return {"type": "git", "repo": repo, "branch": branch, "path": path, "hosts": None}
        case UrlInventory(url=url, format=fmt):
            return {"type": "url", "url": url.split("?", 1)[0], "format": fmt, "hosts": None}
        case DynamicInventory(plugin=plugin):
            return {"type": "dynamic", "plugin": plugin, "hosts": None}


def _resolved(work: Work, data: StartedData) -> None:
    """What the executor resolved when the job started: the commit, the hosts."""
    ran = {"commit": data.commit, "playbook_sha256": data.playbook_sha256}
    if isinstance(work["source"], dict) and any(ran.values()):
        work["source"] = {**work["source"], **{k: v for k, v in ran.items() if v is not None}}
    if data.hosts is not None and isinstance(work["inventory_summary"], dict):
        summary = {**work["inventory_summary"], "hosts": len(data.hosts)}
        if data.inventory_commit is not None:
            summary["commit"] = data.inventory_commit
        work["inventory_summary"] = summary


def _runner(work: Work, event: RunnerEvent) -> None:
    data = event.data
    name = data.event
    event_data = data.event_data
    work["runner_event_count"] += 1
    if work["status"] == "queued":
        work["status"] = "running"
    if name == "playbook_on_play_start":
        work["current_play"] = _text(event_data, "name") or _text(event_data, "play")
        work["current_task"] = None
    elif name == "playbook_on_task_start":
        work["current_task"] = _text(event_data, "name") or _text(event_data, "task")
        play = _text(event_data, "play")
        if play is not None:
            work["current_play"] = play
    elif name == "playbook_on_stats":
        work["hosts"] = reconcile(work["hosts"], event_data)
        return
    host = _text(event_data, "host")
    if host is not None:
        hosts = work["hosts"]
        before = hosts.get(host)
        after = count_result(before or ZERO, name, event_data)
        if after is not before:
            hosts[host] = after


def count_result(counts: HostCounts, name: str, event_data: Mapping[str, Any]) -> HostCounts:
    """The host's counts after one runner event, the way ansible's own stats count them."""
    res = event_data.get("res")
    changed = isinstance(res, dict) and res.get("changed") is True
    if name == "runner_on_ok":
        return msgspec.structs.replace(counts, ok=counts.ok + 1, changed=counts.changed + changed)
    if name == "runner_on_failed":
        if event_data.get("ignore_errors") is True:
            return msgspec.structs.replace(
                counts, ok=counts.ok + 1, ignored=counts.ignored + 1, changed=counts.changed + changed
            )
        return msgspec.structs.replace(counts, failures=counts.failures + 1)
    if name == "runner_on_skipped":
        return msgspec.structs.replace(counts, skipped=counts.skipped + 1)
    if name == "runner_on_unreachable":
        return msgspec.structs.replace(counts, unreachable=counts.unreachable + 1)
    return counts


def reconcile(hosts: Mapping[str, HostCounts], stats: Mapping[str, Any]) -> dict[str, HostCounts]:
    """Replace counted summaries by ansible's final stats for every host the stats name."""
    per_field = {field: _int_map(stats.get(key)) for key, field in _STATS_FIELDS}
    named = set(_int_map(stats.get("processed")))
    for values in per_field.values():
        named.update(values)
    if not named:
        return dict(hosts)
    merged = dict(hosts)
    for host in sorted(named):
        merged[host] = HostCounts(**{field: values.get(host, 0) for field, values in per_field.items()})
    return merged


def _result(work: Work, event: JobEvent, status: Status, data: ResultData) -> None:
    hosts = reconcile(work["hosts"], data.stats) if data.stats else work["hosts"]
    reason = data.reason
    if reason is None and status == "failed":
        reason = failure_summary(hosts)
    work.update(
        status=status,
        finished_at=event.time,
        rc=data.rc,
        runner_status=data.runner_status,
        failure_reason=reason,
        terminal_seq=event.seq,
        hosts=hosts,
    )


def failure_summary(hosts: Mapping[str, HostCounts]) -> str | None:
    failed = sorted(h for h, c in hosts.items() if c.failures)
    unreachable = sorted(h for h, c in hosts.items() if c.unreachable)
    parts = [
        f"{label}: {', '.join(names[:_REASON_HOSTS])}{' …' if len(names) > _REASON_HOSTS else ''}"
        for label, names in (("failed hosts", failed), ("unreachable hosts", unreachable))
        if names
    ]
    return "; ".join(parts) or None


class HostTotals(msgspec.Struct, frozen=True, kw_only=True):
    """The ``jobs.hosts_*`` progress columns, derived from the host summaries."""

    total: int = 0
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


def host_totals(hosts: Mapping[str, HostCounts]) -> HostTotals:
    ok = changed = failed = unreachable = skipped = 0
    for c in hosts.values():
        ok += not c.failures and not c.unreachable
        changed += c.changed > 0
        failed += c.failures > 0
        unreachable += c.unreachable > 0
        skipped += c.skipped > 0 and not (c.ok or c.failures or c.unreachable or c.rescued)
    return HostTotals(
        total=len(hosts), ok=ok, changed=changed, failed=failed, unreachable=unreachable, skipped=skipped
    )


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int_map(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
    }
