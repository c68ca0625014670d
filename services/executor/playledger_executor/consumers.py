"""Reading the durable consumers on the commands stream (declared in ``playledger_common.consumers``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from playledger_common import consumers as durable
from playledger_common.settings import ExecutorSettings
from playledger_schemas.ids import PRIORITIES, Priority
from playledger_schemas.subjects import COMMANDS_STREAM

log: Final = logging.getLogger(__name__)


async def ensure_consumers(js: JetStreamContext, settings: ExecutorSettings) -> None:
    """Create the durable consumers this executor reads (declared in ``playledger_common.consumers``)."""
    for report in await durable.ensure_consumers(js, settings.ack_wait_s):
        if report.created:
            log.info("created consumer %s", report.stream)
        for drift in report.drift:
            log.warning("consumer drift (not changed): %s", drift)


QUEUE_INFO_S: Final = 2.0
"""Most time a scrape waits for one run consumer's info."""


async def queue_depths(js: JetStreamContext) -> dict[Priority, int]:
    """Submits waiting per priority: each run consumer's ``num_pending`` (not yet delivered)."""
    depths: dict[Priority, int] = {}
    for priority in PRIORITIES:
        info = await js.consumer_info(COMMANDS_STREAM, durable.run_consumer(priority), timeout=QUEUE_INFO_S)
        depths[priority] = int(info.num_pending or 0)
    return depths


RETRY_DELAY_S: Final = 1.0


async def pull_batches(
    js: JetStreamContext,
    stream: str,
    consumer: str,
    stopping: asyncio.Event,
    handle_batch: Callable[[list[Msg]], Awaitable[None]],
    *,
    batch: int,
) -> None:
    """Fetch batches from a durable pull consumer and hand each to ``handle_batch`` until
    ``stopping``; a failed fetch (a disconnect, a missing consumer) is logged and retried."""
    sub = await js.pull_subscribe_bind(consumer, stream=stream)
    try:
        while not stopping.is_set():
            try:
                msgs = await sub.fetch(batch=batch, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception:  # a disconnect must not end the loop: log, wait, go on
                log.exception("fetch from %s/%s failed; retrying", stream, consumer)
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            await handle_batch(msgs)
    finally:
        await sub.unsubscribe()


class PullOne:
    """Take at most one message from a pull consumer without waiting (``no_wait``).

    nats-py's ``fetch(1)`` leaves a lingering pull request behind; a message that arrives
    after its timeout would wait in a local queue with its ack timer running. Here every
    request gets an immediate answer: one message or a "no messages" status.
    """

    def __init__(self, nc: Client, stream: str, consumer: str) -> None:
        self.nc = nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = nc.new_inbox()
        self.sub: Subscription | None = None

    async def start(self) -> PullOne:
        self.sub = await self.nc.subscribe(self.inbox)
        return self

    async def next(self, wait_s: float = 2.0) -> Msg | None:
        assert self.sub is not None  # noqa: S101 - start() first
        request = json.dumps({"batch": 1, "no_wait": True}).encode()
        await self.nc.publish(self.next_subject, request, reply=self.inbox)
        try:
            msg = await self.sub.next_msg(timeout=wait_s)
        except (TimeoutError, nats.errors.TimeoutError):
            return None
        if msg.headers and msg.headers.get("Status"):
            return None  # 404 no messages, 408/409: nothing for us now
        return msg

    async def close(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()


async def keep_in_progress(msg: Msg, ack_wait: float) -> None:
    """Reset the ack timer while the job runs, so the command is not redelivered.

    During a NATS outage longer than ``ack_wait`` the server redelivers anyway; the dispatcher
    recognises that redelivery (``decide.Adopt``) and holds it in progress too."""
    while True:
        await asyncio.sleep(ack_wait / 3)
        try:
            await msg.in_progress()
        except Exception:  # noqa: BLE001 - a lost heartbeat is retried on the next tick
            log.warning("in-progress for %s failed", msg.subject)
