"""The durable consumers on the commands stream, created if missing (never changed)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Final

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from playledger_common.settings import ExecutorSettings
from playledger_schemas.ids import PRIORITIES, Priority
from playledger_schemas.subjects import COMMAND_SUBJECTS, COMMANDS_STREAM, submit_filter

log: Final = logging.getLogger(__name__)

INTAKE: Final = "intake"
INTAKE_ACK_WAIT_S: Final = 30.0
MAX_ACK_PENDING: Final = 100_000


def run_consumer(priority: Priority) -> str:
    return f"run-{priority}"


def consumer_configs(settings: ExecutorSettings) -> list[ConsumerConfig]:
    def config(name: str, subject: str, ack_wait: float) -> ConsumerConfig:
        return ConsumerConfig(
            name=name,
            durable_name=name,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait,
            max_ack_pending=MAX_ACK_PENDING,
        )

    return [
        config(INTAKE, COMMAND_SUBJECTS, INTAKE_ACK_WAIT_S),
        *(config(run_consumer(p), submit_filter(p), settings.ack_wait_s) for p in PRIORITIES),
    ]


async def ensure_consumers(js: JetStreamContext, settings: ExecutorSettings) -> None:
    for config in consumer_configs(settings):
        assert config.durable_name is not None  # noqa: S101 - set above
        try:
            await js.consumer_info(COMMANDS_STREAM, config.durable_name)
        except NotFoundError:
            await js.add_consumer(COMMANDS_STREAM, config)
            log.info("created consumer %s", config.durable_name)


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


async def keep_in_progress(delivery: Callable[[], Msg], ack_wait: float) -> None:
    """Reset the ack timer of the newest delivery while the job runs, so it is not redelivered.

    During a NATS outage longer than ``ack_wait`` the server redelivers anyway; the dispatcher
    recognises that redelivery (``decide.Adopt``) and ``delivery()`` then returns it."""
    while True:
        await asyncio.sleep(ack_wait / 3)
        try:
            await delivery().in_progress()
        except Exception:  # noqa: BLE001 - a lost heartbeat is retried on the next tick
            log.warning("in-progress for %s failed", delivery().subject)
