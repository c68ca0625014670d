"""Ordered consumers on the events stream: where they start and how they are made, written once.

Every reader that follows the events stream in order (the projector, SSE clients and feeds,
``playledger replay``) uses an ordered push consumer: ephemeral, no acks, flow control, and
recreated by nats-py from the last sequence on a gap. What each does with the messages
differs on purpose (the projector's buffer holds the server back when full; an SSE client's
drops its consumer and catches up later; replay prints), so only the consumer is shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_schemas.subjects import EVENTS_STREAM


def after(position: int) -> ConsumerConfig:
    """Deliver from the stream sequence right after ``position`` (0: from the first message)."""
    if position > 0:
        return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=position + 1)
    return ConsumerConfig(deliver_policy=DeliverPolicy.ALL)


async def follow(
    js: JetStreamContext,
    subject: str,
    callback: Callable[[Msg], Awaitable[None]],
    *,
    config: ConsumerConfig,
    idle_heartbeat_s: float | None = None,
) -> JetStreamContext.PushSubscription:
    """An ordered push consumer on the events stream's ``subject``, starting where ``config`` says."""
    return await js.subscribe(
        subject,
        stream=EVENTS_STREAM,
        cb=callback,
        ordered_consumer=True,
        idle_heartbeat=idle_heartbeat_s,
        config=config,
    )
