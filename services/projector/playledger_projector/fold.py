"""The functional core: ``evolve(view, event) -> view``. Pure, no IO.

Rules the fold keeps (so a replay of the same stream always gives the same rows):

- status never moves backwards: queued < running < terminal, and the first terminal event
  wins; a job is terminal only once its terminal event is folded in; the one way back is a
  retry: ``job.retry_scheduled`` makes a running job ``scheduled``, its next ``job.started``
  ``running`` again;
- ``attempts`` lists every ended attempt (from ``job.retry_scheduled``, ``job.dead``, or the
  terminal event of the last attempt);
- ``job.retry_requested`` (a dead job retried by request) makes a dead job ``queued`` again:
  the one event that may follow a terminal event;
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

from playledger_common.readmodel import HostCounts
from playledger_projector.facts import EventFacts, RawRunnerEvent, RunnerFacts, decode_facts, facts_of
from playledger_projector.views import ZERO, JobView
from playledger_schemas.commands import (
    DynamicInventory,
    GitInventory,
    InlineInventory,
    Inventory,
    InventoryGroup,
    JobSpec,
    StoredInventory,
    UrlInventory,
    retry_policy,
)
from playledger_schemas.events import (
    AttemptOutcome,
    Event,
    JobCancelRequested,
    JobDead,
    JobEvent,
    JobQueued,
    JobRejected,
    JobRetryRequested,
    JobRetryScheduled,
    JobStarted,
    ResultData,
    RunnerEvent,
    StartedData,
    terminal_status,
)
from playledger_schemas.status import is_result_status, is_terminal_status

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
_WAITING: Final = frozenset({"queued", "scheduled", "waiting"})
"""Statuses a job's next ``job.started`` (or its first runner event) makes ``running``."""


def evolve(view: JobView | None, event: JobEvent | RawRunnerEvent, stream_seq: int) -> JobView:
    """The job after ``event`` (stored at ``stream_seq``); ``view`` is ``None`` for a new job."""
    job = start(view, event)
    step(job, event, stream_seq)
    return finish(job)


def start(view: JobView | None, event: Event) -> JobView:
    """A private working copy of ``view``, or a new job first seen with ``event``.

    ``fold_batch`` folds a whole batch into one copy per job (``step``), then ``finish``es it;
    ``evolve`` is the one-event form. Nobody else ever mutates a view.
    """
    if view is None:
        return JobView(job_id=event.job_id, status="queued", created_at=event.time)
    return msgspec.structs.replace(view, hosts=dict(view.hosts))


def finish(job: JobView) -> JobView:
    """Derive the ``hosts_*`` progress columns from the host summaries."""
    ok = changed = failed = unreachable = skipped = 0
    for c in job.hosts.values():
        ok += not c.failures and not c.unreachable
        changed += c.changed > 0
        failed += c.failures > 0
        unreachable += c.unreachable > 0
        skipped += c.skipped > 0 and not (c.ok or c.failures or c.unreachable or c.rescued)
    job.hosts_total = len(job.hosts)
    job.hosts_ok = ok
    job.hosts_changed = changed
    job.hosts_failed = failed
    job.hosts_unreachable = unreachable
    job.hosts_skipped = skipped
    return job


def step(
    job: JobView, event: JobEvent | RawRunnerEvent, stream_seq: int, facts: RunnerFacts | None = None
) -> None:
    """Fold one event into ``job`` in place; a runner event's ``facts`` are read from it if not given."""
    job.event_count += 1
    if event.seq > job.last_seq:
        job.last_seq = event.seq
    if stream_seq > job.last_stream_seq:
        job.last_stream_seq = stream_seq
    if event.seq == 1:
        job.created_at = event.time
    attempt = job.attempt
    if event.attempt > attempt:
        job.attempt = event.attempt
    if facts is None and isinstance(event, RunnerEvent):
        facts = facts_of(event.data)
    elif facts is None and isinstance(event, RawRunnerEvent):
        facts = decode_facts(bytes(event.data))
    if facts is not None:
        _runner(job, facts)
        return
    if isinstance(event, RunnerEvent | RawRunnerEvent):
        return  # unreachable: facts were read above (narrows the type for the match)
    match event:
        case JobQueued():
            _spec_fields(job, event.data.spec, resolved=False)
            job.max_attempts = retry_policy(event.data.spec).max_attempts
            if event.data.depends_on:
                job.depends_on = list(event.data.depends_on)
            if event.data.run_at is not None and job.status == "queued":
                job.status = "scheduled"
                job.run_at = event.data.run_at
            elif event.data.depends_on and job.status == "queued":
                job.status = "waiting"
            if event.data.submitted_by is not None:
                job.submitted_by = msgspec.to_builtins(event.data.submitted_by)
            if event.data.template is not None:
                job.template = event.data.template.name
                job.template_version = event.data.template.version
            if event.data.parent is not None:
                job.parent = msgspec.to_builtins(event.data.parent)
        case JobStarted():
            if event.attempt >= attempt:  # else a stale start of an earlier attempt: counted only
                _spec_fields(job, event.data.spec, resolved=True)
                _resolved(job, event.data)
                if job.status in _WAITING:
                    job.status = "running"
                    job.run_at = None
                job.started_at = event.time
                job.executor_id = event.data.executor_id
                if event.attempt > attempt:
                    job.hosts = {}
                    job.current_play = job.current_task = None
        case JobCancelRequested():
            job.cancel_requested = True
        case JobRetryRequested():
            if job.status != "dead":
                return  # the writer rules let it follow job.dead only
            job.status = "queued"
            job.terminal_seq = None
            job.finished_at = None
            job.dead_letter = False
            job.cancel_requested = False
        case JobRetryScheduled(data=data):
            if is_terminal_status(job.status):
                return
            job.status = "scheduled"
            job.run_at = data.retry_at
            job.max_attempts = data.max_attempts
            job.attempts = msgspec.to_builtins(data.attempts)
            job.rc = data.rc
            job.runner_status = data.runner_status
            job.failure_reason = data.reason
        case _:
            status = terminal_status(event)
            if status is None or is_terminal_status(job.status):
                return  # not terminal, or not the first terminal event: the first one wins
            job.status = status
            job.finished_at = event.time
            job.terminal_seq = event.seq
            job.run_at = None
            if isinstance(event, JobRejected):
                job.failure_reason = event.data.reason
                job.rejection_errors = msgspec.to_builtins(event.data.errors)
                job.dead_letter = event.data.dead_letter
                return
            _result(job, event.data)
            job.dead_letter = event.data.dead_letter or isinstance(event, JobDead)
            if isinstance(event, JobDead):
                job.attempts = msgspec.to_builtins(event.data.attempts)
            elif event.attempt >= 1 and is_result_status(status):
                ended = AttemptOutcome(
                    attempt=event.attempt,
                    status=status,
                    reason=event.data.reason,
                    rc=event.data.rc,
                    ended_at=event.time,
                )
                job.attempts = [*(job.attempts or []), msgspec.to_builtins(ended)]


