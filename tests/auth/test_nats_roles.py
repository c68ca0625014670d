"""Per NATS role: every allowed action works, every forbidden one is refused by the real server.

The server runs with ``nats_users.authorization_block``; each client connects as its role
with that role's inbox prefix. Afterwards the events stream holds exactly what the
executor appended: nothing forged, purged or deleted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_cli.embedded import NatsServer
from playledger_common.bus import connect_once
from playledger_common.consumers import CHAINS, chains_consumer
from playledger_common.named_store import inventories
from playledger_common.nats_users import NatsUser, Role, authorization_block, generate_users, inbox_prefix
from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_streams
from playledger_schemas.codec import encode
from playledger_schemas.commands import CancelJob, InlineInventory
from playledger_schemas.inventories import StoredInventoryValue
from playledger_schemas.subjects import (
    COMMAND_SUBJECTS,
    COMMANDS_STREAM,
    DASHBOARD_SUBJECTS,
    EVENT_SUBJECTS,
    EVENTS_STREAM,
    INVENTORIES_BUCKET,
    cancel_subject,
    dashboard_subject,
    event_subject,
    job_events_filter,
)
from tests.api.conftest import job_events

pytestmark = pytest.mark.integration
REFUSED_WITHIN_S = 0.25
"""A refused request gets no answer: the client gives up after this long (the server's
violation report, which each check also requires, is the evidence, not the timeout)."""


class Conn:
    def __init__(self, nc: Client, errors: list[str]) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=REFUSED_WITHIN_S)
        self.errors = errors

    async def _reported(self, before: int, *needles: str) -> None:
        """The server reported a permissions violation naming every needle (nats-py lowercases it)."""
        await self.nc.flush()
        wanted = ["permissions violation", *(n.lower() for n in needles)]
        for _ in range(50):
            if any(all(w in e.lower() for w in wanted) for e in self.errors[before:]):
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"no permissions violation for {needles!r}: {self.errors[before:]}")

    async def refused(self, action: Callable[[], Awaitable[Any]], what: str) -> None:
        """``action`` gets no answer, and the server reported a violation naming ``what``."""
        before = len(self.errors)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError, asyncio.TimeoutError)):
            await action()
        await self._reported(before, what)

    async def refused_subscription(self, subject: str) -> None:
        before = len(self.errors)
        await self.nc.subscribe(subject)
        await self._reported(before, "for subscription", subject)

    async def refused_publish(self, subject: str, payload: bytes) -> None:
        before = len(self.errors)
        await self.nc.publish(subject, payload)
        await self._reported(before, "for publish", subject)


@pytest.fixture(name="users")
def fx_users(tmp_path: Path) -> dict[Role, NatsUser]:
    return generate_users(tmp_path / "nats-users.json")


@pytest.fixture(name="server")
def fx_server(tmp_path: Path, users: dict[Role, NatsUser]) -> AsyncIterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats", authorization=authorization_block(users)).start()
    yield server
    server.stop()


@pytest.fixture(name="connect")
async def fx_connect(
    server: NatsServer, users: dict[Role, NatsUser]
) -> AsyncIterator[Callable[[Role], Awaitable[Conn]]]:
    opened: list[Client] = []

    async def connect(role: Role) -> Conn:
        errors: list[str] = []

        async def error_cb(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            server.url,
            user=users[role].user,
            password=users[role].password,
            inbox_prefix=inbox_prefix(role),
            error_cb=error_cb,
            max_reconnect_attempts=0,
        )
        opened.append(nc)
        return Conn(nc, errors)

    yield connect
    for nc in opened:
        await nc.close()


async def state(admin: Conn) -> tuple[int, int, int]:
    info = await admin.js.stream_info(EVENTS_STREAM)
    return info.state.messages, info.state.first_seq, info.state.last_seq


async def test_anonymous_and_wrong_passwords_are_refused(
    server: NatsServer, users: dict[Role, NatsUser]
) -> None:
    for options in ({}, {"user": "api", "password": "wrong"}):
        with pytest.raises((nats.errors.Error, OSError)):
            await connect_once(servers=[server.url], max_reconnect_attempts=0, **options)


async def test_each_role_can_do_its_job_and_nothing_else(
    connect: Callable[[Role], Awaitable[Conn]], tmp_path: Path
) -> None:
    admin = await connect("admin")
    await ensure_streams(admin.js, CommonSettings())  # what `playledger streams init` does

    # --- allowed ---------------------------------------------------------------------------------
    dashboard = await connect("dashboard")
    live: list[str] = []

    async def on_event(msg: Any) -> None:
        live.append(msg.subject)

    await dashboard.nc.subscribe(DASHBOARD_SUBJECTS, cb=on_event)  # what the stream republishes
    await dashboard.nc.flush()

    api = await connect("api")
    cancel = CancelJob(job_id="job1", issued_at=datetime.now(UTC))
    assert (await api.js.publish(cancel_subject("job1"), encode(cancel))).stream == COMMANDS_STREAM
    publisher = await connect("publisher")
    other = CancelJob(job_id="job2", issued_at=datetime.now(UTC))
    assert (await publisher.js.publish(cancel_subject("job2"), encode(other))).stream == COMMANDS_STREAM

    executor = await connect("executor")
    intake = await executor.js.pull_subscribe(COMMAND_SUBJECTS, durable="intake-test", stream=COMMANDS_STREAM)
    fetched = await intake.fetch(2, timeout=5)
    assert len(fetched) == 2
    for msg in fetched:
        await msg.ack()
    await executor.nc.subscribe("playledger.cmd.submit.>")  # the idle dispatcher's nudge
    events = job_events("job1", runner_events=2)
    for event in events:
        subject = event_subject(event.job_id, _kind(event))
        await executor.js.publish(subject, encode(event), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    assert (await executor.js.get_last_msg(EVENTS_STREAM, job_events_filter("job1"))).seq == len(events)
    await executor.js.add_consumer(EVENTS_STREAM, chains_consumer())  # template chains: terminal events
    chains = await executor.js.pull_subscribe_bind(CHAINS, stream=EVENTS_STREAM)
    (terminal,) = await chains.fetch(1, timeout=5)
    assert terminal.subject == event_subject("job1", "job.succeeded")
    await terminal.ack()

    for reader in ("api", "projector", "auditor"):
        conn = api if reader == "api" else await connect(reader)  # type: ignore[arg-type]
        got = await _replay(conn)
        assert got == len(events), reader
    assert (await api.js.get_last_msg(EVENTS_STREAM, job_events_filter("job1"), direct=True)).seq == len(
        events
    )
    assert (await api.js.stream_info(COMMANDS_STREAM)).state.messages == 2
    for _ in range(100):
        if len(live) == len(events):
            break
        await asyncio.sleep(0.02)
    assert len(live) == len(events)
    # a stored inventory: the API writes it and reads its history, the executor reads it
    prod = StoredInventoryValue(inventory=InlineInventory(hosts=["web1"]))
    version = await inventories(api.js).put("prod", prod)
    assert [r.revision for r in await inventories(api.js).history("prod")] == [version]
    found = await inventories(executor.js).get("prod")
    assert found is not None
    assert (found.value, found.revision) == (prod, version)
    before = await state(admin)

    # --- refused ---------------------------------------------------------------------------------
    forged = encode(events[-1])
    projector = await connect("projector")
    auditor = await connect("auditor")
    for conn in (api, projector, publisher, dashboard, auditor):
        await conn.refused_publish(event_subject("job1", "job.succeeded"), forged)
        await conn.refused_publish(dashboard_subject(event_subject("job1", "job.succeeded")), forged)
        await conn.refused(lambda c=conn: c.js.purge_stream(EVENTS_STREAM), "STREAM.PURGE")
        await conn.refused(lambda c=conn: c.js.delete_msg(EVENTS_STREAM, 1), "STREAM.MSG.DELETE")
        await conn.refused(lambda c=conn: c.js.delete_stream(EVENTS_STREAM), "STREAM.DELETE")
        await conn.refused(lambda c=conn: c.js.delete_stream(COMMANDS_STREAM), "STREAM.DELETE")
    for conn in (executor, projector, dashboard, auditor):
        await conn.refused_publish(cancel_subject("job3"), encode(cancel))
        await conn.refused_publish(f"$KV.{INVENTORIES_BUCKET}.prod", encode(prod))
    await executor.refused(lambda: executor.js.purge_stream(EVENTS_STREAM), "STREAM.PURGE")
    await executor.refused(lambda: executor.js.delete_msg(EVENTS_STREAM, 1), "STREAM.MSG.DELETE")
    await executor.refused(lambda: executor.js.delete_stream(EVENTS_STREAM), "STREAM.DELETE")
    await executor.refused(lambda: executor.js.purge_stream(COMMANDS_STREAM), "STREAM.PURGE")
    config = (await admin.js.stream_info(EVENTS_STREAM)).config
    for conn in (api, executor, projector, auditor):
        await conn.refused(lambda c=conn: c.js.update_stream(config), "STREAM.UPDATE")
    for conn in (dashboard, publisher, auditor, projector, api):
        await conn.refused_subscription(COMMAND_SUBJECTS)
    for conn in (publisher, auditor, projector, api, executor, dashboard):
        await conn.refused_subscription(EVENT_SUBJECTS)  # the writers' raw appends, refused ones too
    await executor.refused_publish(dashboard_subject(event_subject("job1", "job.succeeded")), forged)
    for conn in (dashboard, publisher):
        await conn.refused(lambda c=conn: c.js.stream_info(EVENTS_STREAM), "STREAM.INFO")
    await dashboard.refused_subscription("_INBOX.>")
    await dashboard.refused_subscription(f"{inbox_prefix('api')}.>")
    await api.refused_subscription(f"{inbox_prefix('executor')}.>")
    await api.refused(
        lambda: api.js.pull_subscribe(COMMAND_SUBJECTS, durable="stolen", stream=COMMANDS_STREAM),
        "CONSUMER",
    )
    await auditor.refused(lambda: auditor.js.get_last_msg(COMMANDS_STREAM, COMMAND_SUBJECTS), "COMMANDS")

    # --- nothing changed -------------------------------------------------------------------------
    assert await state(admin) == before
    await asyncio.sleep(0.2)
    assert len(live) == len(events)  # the dashboard never saw a forged event


def _kind(event: Any) -> str:
    from playledger_schemas.events import event_kind

    return event_kind(event)


async def _replay(conn: Conn) -> int:
    """Read the events stream from the start with an ordered consumer, as the readers do."""
    got: list[int] = []
    done = asyncio.Event()

    async def on_message(msg: Any) -> None:
        got.append(msg.metadata.sequence.stream)
        if msg.metadata.num_pending == 0:
            done.set()

    sub = await conn.js.subscribe(
        EVENT_SUBJECTS,
        stream=EVENTS_STREAM,
        cb=on_message,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    await asyncio.wait_for(done.wait(), 10)
    await sub.unsubscribe()
    return len(got)


async def test_the_notifier_reads_triggers_and_writes_only_delivery_events(
    connect: Callable[[Role], Awaitable[Conn]],
) -> None:
    from playledger_notifier.service import CONSUMER, consumer_config

    from playledger_api.bus import Bus
    from playledger_common.settings import NotifierSettings
    from playledger_schemas.subjects import WEBHOOKS_STREAM, webhook_subject
    from playledger_schemas.webhooks import WebhookDelivered

    admin = await connect("admin")
    await ensure_streams(admin.js, CommonSettings())
    executor = await connect("executor")
    events = job_events("hooked", runner_events=2)
    for event in events:
        subject = event_subject(event.job_id, _kind(event))
        await executor.js.publish(subject, encode(event), headers={"Nats-Msg-Id": str(uuid.uuid4())})

    notifier = await connect("notifier")
    settings = NotifierSettings(database_url="postgresql://unused")
    await notifier.js.add_consumer(EVENTS_STREAM, consumer_config(settings))
    triggers = await (await notifier.js.pull_subscribe_bind(CONSUMER, stream=EVENTS_STREAM)).fetch(
        10, timeout=5
    )
    assert [m.subject.rsplit(".", 2)[-2:] for m in triggers] == [["job", "started"], ["job", "succeeded"]]
    for msg in triggers:
        await msg.ack()
    delivered = WebhookDelivered(
        event_id=uuid.uuid4(),
        job_id="hooked",
        delivery_id="2-callback",
        trigger="job.started",
        trigger_seq=2,
        target="callback",
        url="https://ci.example/hook",
        attempt=1,
        time=datetime.now(UTC),
        status_code=200,
        duration_ms=3,
    )
    subject = webhook_subject("hooked", "2-callback")
    assert (await notifier.js.publish(subject, encode(delivered), stream=WEBHOOKS_STREAM)).seq == 1
    assert (await notifier.js.get_last_msg(WEBHOOKS_STREAM, subject)).seq == 1
    api = await connect("api")
    assert await Bus(api.nc, api.js).webhook_history("hooked") == [delivered]

    forged = encode(events[-1])
    await notifier.refused_publish(event_subject("hooked", "job.succeeded"), forged)
    await notifier.refused_publish(cancel_subject("hooked"), forged)
    for conn in (api, executor):
        await conn.refused_publish(subject, encode(delivered))
    await notifier.refused(lambda: notifier.js.purge_stream(WEBHOOKS_STREAM), "STREAM.PURGE")
