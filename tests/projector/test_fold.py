"""The functional core without IO: evolve, host summaries, batch folding, decoding."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import msgspec
import pytest

from playledger_common.readmodel import READ_MODEL_VERSION, HostCounts, HostRow
from playledger_projector import migrations
from playledger_projector.batch import (
    Decoded,
    Undecodable,
    decode_message,
    duplicate_candidates,
    fold_batch,
    host_row,
)
from playledger_projector.consumer import stream_seq_of
from playledger_projector.facts import event_facts
from playledger_projector.fold import count_result, evolve, finish, reconcile
from playledger_projector.views import ZERO, JobView
from playledger_schemas.codec import encode
from playledger_schemas.events import (
    JobCanceled,
    JobError,
    JobEvent,
    JobFailed,
    JobSucceeded,
    JobTimedOut,
)
from tests.projector.factory import T0, JobBuilder, realistic_job

pytestmark = pytest.mark.unit

HOSTS = ["web1", "web2"]


def fold(events: list[JobEvent], view: JobView | None = None) -> JobView:
    for n, event in enumerate(events, 1):
        view = evolve(view, event, 1000 + n)
    assert view is not None
    return view


def test_a_queued_job_carries_its_spec() -> None:
    view = fold(JobBuilder("j1").queued(HOSTS, priority="high").events)
    assert view.status == "queued"
    assert view.priority == "high"
    assert view.source == {"type": "local", "path": "site.yml"}
    assert view.inventory_summary == {"type": "inline", "hosts": 2, "groups": ["web"]}
    assert view.options["forks"] == 5
    assert view.extra_vars == {"release": "1.2.3"}
    assert view.created_at == T0 + timedelta(milliseconds=7)
    assert (view.event_count, view.last_seq, view.last_stream_seq, view.terminal_seq) == (1, 1, 1001, None)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (JobSucceeded, "successful"),
        (JobFailed, "failed"),
        (JobError, "error"),
        (JobCanceled, "canceled"),
        (JobTimedOut, "timeout"),
    ],
)
def test_each_terminal_event_maps_to_its_status(outcome: type, status: str) -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    running = fold(b.events)
    assert running.status == "running"
    assert running.attempt == 1
    assert running.executor_id == "exec-1"
    b.result(outcome, runner_status="failed", rc=2, reason="why")
    view = fold(b.events[-1:], running)
    assert view.status == status
    assert (view.rc, view.runner_status, view.terminal_seq, view.finished_at) == (
        2,
        "failed",
        3,
        b.events[-1].time,
    )
    assert view.failure_reason == "why"


def test_rejected_is_terminal_with_reason() -> None:
    view = fold(JobBuilder("j1").rejected("$.spec.inventory: bad").events)
    assert view.status == "rejected"
    assert view.failure_reason == "$.spec.inventory: bad"
    assert view.rejection_errors == []
    assert view.terminal_seq == 1


def test_a_late_queued_never_overrides_running() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    queued, started = b.events
    view = fold([started, queued])
    assert view.status == "running"
    assert view.created_at == queued.time, "created_at is the time of seq 1"
    assert view.last_seq == 2
    assert view.event_count == 2


def test_status_never_moves_back_after_a_terminal_event() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS).result(JobSucceeded, rc=0)
    b.runner("runner_on_ok", host="web1", res={"changed": False})
    b.cancel_requested()
    b.result(JobFailed, rc=2)
    view = fold(b.events)
    assert view.status == "successful", "the first terminal event wins"
    assert view.rc == 0
    assert view.terminal_seq == 3
    assert view.event_count == 6


def test_runner_events_before_any_lifecycle_event_mean_running() -> None:
    view = fold(JobBuilder("j1").runner("runner_on_ok", host="a", res={}).events)
    assert view.status == "running"
    assert view.runner_event_count == 1


def test_progress_follows_play_and_task_starts() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.runner("playbook_on_play_start", name="Deploy", play="Deploy")
    view = fold(b.events)
    assert (view.current_play, view.current_task) == ("Deploy", None)
    b.runner("playbook_on_task_start", name="install", play="Deploy", task="install")
    view = fold(b.events[-1:], view)
    assert (view.current_play, view.current_task) == ("Deploy", "install")
    b.runner("playbook_on_play_start", name="Verify", play="Verify")
    view = fold(b.events[-1:], view)
    assert (view.current_play, view.current_task) == ("Verify", None)


def test_host_counts_follow_ansible_rules() -> None:
    c = count_result(ZERO, "runner_on_ok", event_facts({"res": {"changed": True}}))
    c = count_result(c, "runner_on_ok", event_facts({"res": {"changed": False}}))
    c = count_result(c, "runner_on_failed", event_facts({"res": {"changed": True}, "ignore_errors": True}))
    c = count_result(c, "runner_on_failed", event_facts({"res": {}, "ignore_errors": None}))
    c = count_result(c, "runner_on_skipped", event_facts({}))
    c = count_result(c, "runner_on_unreachable", event_facts({"res": {"unreachable": True}}))
    c = count_result(c, "runner_item_on_ok", event_facts({"res": {"changed": True}}))
    c = count_result(c, "runner_on_start", event_facts({}))
    assert c == HostCounts(ok=3, changed=2, failures=1, unreachable=1, skipped=1, ignored=1)


def test_stats_replace_counted_summaries_and_bring_rescued() -> None:
    counted = {"web1": HostCounts(ok=2, failures=1), "web2": HostCounts(ok=3)}
    stats = {
        "ok": {"web1": 3, "web2": 3},
        "failures": {},
        "rescued": {"web1": 1},
        "changed": {"web2": 1},
        "dark": {"db1": 1},
        "processed": {"web1": 1, "web2": 1, "db1": 1},
        "artifact_data": {},
    }
    merged = reconcile(counted, stats)
    assert merged == {
        "web1": HostCounts(ok=3, rescued=1),
        "web2": HostCounts(ok=3, changed=1),
        "db1": HostCounts(unreachable=1),
    }
    assert reconcile(counted, {}) == counted


def test_job_host_totals_follow_the_column_definitions() -> None:
    hosts = {
        "ok": HostCounts(ok=3, changed=1),
        "failed": HostCounts(ok=1, failures=1),
        "dark": HostCounts(unreachable=1),
        "skipped": HostCounts(skipped=2),
        "seen": ZERO,
    }
    t = finish(JobView(job_id="j1", status="running", created_at=T0, hosts=hosts))
    assert (
        t.hosts_total,
        t.hosts_ok,
        t.hosts_changed,
        t.hosts_failed,
        t.hosts_unreachable,
        t.hosts_skipped,
    ) == (
        5,
        3,
        1,
        1,
        1,
        1,
    )


def test_a_full_job_matches_ansible_stats() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    stats = b.play(HOSTS, 10, {2: "ignored", 6: "failed"})
    b.result(JobFailed, runner_status="failed", rc=2)
    view = fold(b.events)
    for host in HOSTS:
        counts = view.hosts[host]
        assert counts.ok == stats["ok"].get(host, 0)
        assert counts.changed == stats["changed"].get(host, 0)
        assert counts.failures == stats["failures"].get(host, 0)
        assert counts.ignored == stats["ignored"].get(host, 0)
        assert counts.skipped == stats["skipped"].get(host, 0)
    assert view.failure_reason == "failed hosts: web1"
    assert view.status == "failed"
    assert view.runner_event_count == b.counter


def test_terminal_stats_reconcile_when_playbook_on_stats_is_missing() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.runner("runner_on_ok", host="web1", res={"changed": True})
    b.result(JobCanceled, rc=254, stats={"ok": {"web1": 1}, "rescued": {"web2": 1}})
    view = fold(b.events)
    assert view.hosts == {"web1": HostCounts(ok=1), "web2": HostCounts(rescued=1)}


def test_a_new_attempt_starts_fresh_host_summaries() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.runner("playbook_on_play_start", name="p")
    b.runner("runner_on_failed", host="web1", res={})
    first = fold(b.events)
    assert first.hosts == {"web1": HostCounts(failures=1)}
    b.started(HOSTS)
    second = fold(b.events[-1:], first)
    assert second.attempt == 2
    assert second.hosts == {}
    assert second.current_play is None
    assert second.status == "running"


def test_cancel_requested_sets_the_flag_only() -> None:
    view = fold(JobBuilder("j1").queued(HOSTS).cancel_requested().events)
    assert view.cancel_requested
    assert view.status == "queued"


def test_evolve_is_pure() -> None:
    events = JobBuilder("j1").queued(HOSTS).started(HOSTS).runner("runner_on_ok", host="web1", res={}).events
    before = fold(events[:2])
    snapshot = (before.hosts.copy(), before.status, before.event_count)
    after = evolve(before, events[2], 99)
    assert (before.hosts, before.status, before.event_count) == snapshot
    assert after.hosts == {"web1": HostCounts(ok=1)}


def items(events: list[JobEvent], first_seq: int = 1) -> list[Decoded | Undecodable]:
    out = []
    for n, e in enumerate(events, first_seq):
        item = decode_message(n, f"playledger.append.job.{e.job_id}.x", encode(e))
        assert isinstance(item, Decoded)
        out.append(item)
    return out


def test_fold_batch_writes_each_event_once_and_records_duplicates() -> None:
    events = JobBuilder("j1").queued(HOSTS).started(HOSTS).runner("runner_on_ok", host="web1", res={}).events
    batch = items([*events, events[1]])
    changes = fold_batch({}, set(), batch)
    assert [row.seq for row in changes.events] == [1, 2, 3]
    assert [(s.stream_seq, s.reason) for s in changes.skipped] == [
        (4, "duplicate: job j1 seq 2 is already projected")
    ]
    assert len(changes.jobs) == 1
    assert changes.jobs[0].event_count == 3
    assert changes.host_upserts == [HostRow(job_id="j1", host="web1", ok=1)]
    assert (changes.first_stream_seq, changes.last_stream_seq) == (1, 4)


def test_fold_batch_tells_late_events_from_duplicates_with_the_known_set() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    queued, started = b.events
    view = fold([started])
    late = items([queued, started], first_seq=10)
    assert duplicate_candidates({"j1": view}, late) == {("j1", 1), ("j1", 2)}
    changes = fold_batch({"j1": view}, {("j1", 2)}, late)
    assert [row.seq for row in changes.events] == [1]
    assert [s.stream_seq for s in changes.skipped] == [11]
    assert changes.jobs[0].status == "running"


def test_fold_batch_deletes_host_rows_of_a_previous_attempt() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS).runner("runner_on_ok", host="web1", res={})
    before = fold(b.events)
    b.started(HOSTS).runner("runner_on_ok", host="web2", res={})
    changes = fold_batch({"j1": before}, set(), items(b.events[-2:], first_seq=20))
    assert changes.host_deletes == [("j1", "web1")]
    assert changes.host_upserts == [HostRow(job_id="j1", host="web2", ok=1)]


def test_event_rows_carry_host_play_task_stdout_and_the_data_as_published() -> None:
    b = JobBuilder("j1").queued(HOSTS)
    b.runner("runner_on_ok", "ok: [web1]", host="web1", play="all", task="t1", res={"changed": False})
    row = fold_batch({}, set(), items(b.events)).events[1]
    assert (row.job_id, row.seq, row.stream_seq, row.type, row.event, row.attempt, row.counter) == (
        "j1",
        2,
        2,
        "runner.event.v1",
        "runner_on_ok",
        0,
        1,
    )
    assert (row.host, row.play, row.task, row.stdout, row.truncated) == (
        "web1",
        "all",
        "t1",
        "ok: [web1]",
        False,
    )
    assert json.loads(row.data)["event_data"]["res"] == {"changed": False}
    lifecycle = fold_batch({}, set(), items(b.events)).events[0]
    assert (lifecycle.type, lifecycle.event, lifecycle.attempt) == ("job.queued.v1", "job.queued", 0)


def test_unknown_and_invalid_messages_become_skipped_rows() -> None:
    unknown = decode_message(
        5, "playledger.append.job.j1.job.paused", b'{"type": "job.paused.v9", "job_id": "j1"}'
    )
    assert isinstance(unknown, Undecodable)
    assert unknown.reason == "unknown event type 'job.paused.v9' (written by a newer version?)"
    invalid = decode_message(6, "s", b'{"type": "job.queued.v1", "job_id": "j1"}')
    assert isinstance(invalid, Undecodable)
    assert invalid.reason.startswith("invalid event: ")
    garbage = decode_message(7, "s", b"\xff not json")
    assert isinstance(garbage, Undecodable)
    changes = fold_batch({}, set(), [unknown, invalid, garbage])
    assert [s.stream_seq for s in changes.skipped] == [5, 6, 7]
    assert changes.events == []
    assert changes.last_stream_seq == 7


def test_nul_characters_are_replaced_so_postgresql_accepts_them() -> None:
    b = JobBuilder("j1").runner("runner_on_ok", "a\x00b", host="w\x00", res={"msg": "x\x00y"})
    row = fold_batch({}, set(), items(b.events)).events[0]
    assert row.host == "w\ufffd"
    assert row.stdout == "a\ufffdb"
    assert "\\u0000" not in row.data
    assert json.loads(row.data)["event_data"]["res"]["msg"] == "x\ufffdy"


def test_realistic_jobs_are_all_terminal_with_their_last_seq() -> None:
    rng = random.Random(3)
    for n in range(30):
        events = realistic_job(f"j{n}", rng, tasks=6)
        view = fold(events)
        assert view.terminal_seq == events[-1].seq == view.last_seq == view.event_count


def test_stream_seq_is_read_from_v1_and_v2_ack_subjects() -> None:
    assert stream_seq_of("$JS.ACK.PLAYLEDGER_EVENTS.c1.1.4242.17.1700000000.0") == 4242
    assert stream_seq_of("$JS.ACK.dom.acchash.PLAYLEDGER_EVENTS.c1.1.4242.17.1700000000.0.tok") == 4242


def test_migrations_are_numbered_and_match_the_read_model_version() -> None:
    found = migrations.migrations()
    versions = [m.version for m in found]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
    assert migrations.latest_version() == READ_MODEL_VERSION
    assert "CREATE TABLE jobs" in found[0].sql


def test_folding_in_batches_equals_folding_event_by_event() -> None:
    rng = random.Random(17)
    events = [e for n in range(12) for e in realistic_job(f"j{n}", rng, tasks=5)]
    order = sorted(range(len(events)), key=lambda i: rng.random())
    per_job: dict[str, list[JobEvent]] = {}
    for e in events:
        per_job.setdefault(e.job_id, []).append(e)
    stream: list[JobEvent] = []
    cursors = dict.fromkeys(per_job, 0)
    for i in order:  # a random interleaving that keeps each job's order
        job = events[i].job_id
        stream.append(per_job[job][cursors[job]])
        cursors[job] += 1
    one_by_one: dict[str, JobView] = {}
    for n, e in enumerate(stream, 1):
        one_by_one[e.job_id] = evolve(one_by_one.get(e.job_id), e, n)

    views: dict[str, JobView] = {}
    host_rows: dict[tuple[str, str], HostRow] = {}
    all_items = items(stream)
    start = 0
    while start < len(all_items):
        size = rng.randint(1, 60)
        changes = fold_batch(views, set(), all_items[start : start + size])
        for job_id, host in changes.host_deletes:
            del host_rows[(job_id, host)]
        for row in changes.host_upserts:
            host_rows[(row.job_id, row.host)] = row
        views.update({job.job_id: job for job in changes.jobs})
        start += size
    assert views == one_by_one
    assert host_rows == {(j, h): host_row(j, h, c) for j, v in one_by_one.items() for h, c in v.hosts.items()}


def test_a_retried_job_is_scheduled_between_attempts_and_lists_each_attempt() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.runner("runner_on_failed", host="web1", res={})
    b.retry_scheduled(reason="executor lost", status="error", rc=None)
    waiting = fold(b.events)
    assert (waiting.status, waiting.attempt, waiting.max_attempts) == ("scheduled", 1, 3)
    assert waiting.run_at == b.events[-1].data.retry_at  # type: ignore[union-attr]
    assert waiting.terminal_seq is None
    assert [a["cause"] for a in waiting.attempts or []] == ["executor_lost"]
    b.started(HOSTS).runner("runner_on_ok", host="web1", res={})
    running = fold(b.events)
    assert (running.status, running.attempt, running.run_at) == ("running", 2, None)
    b.result(JobSucceeded, runner_status="successful", rc=0)
    done = fold(b.events)
    assert (done.status, done.dead_letter) == ("successful", False)
    assert [(a["attempt"], a["status"]) for a in done.attempts or []] == [(1, "error"), (2, "successful")]


def test_a_dead_job_is_terminal_in_the_dead_letter_with_every_reason() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.retry_scheduled()
    first = b.events[-1].data.attempts  # type: ignore[union-attr]
    b.started(HOSTS).dead(first, reason="rc 4", rc=4)
    view = fold(b.events)
    assert (view.status, view.dead_letter, view.rc, view.terminal_seq) == ("dead", True, 4, b.seq)
    assert view.failure_reason == "dead after 2 attempts"
    assert [(a["attempt"], a["reason"]) for a in view.attempts or []] == [(1, "rc 2"), (2, "rc 4")]


def test_a_job_the_poison_path_ended_is_in_the_dead_letter() -> None:
    b = JobBuilder("j1").queued(HOSTS)
    b.result(JobError, reason="gave up after 5 deliveries", dead_letter=True)
    assert (fold(b.events).status, fold(b.events).dead_letter) == ("error", True)
    plain = JobBuilder("j2").queued(HOSTS).started(HOSTS).result(JobError, reason="executor lost")
    assert fold(plain.events).dead_letter is False


def test_a_dead_job_retried_by_request_is_queued_again_and_ends_once_more() -> None:
    b = JobBuilder("j1").queued(HOSTS).started(HOSTS)
    b.retry_scheduled(max_attempts=2)
    first = b.events[-1].data.attempts  # type: ignore[union-attr]
    b.started(HOSTS).dead(first)
    b.retry_requested()
    again = fold(b.events)
    assert (again.status, again.dead_letter, again.terminal_seq, again.finished_at) == (
        "queued",
        False,
        None,
        None,
    )
    b.started(HOSTS).runner("runner_on_ok", host="web1", res={})
    b.result(JobSucceeded, runner_status="successful", rc=0)
    done = fold(b.events)
    assert (done.status, done.attempt, done.terminal_seq) == ("successful", 3, b.seq)
    assert [a["attempt"] for a in done.attempts or []] == [1, 2, 3]


def test_only_a_dead_job_reopens_and_only_by_a_retry_request() -> None:
    ended = JobBuilder("j1").queued(HOSTS).started(HOSTS).result(JobFailed, rc=2)
    ended.retry_requested()
    changes = fold_batch(
        {}, set(), [decode_message(n, f"s.{n}", encode(e)) for n, e in enumerate(ended.events, 1)]
    )
    assert [s.reason for s in changes.skipped] == [
        f"writer rule broken: seq {ended.seq} comes after the job's terminal event"
    ]
    dead = JobBuilder("j2").queued(HOSTS).started(HOSTS).dead([])
    dead.started(HOSTS)  # not a retry request: still after the terminal event
    changes = fold_batch(
        {}, set(), [decode_message(n, f"s.{n}", encode(e)) for n, e in enumerate(dead.events, 1)]
    )
    assert len(changes.skipped) == 1


def test_a_job_with_run_at_is_scheduled_until_it_starts() -> None:
    b = JobBuilder("j1").queued(HOSTS)
    run_at = T0 + timedelta(hours=1)
    queued = b.events[0]
    b.events[0] = msgspec.structs.replace(queued, data=msgspec.structs.replace(queued.data, run_at=run_at))  # type: ignore[arg-type]
    view = fold(b.events)
    assert (view.status, view.run_at) == ("scheduled", run_at)
    b.started(HOSTS)
    assert (fold(b.events).status, fold(b.events).run_at) == ("running", None)


def test_a_job_with_dependencies_is_waiting_until_it_starts() -> None:
    b = JobBuilder("j1").queued(HOSTS)
    queued = b.events[0]
    data = msgspec.structs.replace(queued.data, depends_on=["j0"])  # type: ignore[union-attr]
    b.events[0] = msgspec.structs.replace(queued, data=data)  # type: ignore[arg-type]
    view = fold(b.events)
    assert (view.status, view.depends_on) == ("waiting", ["j0"])
    b.started(HOSTS)
    assert fold(b.events).status == "running"