def _spec_fields(job: JobView, spec: JobSpec, *, resolved: bool) -> None:
    """Fields from a job spec; the executor's resolved options win over the submitted ones."""
    if job.source is None:
        job.priority = spec.priority
        job.source = msgspec.to_builtins(spec.source)
        job.inventory_summary = inventory_summary(spec.inventory)
        job.extra_vars = spec.extra_vars
    if resolved or job.options is None:
        job.options = msgspec.to_builtins(spec.options)


def inventory_summary(inventory: Inventory) -> dict[str, Any]:
    """Type, host count and groups of an inline inventory; where the hosts come from otherwise
    (their count arrives with ``job.started``, which records the hosts the executor resolved);
    for a stored one, that of the inventory it resolved to, with ``stored: {name, version}``."""
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
        case StoredInventory(name=name, version=version, resolved=resolved):
            stored = {"name": name, "version": version}
            if resolved is None:
                return {"type": "stored", "hosts": None, "stored": stored}
            return {**inventory_summary(resolved), "stored": stored}


def _resolved(job: JobView, data: StartedData) -> None:
    """What the executor resolved when the job started: the commit, the hosts."""
    ran = {"commit": data.commit, "playbook_sha256": data.playbook_sha256}
    if isinstance(job.source, dict) and any(ran.values()):
        job.source = {**job.source, **{k: v for k, v in ran.items() if v is not None}}
    if data.hosts is not None and isinstance(job.inventory_summary, dict):
        summary = {**job.inventory_summary, "hosts": len(data.hosts)}
        if data.inventory_commit is not None:
            summary["commit"] = data.inventory_commit
        job.inventory_summary = summary


def _runner(job: JobView, facts: RunnerFacts) -> None:
    name = facts.event
    event_data = facts.event_data
    job.runner_event_count += 1
    if job.status in _WAITING:
        job.status = "running"
        job.run_at = None
    if name == "playbook_on_play_start":
        job.current_play = event_data.text("name") or event_data.text("play")
        job.current_task = None
    elif name == "playbook_on_task_start":
        job.current_task = event_data.text("name") or event_data.text("task")
        play = event_data.text("play")
        if play is not None:
            job.current_play = play
    elif name == "playbook_on_stats":
        job.hosts = reconcile(job.hosts, event_data.stats())
        return
    host = event_data.text("host")
    if host is not None:
        hosts = job.hosts
        before = hosts.get(host)
        after = count_result(before or ZERO, name, event_data)
        if after is not before:
            hosts[host] = after


def count_result(counts: HostCounts, name: str, event_data: EventFacts) -> HostCounts:
    """The host's counts after one runner event, the way ansible's own stats count them."""
    if name == "runner_on_ok":
        return msgspec.structs.replace(
            counts, ok=counts.ok + 1, changed=counts.changed + event_data.changed_result()
        )
    if name == "runner_on_failed":
        if event_data.ignore_errors is True:
            return msgspec.structs.replace(
                counts,
                ok=counts.ok + 1,
                ignored=counts.ignored + 1,
                changed=counts.changed + event_data.changed_result(),
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


def _result(job: JobView, data: ResultData) -> None:
    job.log_object = None if data.log is None else msgspec.to_builtins(data.log)
    job.artifacts = msgspec.to_builtins(data.artifacts) if data.artifacts else None
    job.missing_objects = msgspec.to_builtins(data.missing) if data.missing else None
    if data.stats:
        job.hosts = reconcile(job.hosts, data.stats)
    job.rc = data.rc
    job.runner_status = data.runner_status
    job.failure_reason = data.reason
    if data.reason is None and job.status == "failed":
        job.failure_reason = failure_summary(job.hosts)


def failure_summary(hosts: Mapping[str, HostCounts]) -> str | None:
    failed = sorted(h for h, c in hosts.items() if c.failures)
    unreachable = sorted(h for h, c in hosts.items() if c.unreachable)
    parts = [
        f"{label}: {', '.join(names[:_REASON_HOSTS])}{' …' if len(names) > _REASON_HOSTS else ''}"
        for label, names in (("failed hosts", failed), ("unreachable hosts", unreachable))
        if names
    ]
    return "; ".join(parts) or None


def _int_map(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
    }
