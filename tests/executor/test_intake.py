"""The intake: bad commands are rejected precisely and never stall the queue; priorities; duplicates."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_common.consumers import INTAKE, run_consumer
from playledger_common.settings import ExecutorSettings
from playledger_schemas.codec import UNSUPPORTED, encode
from playledger_schemas.commands import SubmitJob
from playledger_schemas.events import JobCanceled, JobQueued, JobRejected, JobStarted, JobSucceeded
from playledger_schemas.ids import PRIORITIES
from playledger_schemas.limits import command_limit
from playledger_schemas.subjects import COMMANDS_STREAM, submit_subject
from tests.executor.support import (
    cancel,
    command_rejection,
    job_events,
    last_event,
    running_executor,
    spec,
    submit,
    wait_for,
    wait_terminal,
)

pytestmark = pytest.mark.integration


async def test_a_malformed_command_between_two_valid_ones(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    async with running_executor(settings):
        await submit(js, "before", spec("ok.yml"))
        ack = await js.publish(submit_subject("normal", "broken"), b'{"type": "job.submit.v1", "job_id": ')
        await submit(js, "after", spec("ok.yml"))
        before = await wait_terminal(js, "before")
        after = await wait_terminal(js, "after")
        broken = await command_rejection(js, ack.seq)
    assert isinstance(before, JobSucceeded)
    assert isinstance(after, JobSucceeded)
    assert broken.command_seq == ack.seq
    assert broken.subject == submit_subject("normal", "broken")
    assert broken.reason.startswith("not valid JSON")
    assert await job_events(js, "broken") == []  # the id stays free for its owner


async def rejection(js: JetStreamContext, job_id: str) -> JobRejected:
    event = await wait_terminal(js, job_id, limit_s=10)
    assert isinstance(event, JobRejected), event
    return event


async def test_invalid_commands_are_rejected_with_precise_reasons(
    js: JetStreamContext, settings: ExecutorSettings, projects_dir: object
) -> None:
    from pathlib import Path

    root = Path(str(projects_dir))
    (root.parent / "outside.yml").write_text("- hosts: all\n")
    (root / "link.yml").symlink_to(root.parent / "outside.yml")
    good = SubmitJob(job_id="x", spec=spec("ok.yml"))
    as_dict = msgspec.to_builtins(good)
    as_dict["spec"]["options"]["forks"] = "many"
    async with running_executor(settings):
        await submit(js, "escape", spec("../outside.yml"))
        await submit(js, "symlink", spec("link.yml"))
        await submit(js, "missing", spec("nope.yml"))
        await submit(js, "absolute", spec("/etc/ok.yml"))
        await js.publish(
            submit_subject("normal", "schema"), msgspec.json.encode({**as_dict, "job_id": "schema"})
        )
        await js.publish(
            submit_subject("high", "prio"), encode(SubmitJob(job_id="prio", spec=spec("ok.yml")))
        )
        other = await js.publish(
            submit_subject("normal", "other"), encode(SubmitJob(job_id="mismatch", spec=spec("ok.yml")))
        )
        bad_id = await js.publish("playledger.cmd.submit.normal.bad!id", b"{}")

        assert "must not contain '..'" in (await rejection(js, "escape")).data.reason
        assert "resolves outside the projects directory" in (await rejection(js, "symlink")).data.reason
        assert "does not exist" in (await rejection(js, "missing")).data.reason
        assert "must be relative" in (await rejection(js, "absolute")).data.reason
        schema = await rejection(js, "schema")
        assert [(e.path, e.message) for e in schema.data.errors] == [
            ("$.spec.options.forks", "Expected `int | null`, got `str`")
        ]
        assert "does not match the command" in (await rejection(js, "prio")).data.reason
        assert "does not name job 'mismatch'" in (await command_rejection(js, other.seq)).reason
        assert (await command_rejection(js, bad_id.seq)).errors[0].path == "$.job_id"
        assert await last_event(js, "mismatch") is None
        assert await last_event(js, "other") is None
        # the queue still works after all that
        await submit(js, "fine", spec("ok.yml"))
        assert isinstance(await wait_terminal(js, "fine"), JobSucceeded)


@pytest.mark.parametrize(
    ("where", "field", "path"),
    [
        (("spec", "options"), "notify_url", "$.spec.options.notify_url"),
        (("spec",), "run_at", "$.spec.run_at"),
        (("spec", "credentials"), "inline", "$.spec.credentials.inline"),
        (("spec", "inventory"), "depends_on", "$.spec.inventory.depends_on"),
        ((), "retry", "$.retry"),
    ],
)
async def test_a_submit_asking_for_an_unknown_field_is_rejected_naming_it_and_never_runs(
    js: JetStreamContext, settings: ExecutorSettings, where: tuple[str, ...], field: str, path: str
) -> None:
    command = msgspec.to_builtins(SubmitJob(job_id="asks-more", spec=spec("ok.yml")))
    node = command
    for key in where:
        node = node[key]
    node[field] = "https://ci/hook"
    async with running_executor(settings):
        await js.publish(submit_subject("normal", "asks-more"), msgspec.json.encode(command))
        rejected = await rejection(js, "asks-more")
        assert rejected.data.reason == f"{path}: {UNSUPPORTED}"
        assert [(e.path, e.message) for e in rejected.data.errors] == [(path, UNSUPPORTED)]
        await submit(js, "after-it", spec("ok.yml"))
        assert isinstance(await wait_terminal(js, "after-it"), JobSucceeded)
    assert [type(e) for e in await job_events(js, "asks-more")] == [JobRejected]


async def test_submits_are_queued_within_a_second_even_when_every_slot_is_busy(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    one_slot = msgspec.structs.replace(settings, concurrency=1)
    async with running_executor(one_slot):
        await submit(js, "busy", spec("sleep.yml", extra_vars={"sleep_s": 30}))
        await wait_for(js, "busy", lambda e: isinstance(e, JobStarted))
        for n in range(5):
            await submit(js, f"wait-{n}", spec("ok.yml"))
        sent = time.monotonic()
        while True:
            lasts = [await last_event(js, f"wait-{n}") for n in range(5)]
            if all(isinstance(e, JobQueued) for e in lasts):
                break
            assert time.monotonic() - sent < 2.5, lasts  # ~1 s asked; margin for a shared machine
            await asyncio.sleep(0.05)
        assert isinstance(await last_event(js, "wait-0"), JobQueued)  # still waiting for the slot
        await cancel(js, "busy")
        assert isinstance(await wait_terminal(js, "busy", limit_s=10), JobCanceled)


async def test_a_duplicate_submit_never_runs_the_job_twice(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    command = SubmitJob(job_id="twice", spec=spec("ok.yml"))
    async with running_executor(settings):
        for n in range(3):  # distinct msg ids: past the stream's dedup window
            await js.publish(
                submit_subject("normal", "twice"), encode(command), headers={"Nats-Msg-Id": f"t{n}"}
            )
        await wait_terminal(js, "twice")
        deadline = time.monotonic() + 10
        while True:
            infos = [await js.consumer_info(COMMANDS_STREAM, c) for c in (INTAKE, run_consumer("normal"))]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    events = await job_events(js, "twice")
    assert sum(isinstance(e, JobQueued) for e in events) == 1
    assert sum(isinstance(e, JobStarted) for e in events) == 1
    assert isinstance(events[-1], JobSucceeded)


async def test_higher_priorities_are_taken_first(js: JetStreamContext, settings: ExecutorSettings) -> None:
    for priority in reversed(PRIORITIES):  # published low first
        await submit(js, f"p-{priority}", spec("ok.yml", priority=priority))
    one_slot = msgspec.structs.replace(settings, concurrency=1)
    async with running_executor(one_slot):
        for priority in PRIORITIES:
            await wait_terminal(js, f"p-{priority}")
    started = {}
    for priority in PRIORITIES:
        (event,) = [e for e in await job_events(js, f"p-{priority}") if isinstance(e, JobStarted)]
        started[priority] = event.time
    assert sorted(PRIORITIES, key=lambda p: started[p]) == list(PRIORITIES)


async def test_a_garbage_submit_never_blocks_the_job_id_for_its_owner(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    async with running_executor(settings):
        garbage = await js.publish(submit_subject("normal", "mine"), b'{"type": "job.submit.v1"}')
        rejected = await command_rejection(js, garbage.seq)
        await submit(js, "mine", spec("ok.yml"))
        assert isinstance(await wait_terminal(js, "mine"), JobSucceeded)
    assert rejected.errors[0].path == "$.job_id"
    assert isinstance((await job_events(js, "mine"))[0], JobQueued)


async def test_depth_and_size_at_the_limit_never_stop_the_intake(
    js: JetStreamContext, settings: ExecutorSettings
) -> None:
    """Defects 1 and 3: a ~1 MiB command crashed the intake; 2,000 levels raised RecursionError."""
    max_payload = js._nc.max_payload  # type: ignore[attr-defined]
    nc_limit = command_limit(max_payload)
    big_size = max_payload - 300  # its job.queued used to exceed max_payload and crash the intake
    deep = encode(SubmitJob(job_id="deep", spec=spec("ok.yml"))).replace(
        b'"extra_vars":{}', b'"extra_vars":{"x":' + b'{"a":' * 2000 + b"1" + b"}" * 2001
    )
    big = msgspec.to_builtins(SubmitJob(job_id="big", spec=spec("ok.yml")))
    big["spec"]["extra_vars"] = {"pad": "x" * (big_size - len(msgspec.json.encode(big)) - len('"pad":""'))}
    fits = msgspec.to_builtins(SubmitJob(job_id="fits", spec=spec("ok.yml")))
    fits["spec"]["extra_vars"] = {"pad": "x" * (nc_limit - len(msgspec.json.encode(fits)) - len('"pad":""'))}
    async with running_executor(settings):
        deep_ack = await js.publish(submit_subject("normal", "deep"), deep)
        big_payload = msgspec.json.encode(big)
        assert len(big_payload) == big_size
        await js.publish(submit_subject("normal", "big"), big_payload)
        fits_payload = msgspec.json.encode(fits)
        assert len(fits_payload) == nc_limit
        await js.publish(submit_subject("normal", "fits"), fits_payload)
        await submit(js, "after", spec("ok.yml"))
        assert "nested 64 or more levels deep" in (await command_rejection(js, deep_ack.seq)).reason
        too_big = await rejection(js, "big")
        assert too_big.data.reason.startswith(f"command too big: {big_size} bytes, more than the limit")
        assert isinstance(await wait_terminal(js, "after"), JobSucceeded)
        assert isinstance(await wait_terminal(js, "fits"), JobSucceeded)
    queued, started = (await job_events(js, "fits"))[:2]
    assert isinstance(queued, JobQueued)
    assert isinstance(started, JobStarted)
    assert queued.data.spec.extra_vars == fits["spec"]["extra_vars"]
